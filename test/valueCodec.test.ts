// The value codec alone (no worker): what a user's odd values do on the way out, and what a
// worker's result cannot do to the objects it becomes. Their round trips through real workers
// are in arrays.test.ts and badArguments.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentProblem, decodeValue, encodeArguments } from '../src/wire/codec.js';

const LIMITS = { maxBytes: 1 << 20, maxDepth: 100 };

test('an array whose shape has a hole is refused, not sent as invalid JSON', () => {
  // eslint-disable-next-line no-sparse-arrays
  const shape = [, 4];
  assert.throws(() => encodeArguments({ x: { dtype: 'float32', shape, data: new Float32Array(4) } }, LIMITS), (error) => {
    assert.ok(error instanceof ArgumentProblem);
    assert.match(error.message, /shape is not a list/);
    return true;
  });
});

test("an array's fields are each read once, so a getter cannot change them between check and sending", () => {
  const reads = { dtype: 0, shape: 0, data: 0 };
  const value = {
    get dtype() {
      return reads.dtype++ === 0 ? 'float32' : 'nope';
    },
    get shape() {
      return reads.shape++ === 0 ? [2, 2] : [1_000_000];
    },
    get data() {
      return reads.data++ === 0 ? new Float32Array(4) : new Float32Array(1);
    },
  };
  const wire = encodeArguments({ x: value }, LIMITS);
  assert.deepEqual(reads, { dtype: 1, shape: 1, data: 1 });
  assert.match(wire.json.toString(), /"dtype":"float32","shape":\[2,2\]/);
  assert.equal(wire.blobs?.[0]?.length, 16);
});

test('a "__proto__" key in a result stays a key, also when it holds bytes or sits beside an escaped key', () => {
  for (const text of ['{"__proto__":{"$bytes":0}}', '{"__proto__":{"$bytes":0},"$$bytes":1}']) {
    const value = decodeValue({ json: Buffer.from(text), blobs: [Buffer.from('hi')] }) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(value), Object.prototype, text);
    assert.deepEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, Buffer.from('hi'), text);
  }
});

test('an empty array and a 0-d array from a worker arrive with their shapes', () => {
  const empty = decodeValue({ json: Buffer.from('{"$bytes":0,"dtype":"float32","shape":[0,3]}'), blobs: [Buffer.alloc(0)] });
  assert.deepEqual(empty, { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) });
  const scalar = decodeValue({ json: Buffer.from('{"$bytes":0,"dtype":"float64","shape":[]}'), blobs: [Buffer.from(new Float64Array([2.5]).buffer)] });
  assert.deepEqual(scalar, { dtype: 'float64', shape: [], data: new Float64Array([2.5]) });
});
