// The hand-written Session codec must agree with proto/snakepit.proto as a reflection codec reads it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { decodeServerFrame, encodeClientFrame, encodePartFrame, FrameDecodeError, valuePieces } from '../src/wire/sessionCodec.js';
import { checkNoLeaks } from './helpers.js';

const protoFile = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'proto', 'snakepit.proto');
const session = (protoLoader.loadSync(protoFile, { keepCase: true, longs: Number, defaults: true, oneofs: true }) as any)[
  'snakepit.v1.Worker'
].Session;

test('ClientFrame encoding reads back identically through the .proto definition', () => {
  const frame = {
    calls: [
      { id: 1, tool: 'add', args: { json: Buffer.from('{"a":1,"b":2}'), blobs: [] }, argsSize: 0, stream: false },
      { id: 2 ** 40 + 3, tool: 'ünï', args: { json: Buffer.from('{"b":{"$bytes":0}}'), blobs: [Buffer.from([0, 255]), Buffer.alloc(300, 7)] }, argsSize: 0, stream: true },
      { id: 300, tool: 't', args: { json: Buffer.alloc(0), blobs: [] }, argsSize: 0, stream: false },
    ],
    cancels: [5, 2 ** 33, 127, 128],
    parts: [],
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

test('a large call travels as a Call with args_size, then ArgsParts that reassemble to its Value', () => {
  const value = { json: Buffer.from('{"blob":{"$bytes":0}}'), blobs: [Buffer.alloc(70_000, 9)] };
  const whole = Buffer.concat(valuePieces(value));
  const parts = [whole.subarray(0, 1000), whole.subarray(1000)].map((data) => ({ id: 2 ** 33, data }));
  const decoded = session.requestDeserialize(
    encodeClientFrame({ calls: [{ id: 2 ** 33, tool: 'big', args: undefined, argsSize: whole.length, stream: false }], cancels: [], parts }),
  );
  assert.equal(decoded.calls[0].args_size, whole.length);
  assert.equal(decoded.calls[0].args, null);
  assert.deepEqual(decoded.parts.map((p: any) => p.id), [2 ** 33, 2 ** 33]);
  assert.ok(Buffer.concat(decoded.parts.map((p: any) => p.data)).equals(whole));
  // The pieces are exactly the Value as the reflection codec writes it.
  const viaProto = session.requestSerialize({ calls: [{ id: 1, tool: 'x', args: value }] });
  assert.ok(viaProto.includes(whole));
});

test('a truncated frame from the worker is an error, never a hang', () => {
  assert.throws(() => decodeServerFrame(Buffer.from([0x0a, 0x02, 0x08, 0x80])), /truncated varint \(at byte 3 of 4\)/);
  assert.throws(() => decodeServerFrame(Buffer.from([0x0a, 0x09, 0x08, 0x01])), /truncated field: its length, 9 bytes, runs past the end/);
  assert.throws(() => decodeServerFrame(Buffer.from([0x0a, 0x03, 0x08, 0x01, 0x49])), /truncated 64-bit field/);
});

test('a reply without an outcome is an error, not a null result', () => {
  assert.throws(() => decodeServerFrame(Buffer.from([0x0a, 0x02, 0x08, 0x05])), { name: 'FrameDecodeError', message: /reply 5 has no outcome/ });
  assert.throws(() => decodeServerFrame(Buffer.from([0x0a, 0x00])), /reply 0 has no outcome/);
});

test('varints over 10 bytes, numbers past 2^53, field 0 and wrong or unknown wire types are errors', () => {
  const bad: [number[], RegExp][] = [
    [[0x0a, 0x0c, 0x08, ...Array(10).fill(0x81), 0x01], /a varint longer than 10 bytes/],
    [[0x0a, 0x09, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10], /a number above 2\^53/],
    [[0x02, 0x00], /field number 0/],
    [[0x0d, 0x00, 0x00, 0x00, 0x00], /ServerFrame\.replies has wire type 5, expected 2 \(at byte 0 of 5\)/],
    [[0x0a, 0x03, 0x0a, 0x01, 0x00], /Reply\.id has wire type 2, expected 0/],
    [[0x0a, 0x04, 0x12, 0x02, 0x08, 0x01], /Value\.json has wire type 0, expected 2/],
    [[0x4b, 0x0c], /unsupported protobuf wire type 3 \(at byte 1 of 2\)/],
  ];
  for (const [bytes, message] of bad) {
    assert.throws(() => decodeServerFrame(Buffer.from(bytes)), (error: Error) => error instanceof FrameDecodeError && message.test(error.message));
  }
});

test('unknown fields of every wire type are skipped at every level, as a newer bridge may send them', () => {
  const unknown = [0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x51, ...Array(8).fill(7), 0x5a, 0x01, 0x09, 0x65, 0, 0, 0, 0];
  const value = [0x0a, 0x01, 0x33, ...unknown];
  const reply = [0x08, 0x07, ...unknown, 0x12, value.length, ...value];
  const [decoded, ...rest] = decodeServerFrame(Buffer.from([...unknown, 0x0a, reply.length, ...reply, ...unknown]));
  assert.equal(rest.length, 0);
  assert.deepEqual([decoded.id, decoded.outcome, decoded.value!.json.toString(), decoded.value!.blobs], [7, 'result', '3', []]);
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

test('the local lane\'s fields: pings and the token out, pongs in, as the .proto definition reads and writes them', () => {
  const token = Buffer.from('s3cr3t-token');
  const decoded = session.requestDeserialize(encodeClientFrame({ calls: [], cancels: [], parts: [], pings: [1, 2 ** 40, 128], token }));
  assert.deepEqual(decoded.pings, [1, 2 ** 40, 128]);
  assert.deepEqual(decoded.token, token);

  const bytes = session.responseSerialize({
    replies: [{ id: 9, end: true }],
    pongs: [{ seq: 2 ** 40, pid: 4_000_000, in_flight: 3, gil_enabled: true }, { seq: 1, pid: 7, in_flight: 0, gil_enabled: false }],
  });
  const pongs: unknown[] = [];
  const replies = decodeServerFrame(bytes, pongs as never);
  assert.deepEqual(pongs, [{ seq: 2 ** 40, pid: 4_000_000, in_flight: 3, gil_enabled: true }, { seq: 1, pid: 7, in_flight: 0, gil_enabled: false }]);
  assert.deepEqual(replies.map((r) => [r.id, r.outcome]), [[9, 'end']]);
  assert.equal(decodeServerFrame(bytes).length, 1, 'without a pong sink, pongs are passed over');
});

checkNoLeaks();

test('call context fields, stream credits, host replies, progress and host calls agree with the .proto definition', () => {
  const decoded = session.requestDeserialize(
    encodeClientFrame({
      calls: [
        { id: 9, tool: 'ctx', args: { json: Buffer.from('{}'), blobs: [] }, argsSize: 0, stream: true, timeoutMs: 2 ** 31 - 1, sessionId: 'chat ✓', window: 64 },
        { id: 10, tool: 'plain', args: { json: Buffer.from('{}'), blobs: [] }, argsSize: 0, stream: false },
      ],
      cancels: [],
      parts: [],
      hostReplies: [
        { id: 2 ** 35, result: { json: Buffer.from('{"v":{"$bytes":0}}'), blobs: [Buffer.from([1, 2])] } },
        { id: 3, error: { code: 'NODE_ERROR', type: 'RangeError', message: 'bad ✗', traceback: 'at x' } },
      ],
      credits: [{ id: 9, chunks: 32 }, { id: 2 ** 40, chunks: 1 }],
    }),
  );
  assert.deepEqual(decoded.credits.map((c: any) => [c.id, c.chunks]), [[9, 32], [2 ** 40, 1]]);
  assert.equal(decoded.calls[0].window, 64);
  assert.equal(decoded.calls[1].window, 0);
  assert.equal(decoded.calls[0].timeout_ms, 2 ** 31 - 1);
  assert.equal(decoded.calls[0].session_id, 'chat ✓');
  assert.equal(decoded.calls[1].timeout_ms, 0);
  assert.equal(decoded.calls[1].session_id, '');
  const [ok, failed] = decoded.host_replies;
  assert.equal(ok.id, 2 ** 35);
  assert.deepEqual([ok.result.json, ok.result.blobs], [Buffer.from('{"v":{"$bytes":0}}'), [Buffer.from([1, 2])]]);
  assert.equal(failed.id, 3);
  assert.deepEqual(
    { code: failed.error.code, type: failed.error.type, message: failed.error.message, traceback: failed.error.traceback },
    { code: 'NODE_ERROR', type: 'RangeError', message: 'bad ✗', traceback: 'at x' },
  );

  const frame = session.responseSerialize({
    replies: [{ id: 4, progress: { json: Buffer.from('{"done":1}') } }],
    host_calls: [{ id: 2 ** 34, call_id: 4, name: 'lookup ✓', args: { json: Buffer.from('{"k":1}'), blobs: [Buffer.from([9])] } }],
  });
  const hostCalls: any[] = [];
  const replies = decodeServerFrame(frame, undefined, hostCalls);
  assert.deepEqual(replies.map((r) => [r.id, r.outcome, r.value?.json.toString()]), [[4, 'progress', '{"done":1}']]);
  assert.deepEqual(hostCalls.map((c) => [c.id, c.callId, c.name, c.args.json.toString(), c.args.blobs]), [[2 ** 34, 4, 'lookup ✓', '{"k":1}', [Buffer.from([9])]]]);
});

test('every ClientFrame field is written byte for byte as the reflection codec writes it', () => {
  // The reflection codec writes a field it is given even at its default, so only set fields are given.
  const json = Buffer.from('{"a":{"$bytes":0}}');
  const ours = encodeClientFrame({
    calls: [
      { id: 9, tool: 'ctx ✓', args: { json, blobs: [Buffer.from([1, 2]), Buffer.alloc(0)] }, argsSize: 0, stream: true, timeoutMs: 2 ** 31 - 1, sessionId: 'chat', window: 64 },
      { id: 2 ** 40, tool: 'big', args: undefined, argsSize: 70_000, stream: false },
    ],
    cancels: [5, 2 ** 33],
    parts: [{ id: 2 ** 40, data: Buffer.from('abc') }],
    pings: [1, 300],
    token: Buffer.from('token'),
    hostReplies: [{ id: 3, result: { json, blobs: [Buffer.from([7])] } }, { id: 4, error: { code: 'NODE_ERROR', type: '', message: 'bad ✗', traceback: 'at x' } }],
    credits: [{ id: 9, chunks: 32 }],
    reclaims: [7, 2 ** 35],
  });
  const theirs = session.requestSerialize({
    calls: [
      { id: 9, tool: 'ctx ✓', args: { json, blobs: [Buffer.from([1, 2]), Buffer.alloc(0)] }, stream: true, timeout_ms: 2 ** 31 - 1, session_id: 'chat', window: 64 },
      { id: 2 ** 40, tool: 'big', args_size: 70_000 },
    ],
    cancels: [5, 2 ** 33],
    parts: [{ id: 2 ** 40, data: Buffer.from('abc') }],
    pings: [1, 300],
    token: Buffer.from('token'),
    host_replies: [{ id: 3, result: { json, blobs: [Buffer.from([7])] } }, { id: 4, error: { code: 'NODE_ERROR', message: 'bad ✗', traceback: 'at x' } }],
    credits: [{ id: 9, chunks: 32 }],
    reclaims: [7, 2 ** 35],
  });
  assert.equal(ours.toString('hex'), theirs.toString('hex'));
  const part = Buffer.concat(encodePartFrame(2 ** 33, [Buffer.from('ab'), Buffer.alloc(200, 1)]));
  assert.equal(part.toString('hex'), session.requestSerialize({ parts: [{ id: 2 ** 33, data: Buffer.concat([Buffer.from('ab'), Buffer.alloc(200, 1)]) }] }).toString('hex'));
});

test("a bridge server's pong fields and its draining flag read as the .proto definition writes them", () => {
  const bytes = session.responseSerialize({
    pongs: [{ seq: 3, pid: 77, in_flight: 2, gil_enabled: false, capacity: 16, draining: true }],
    draining: true,
  });
  const pongs: unknown[] = [];
  const flags = { draining: false };
  assert.deepEqual(decodeServerFrame(bytes, pongs as never, undefined, flags), []);
  assert.deepEqual(pongs, [{ seq: 3, pid: 77, in_flight: 2, gil_enabled: false, capacity: 16, draining: true }]);
  assert.equal(flags.draining, true);
});
