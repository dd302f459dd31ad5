// NumPy arrays and big ints across the boundary: arrays as raw data (typed arrays in Node,
// NumPy arrays in Python), Python ints beyond 2^53 as BigInt — on both profiles.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { NdArray } from '../src/index.js';
import { checkNoLeaks, startPit } from './helpers.js';

checkNoLeaks();

const PROFILES = [
  { profile: 'process', pool: { adapter: 'array_adapters.Arrays' } },
  { profile: 'thread', pool: { adapter: 'array_adapters.ThreadedArrays', workerProfile: 'thread' as const, threadsPerWorker: 2 } },
];

for (const { profile, pool } of PROFILES) {
  describe(`${profile} profile`, () => {
    test('a 1000×10 float32 array comes back as {dtype, shape, data} and returns exactly', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, ...pool }] });
      const matrix = (await pit.execute('random_matrix', { rows: 1000, cols: 10, seed: 7 })) as NdArray;
      assert.equal(matrix.dtype, 'float32');
      assert.deepEqual(matrix.shape, [1000, 10]);
      assert.ok(matrix.data instanceof Float32Array && matrix.data.length === 10_000);
      assert.ok(matrix.data.every((x) => x >= 0 && x < 1));
      assert.equal(await pit.execute('matches_stored', { data: matrix.data, shape: matrix.shape }), true);
    });

    test('typed arrays arrive as 1-D NumPy arrays of their dtype; every NumPy dtype maps back', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, ...pool }] });
      const cases: [ArrayBufferView, string][] = [
        [new Float32Array([1.5, 2]), 'float32'],
        [new Float64Array([1.5, 2]), 'float64'],
        [new Int8Array([-1, 2]), 'int8'],
        [new Int16Array([-1, 2]), 'int16'],
        [new Int32Array([-1, 2]), 'int32'],
        [new BigInt64Array([-1n, 2n]), 'int64'],
        [new Uint16Array([1, 2]), 'uint16'],
        [new Uint32Array([1, 2]), 'uint32'],
        [new BigUint64Array([1n, 2n]), 'uint64'],
        [new Uint8ClampedArray([1, 2]), 'uint8'],
        [new Float64Array(new ArrayBuffer(40), 8, 2).fill(3), 'float64'], // a view into a larger buffer
      ];
      for (const [array, dtype] of cases) {
        const seen = (await pit.execute('describe', { a: array })) as Record<string, unknown>;
        assert.deepEqual(seen.type, 'ndarray', dtype);
        assert.equal(seen.dtype, dtype);
        assert.deepEqual(seen.shape, [2]);
      }
      assert.deepEqual(await pit.execute('describe', { a: new Uint8Array([1]) }), { type: 'bytes' }, 'Uint8Array stays bytes');
      const all = (await pit.execute('every_dtype')) as Record<string, NdArray | string[]>;
      const expected: Record<string, Function> = {
        float32: Float32Array, float64: Float64Array, int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
        uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array, bool: Uint8Array,
      };
      for (const [dtype, type] of Object.entries(expected)) {
        const array = all[dtype] as NdArray;
        assert.equal(array.dtype, dtype);
        assert.ok(array.data instanceof type, `${dtype} is a ${type.name}`);
        assert.deepEqual([...array.data].map(Number), dtype === 'bool' ? [0, 1, 1] : [0, 1, 2]);
      }
      assert.equal((all.half as NdArray).dtype, 'float32', 'float16 travels as float32');
      assert.deepEqual(all.words, ['a', 'b'], 'dtypes without a typed array stay lists');
    });

    test('a 4×3×2 Float32Array sent as { dtype, shape, data } arrives as a writable ndarray, and a returned array goes back as it came', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, ...pool }] });
      const data = Float32Array.from({ length: 24 }, (_, i) => i - 11.5);
      const seen = (await pit.execute('double_in_place', { x: { dtype: 'float32', shape: [4, 3, 2], data } })) as Record<string, unknown>;
      assert.deepEqual({ ...seen, array: undefined }, { type: 'ndarray', dtype: 'float32', shape: [4, 3, 2], writeable: true, array: undefined });
      const doubled = seen.array as NdArray;
      assert.equal(doubled.dtype, 'float32');
      assert.deepEqual(doubled.shape, [4, 3, 2]);
      assert.deepEqual([...doubled.data], [...data].map((x) => x * 2));
      assert.deepEqual([...data], Array.from({ length: 24 }, (_, i) => i - 11.5), 'Python wrote into its own copy, never the caller\'s memory');
      assert.equal(await pit.execute('same_as_doubled', { x: doubled }), true, 'the returned array, sent back, arrives equal');
      // Over 1 MiB the arguments arrive in parts: the array is their buffer, writable without a copy.
      const big = new Int16Array(64 * 128 * 80).map((_, i) => (i % 1000) - 500);
      const bigSeen = (await pit.execute('double_in_place', { x: { dtype: 'int16', shape: [64, 128, 80], data: big } })) as Record<string, unknown>;
      assert.equal(bigSeen.writeable, true);
      assert.deepEqual((bigSeen.array as NdArray).shape, [64, 128, 80]);
      assert.ok((bigSeen.array as NdArray).data.every((x, i) => x === big[i] * 2));
      assert.equal(await pit.execute('same_as_doubled', { x: bigSeen.array }), true);
      // The arguments object itself is keyword arguments, even with these three names.
      assert.deepEqual(await pit.execute('keywords', { dtype: 'float32', shape: [2], data: new Float32Array(2) }), { dtype: 'float32', shape: [2], data: 'ndarray' });
    });

    test('empty and 0-d arrays go both ways in their shapes; a "__proto__" key holding bytes comes back a key', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, ...pool }] });
      const empty = { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) };
      const scalar = { dtype: 'float64', shape: [], data: new Float64Array([2.5]) };
      assert.deepEqual(await pit.execute('describe', { a: empty }), { type: 'ndarray', dtype: 'float32', shape: [0, 3], sum: 0 });
      assert.deepEqual(await pit.execute('describe', { a: scalar }), { type: 'ndarray', dtype: 'float64', shape: [], sum: 2.5 });
      assert.deepEqual(await pit.execute('echo', { empty, scalar }), { empty, scalar });
      const args = Object.defineProperty({}, '__proto__', { value: Buffer.from('hi'), enumerable: true });
      const back = (await pit.execute('echo', args)) as Record<string, unknown>;
      assert.equal(Object.getPrototypeOf(back), Object.prototype);
      assert.deepEqual(Object.getOwnPropertyDescriptor(back, '__proto__')?.value, Buffer.from('hi'));
    });

    test('a 50 MiB Float64Array round-trips exactly', async (t) => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, ...pool }] });
      const values = new Float64Array((50 * 1024 * 1024) / 8);
      for (let i = 0; i < values.length; i++) values[i] = Math.sin(i) * 1e6;
      const t0 = performance.now();
      const back = ((await pit.execute('echo', { values })) as { values: NdArray }).values;
      const ms = performance.now() - t0;
      assert.equal(back.dtype, 'float64');
      assert.deepEqual(back.shape, [values.length]);
      assert.ok(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength).equals(Buffer.from(values.buffer)));
      t.diagnostic(`50 MiB Float64Array round trip (${profile}): ${ms.toFixed(0)} ms`);
    });

    test('Python ints beyond 2^53 arrive as BigInt, and BigInt goes back as an exact int', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, ...pool }] });
      assert.deepEqual(await pit.execute('big_ints'), {
        big: 2n ** 70n, negative: -(2n ** 60n), edge: 2 ** 53 - 1, over: 2n ** 53n, numpy: 2n ** 62n, nested: [{ n: 2n ** 64n }], small: 7,
      });
      assert.equal(await pit.execute('add_one', { n: 2n ** 70n }), 2n ** 70n + 1n);
      assert.equal(await pit.execute('add_one', { n: 41n }), 42, 'a small result is a number again');
    });
  });
}
