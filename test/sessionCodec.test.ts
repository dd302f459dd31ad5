// The hand-written Session codec must agree with proto/snakepit.proto as a reflection codec reads it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { decodeServerFrame, encodeClientFrame } from '../src/sessionCodec.js';

const protoFile = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'proto', 'snakepit.proto');
const session = (protoLoader.loadSync(protoFile, { keepCase: true, longs: Number, defaults: true, oneofs: true }) as any)[
  'snakepit.v1.Worker'
].Session;

test('ClientFrame encoding reads back identically through the .proto definition', () => {
  const frame = {
    calls: [
      { id: 1, tool: 'add', args: { json: Buffer.from('{"a":1,"b":2}'), blobs: [] }, stream: false },
      { id: 2 ** 40 + 3, tool: 'ünï', args: { json: Buffer.from('{"b":{"$bytes":0}}'), blobs: [Buffer.from([0, 255]), Buffer.alloc(300, 7)] }, stream: true },
      { id: 300, tool: 't', args: { json: Buffer.alloc(0), blobs: [] }, stream: false },
    ],
    cancels: [5, 2 ** 33, 127, 128],
  };
  const decoded = session.requestDeserialize(encodeClientFrame(frame));
  assert.deepEqual(decoded.cancels, frame.cancels);
  assert.equal(decoded.calls.length, 3);
  frame.calls.forEach((call, i) => {
    assert.equal(decoded.calls[i].id, call.id);
    assert.equal(decoded.calls[i].tool, call.tool);
    assert.equal(decoded.calls[i].stream, call.stream);
    assert.deepEqual(decoded.calls[i].args.json, call.args.json);
    assert.deepEqual(decoded.calls[i].args.blobs, call.args.blobs);
  });
});

test('ServerFrame decoding reads what the .proto definition writes', () => {
  const bytes = session.responseSerialize({
    replies: [
      { id: 1, result: { json: Buffer.from('3'), blobs: [] } },
      { id: 2 ** 35, chunk: { json: Buffer.from('{"$bytes":0}'), blobs: [Buffer.from('xyz')] } },
      { id: 3, error: { code: 'PYTHON_ERROR', type: 'ValueError', message: 'bad ✗', traceback: 'Traceback…' } },
      { id: 4, end: true },
    ],
  });
  const [result, chunk, error, end] = decodeServerFrame(bytes);
  assert.deepEqual([result.id, result.outcome, result.value!.json.toString()], [1, 'result', '3']);
  assert.deepEqual([chunk.id, chunk.outcome, chunk.value!.blobs[0].toString()], [2 ** 35, 'chunk', 'xyz']);
  assert.deepEqual(error.error, { code: 'PYTHON_ERROR', type: 'ValueError', message: 'bad ✗', traceback: 'Traceback…' });
  assert.deepEqual([end.id, end.outcome], [4, 'end']);
});
