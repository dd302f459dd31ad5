// Fuzzing the decoder of what workers send (ServerFrame): random bytes, valid frames (written by
// the reflection codec from proto/snakepit.proto, not by us), and those frames truncated, with
// bytes flipped, with lengths that lie, with overlong varints and with wrong wire types. Every
// input must give a FrameDecodeError that says what was wrong and where, or well-formed replies;
// a valid frame must decode to exactly what was written.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { decodeServerFrame, FrameDecodeError, type ReplyMessage } from '../src/wire/sessionCodec.js';
import { checkNoLeaks } from './helpers.js';

const protoFile = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'proto', 'snakepit.proto');
const session = (protoLoader.loadSync(protoFile, { keepCase: true, longs: Number, defaults: true, oneofs: true }) as any)[
  'snakepit.v1.Worker'
].Session;

/** A small seeded generator (mulberry32), so a failure can be replayed with its seed. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const below = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => below(256)));
  return { next, below, bytes, pick: <T>(items: T[]) => items[below(items.length)] };
}
type Rng = ReturnType<typeof generator>;

const SEED = Number(process.env.SNAKEPIT_FUZZ_SEED ?? 8);
const TEXTS = ['', 'PYTHON_ERROR', 'ValueError', 'bad ✗ input', 'Traceback (most recent call last):\n  …', '\u{1F40D}'];

function validReply(rng: Rng): { wire: any; expected: ReplyMessage } {
  const id = rng.pick([rng.below(100), 1 + rng.below(2 ** 31), Number.MAX_SAFE_INTEGER - rng.below(1000)]);
  const kind = rng.pick(['result', 'chunk', 'error', 'end'] as const);
  if (kind === 'result' || kind === 'chunk') {
    const value = { json: rng.bytes(rng.below(24)), blobs: Array.from({ length: rng.below(3) }, () => rng.bytes(rng.below(40))) };
    return { wire: { id, [kind]: value }, expected: { id, outcome: kind, value, error: undefined } };
  }
  if (kind === 'error') {
    const error = { code: rng.pick(TEXTS), type: rng.pick(TEXTS), message: rng.pick(TEXTS), traceback: rng.pick(TEXTS) };
    return { wire: { id, error }, expected: { id, outcome: 'error', value: undefined, error } };
  }
  return { wire: { id, end: true }, expected: { id, outcome: 'end', value: undefined, error: undefined } };
}

function validFrame(rng: Rng): { bytes: Buffer; expected: ReplyMessage[] } {
  const replies = Array.from({ length: rng.below(5) }, () => validReply(rng));
  return { bytes: session.responseSerialize({ replies: replies.map((r) => r.wire) }), expected: replies.map((r) => r.expected) };
}

const varint = (n: number | bigint): number[] => {
  let v = BigInt(n);
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
};

/** Inputs that are not valid frames, built from a valid one. */
const mutations: Record<string, (frame: Buffer, rng: Rng) => Buffer> = {
  random: (_frame, rng) => rng.bytes(rng.below(64)),
  truncated: (frame, rng) => frame.subarray(0, frame.length ? rng.below(frame.length) : 0),
  flipped: (frame, rng) => {
    const out = Buffer.from(frame.length ? frame : [0]);
    for (let i = 1 + rng.below(3); i > 0; i--) out[rng.below(out.length)] = rng.below(256);
    return out;
  },
  oversized: (frame, rng) => {
    const at = rng.below(frame.length + 1);
    const length = rng.pick([frame.length - at + 1, 2 ** 31, 2 ** 53, 2n ** 63n, 2n ** 64n - 1n]);
    return Buffer.concat([frame.subarray(0, at), Buffer.from([rng.pick([0x0a, 0x12, 0x1a, 0x22]), ...varint(length)]), frame.subarray(at)]);
  },
  longVarint: (frame, rng) => {
    const at = rng.below(frame.length + 1);
    const run = Array.from({ length: 10 + rng.below(6) }, () => 0x80 | rng.below(128));
    return Buffer.concat([frame.subarray(0, at), Buffer.from([rng.pick([0x08, 0x0a, 0x28]), ...run, rng.below(128)]), frame.subarray(at)]);
  },
  wrongWireType: (frame, rng) => {
    const out = Buffer.from(frame.length ? frame : [0x0a, 0x00]);
    // The key of the first reply, or the key of that reply's first field.
    let at = 0;
    if (rng.below(2) && out.length > 2) {
      at = 1;
      while (out[at] & 0x80) at++;
      at = Math.min(at + 1, out.length - 1);
    }
    out[at] = (out[at] & 0xf8) | rng.pick([1, 3, 4, 5, 6, 7]);
    return out;
  },
};

const OUTCOMES = new Set(['result', 'chunk', 'error', 'end']);

/** What any successful decode must look like, whatever the input was. */
function assertWellFormed(replies: ReplyMessage[], input: Buffer): void {
  assert.ok(Array.isArray(replies));
  for (const reply of replies) {
    assert.ok(Number.isSafeInteger(reply.id) && reply.id >= 0, `id ${reply.id}`);
    assert.ok(OUTCOMES.has(reply.outcome!), `outcome ${reply.outcome}`);
    if (reply.outcome === 'result' || reply.outcome === 'chunk') {
      assert.equal(reply.error, undefined);
      for (const piece of [reply.value!.json, ...reply.value!.blobs]) {
        assert.ok(Buffer.isBuffer(piece));
        if (piece.length === 0) continue;
        assert.ok(piece.buffer === input.buffer, 'a value must be a slice of the frame');
        assert.ok(piece.byteOffset >= input.byteOffset && piece.byteOffset + piece.length <= input.byteOffset + input.length);
      }
    } else if (reply.outcome === 'error') {
      assert.equal(reply.value, undefined);
      for (const field of ['code', 'type', 'message', 'traceback'] as const) assert.equal(typeof reply.error![field], 'string');
    } else {
      assert.equal(reply.value, undefined);
      assert.equal(reply.error, undefined);
    }
  }
}

const CLEAR_ERROR = /^bad frame from the worker: \S.* \(at byte \d+ of \d+\)$/s;

test('100,000 fuzzed ServerFrames: a clear FrameDecodeError or well-formed replies, valid frames exact', () => {
  const rng = generator(SEED);
  const counts: Record<string, { inputs: number; refused: number }> = { valid: { inputs: 0, refused: 0 } };
  const reasons = new Map<string, number>();
  const started = performance.now();
  const kinds = Object.keys(mutations);
  let total = 0;
  while (total < 100_000) {
    const frame = validFrame(rng);
    // The valid frame itself round-trips exactly...
    assert.deepEqual(decodeServerFrame(frame.bytes), frame.expected);
    counts.valid.inputs++;
    total++;
    // ...and every prefix of a few of them is an error or a shorter, well-formed frame.
    const inputs: [string, Buffer][] = kinds.map((kind) => [kind, mutations[kind](frame.bytes, rng)]);
    if (total % 50 === 1) for (let end = 0; end < frame.bytes.length; end++) inputs.push(['truncated', frame.bytes.subarray(0, end)]);
    for (const [kind, input] of inputs) {
      const count = (counts[kind] ??= { inputs: 0, refused: 0 });
      count.inputs++;
      total++;
      let replies: ReplyMessage[];
      try {
        replies = decodeServerFrame(input);
      } catch (error) {
        assert.ok(error instanceof FrameDecodeError, `${kind}: not a FrameDecodeError: ${error}`);
        assert.match(error.message, CLEAR_ERROR);
        const reason = error.message.replace(/^bad frame from the worker: /, '').replace(/\d+/g, 'N');
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        count.refused++;
        continue;
      }
      assertWellFormed(replies, input);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  assert.ok(total >= 100_000);
  assert.equal(counts.valid.refused, 0);
  for (const kind of ['truncated', 'oversized', 'longVarint', 'wrongWireType']) {
    assert.ok(counts[kind].refused > counts[kind].inputs / 2, `${kind}: only ${counts[kind].refused} of ${counts[kind].inputs} refused`);
  }
  const summary = Object.entries(counts).map(([kind, c]) => `${kind} ${c.inputs} (${c.refused} refused)`).join(', ');
  console.log(`ServerFrame fuzz (seed ${SEED}): ${total} inputs in ${seconds.toFixed(1)} s: ${summary}`);
  console.log(`  reasons: ${[...reasons].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${n}× ${r}`).join('; ')}`);
});

checkNoLeaks();
