// The smoke suite of every supported Python: real workers on one interpreter, both profiles —
// a stream, a ctx.call, a cancel, a Buffer of several MiB sent in parts, typed arrays and
// { dtype, shape, data } arrays (NumPy where it imports) and a kill -9 with its restart. Not in test/*.test.ts: scripts/test-pythons.mjs
// (`npm run test:pythons`) runs it once per interpreter, with SNAKEPIT_PYTHON set to it and
// SNAKEPIT_SMOKE_NUMPY=1 or 0 saying whether it has NumPy.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readlinkSync, realpathSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { NdArray, Snakepit } from '../../src/index.js';
import { asError, checkNoLeaks, errorOf, sleep, startMarker, startPit, waitFor } from '../helpers.js';

checkNoLeaks();

const MB = 1024 * 1024;
const PROFILES = [
  { profile: 'process', pool: { adapter: 'smoke_adapters.Smoke' } },
  { profile: 'thread', pool: { adapter: 'smoke_adapters.ThreadedSmoke', workerProfile: 'thread' as const, threadsPerWorker: 2 } },
];
const expectNumpy = process.env.SNAKEPIT_SMOKE_NUMPY === undefined ? undefined : process.env.SNAKEPIT_SMOKE_NUMPY === '1';

/** Python's `pattern(size)`: 0..250 over and over. */
function pattern(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = i % 251;
  return out;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

for (const { profile, pool } of PROFILES) {
  describe(`${profile} profile`, () => {
    let pit: Snakepit;
    const workerPid = () => pit.inspect().pools[0].workers[0].pid!;
    before(async () => {
      pit = await startPit({ pools: [{ name: 'p', poolSize: 1, ...pool }] });
    });
    after(() => pit.stop());

    test('the worker runs on the interpreter under test', async () => {
      const info = (await pit.execute('interpreter')) as { version: string; gil: boolean; numpy: string | null };
      if (process.env.SNAKEPIT_PYTHON) {
        assert.equal(readlinkSync(`/proc/${workerPid()}/exe`), realpathSync(process.env.SNAKEPIT_PYTHON));
      }
      if (expectNumpy !== undefined) assert.equal(info.numpy !== null, expectNumpy, `NumPy on Python ${info.version}: ${info.numpy}`);
      assert.equal(pit.inspect().pools[0].workers[0].gilEnabled, info.gil);
    });

    test('a stream yields every chunk in order', async () => {
      const chunks: unknown[] = [];
      for await (const chunk of pit.stream('count', { n: 5 })) chunks.push(chunk);
      assert.deepEqual(chunks, [0, 1, 2, 3, 4].map((i) => ({ i, square: i * i })));
    });

    test('ctx.call runs a function Node exposed, and its error comes back to Python', async () => {
      pit.expose('add', ({ a, b }) => (a as number) + (b as number));
      pit.expose('refuse', () => {
        throw new RangeError('no such thing');
      });
      assert.equal(await pit.execute('ask_node', { name: 'add', a: 2, b: 40 }), 42);
      const failed = await errorOf(pit.execute('ask_node', { name: 'refuse' }));
      assert.equal(failed.code, 'PYTHON_ERROR');
      assert.equal(failed.pythonType, 'NodeError');
      assert.match(failed.message, /no such thing/);
    });

    test('an AbortSignal cancels a running call, and the tool sees ctx.cancelled', async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const aborted = await errorOf(pit.execute('cooperative', { seconds: 10 }, { signal: controller.signal }));
      assert.equal(aborted.code, 'ABORTED');
      // A thread worker answers at once, while the aborted call may still be noticing.
      let seen: number[] = [];
      for (const until = Date.now() + 10_000; seen.length === 0 && Date.now() < until; await sleep(20)) seen = (await pit.execute('seen_cancels')) as number[];
      assert.equal(seen.length, 1, 'the tool saw the cancel');
      assert.ok(seen[0] < 5, `the tool saw the cancel after ${seen[0].toFixed(2)} s of 10`);
    });

    test('a Buffer of several MiB crosses in parts both ways, exactly', async () => {
      const payload = pattern(6 * MB + 123);
      assert.deepEqual(await pit.execute('digest', { blob: payload }), { size: payload.length, sha256: sha256(payload) });
      const back = (await pit.execute('pattern', { size: 5 * MB + 7 })) as Buffer;
      assert.ok(Buffer.isBuffer(back));
      assert.equal(sha256(back), sha256(pattern(5 * MB + 7)));
    });

    test('typed arrays arrive as NumPy arrays where NumPy imports, else as memoryviews', async () => {
      const info = (await pit.execute('interpreter')) as { numpy: string | null };
      const seen = (await pit.execute('arrays', { a: new Float32Array([1.5, -2, 3]) })) as Record<string, unknown>;
      if (info.numpy !== null) {
        assert.equal(seen.type, 'ndarray');
        assert.equal(seen.dtype, 'float32');
        const doubled = seen.doubled as NdArray;
        assert.ok(doubled.data instanceof Float32Array);
        assert.deepEqual([...doubled.data], [3, -4, 6]);
        assert.deepEqual(doubled.shape, [3]);
      } else {
        assert.deepEqual(seen, { type: 'memoryview', format: 'f', values: [1.5, -2, 3] });
      }
      const ints = (await pit.execute('arrays', { a: new BigInt64Array([-(2n ** 40n), 5n]) })) as Record<string, unknown>;
      if (info.numpy !== null) assert.deepEqual([...(ints.doubled as NdArray).data], [-(2n ** 41n), 10n]);
      else assert.deepEqual(ints, { type: 'memoryview', format: 'q', values: [-(2 ** 40), 5] });
    });

    test('{ dtype, shape, data } arrives writable in its shape (NumPy, else a memoryview), inline and in parts', async () => {
      const info = (await pit.execute('interpreter')) as { numpy: string | null };
      for (const shape of [[4, 3, 2], [32, 128, 80]]) {
        const size = shape[0] * shape[1] * shape[2]; // the second is 1.25 MiB: it arrives in parts
        const data = Float32Array.from({ length: size }, (_, i) => i % 1000);
        const expected = [-1, ...data.subarray(1)];
        const seen = (await pit.execute('cube', { x: { dtype: 'float32', shape, data } })) as Record<string, unknown>;
        assert.deepEqual(seen.shape, shape);
        if (info.numpy === null) {
          assert.equal(seen.format, 'f');
          assert.deepEqual((seen.values as number[][][]).flat(2), expected);
          continue;
        }
        const array = seen.array as NdArray;
        assert.deepEqual([seen.dtype, array.dtype, array.shape], ['float32', 'float32', shape]);
        assert.deepEqual([...array.data], expected);
        const again = (await pit.execute('cube', { x: array })) as Record<string, unknown>;
        assert.deepEqual([...(again.array as NdArray).data], expected, 'the returned array, sent back, arrives as it was');
      }
    });

    test('kill -9 mid-call: the call is WORKER_CRASHED and a new worker serves', async () => {
      const victim = workerPid();
      const marker = startMarker();
      const call = pit.execute('sleep', { seconds: 30, started: marker.file });
      await marker.started();
      process.kill(victim, 'SIGKILL');
      const error = await call.then(() => assert.fail('the call should fail'), asError);
      assert.equal(error.code, 'WORKER_CRASHED');
      assert.equal(error.signal, 'SIGKILL');
      const replacement = await waitFor(() => {
        const w = pit.inspect().pools[0].workers[0];
        return w.state === 'ready' && w.pid !== victim ? w.pid : undefined;
      }, 20_000, 'a replacement worker');
      assert.equal(await pit.execute('pid'), replacement);
    });
  });
}
