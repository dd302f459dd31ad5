// ServerFrame decoding, written out by hand (see sessionMessages.ts).
import type { WireValue } from './codec.js';
import { FIELD } from './protoFields.js';
import {
  type CallErrorMessage,
  ERROR_FIELDS,
  type HeartbeatReply,
  type HostCallMessage,
  LEN,
  type ReplyMessage,
  VARINT,
} from './sessionMessages.js';

// Each field's number from the table generated from the proto, as a module constant: every
// reply is read with them.
const { json: VALUE_JSON, blobs: VALUE_BLOBS } = FIELD.Value;
const { id: REPLY_ID, result: REPLY_RESULT, chunk: REPLY_CHUNK, error: REPLY_ERROR, end: REPLY_END, progress: REPLY_PROGRESS } = FIELD.Reply;
const { seq: PONG_SEQ, pid: PONG_PID, in_flight: PONG_IN_FLIGHT, gil_enabled: PONG_GIL_ENABLED } = FIELD.HeartbeatReply;
const { capacity: PONG_CAPACITY, draining: PONG_DRAINING } = FIELD.HeartbeatReply;
const { id: HOST_CALL_ID, call_id: HOST_CALL_CALL_ID, name: HOST_CALL_NAME, args: HOST_CALL_ARGS } = FIELD.HostCall;
const { replies: FRAME_REPLIES, pongs: FRAME_PONGS, host_calls: FRAME_HOST_CALLS, draining: FRAME_DRAINING } = FIELD.ServerFrame;
/** CallError's fields by number. */
const ERROR_BY_NUMBER: (keyof CallErrorMessage | undefined)[] = [];
for (const name of ERROR_FIELDS) ERROR_BY_NUMBER[FIELD.CallError[name]] = name;

// Every read is bounded by the end of its (sub)message, and every loop advances by at least one
// byte, so no input can make the decoder hang or read outside the frame. Anything that is not a
// frame our bridge could have written is a FrameDecodeError saying what and where.

/** The bytes from the worker are not a ServerFrame: the connection can no longer be trusted. */
export class FrameDecodeError extends Error {
  override name = 'FrameDecodeError';
}

/** A uint64 varint takes at most 10 bytes. */
const MAX_VARINT_BYTES = 10;

class Reader {
  pos: number;
  /** Where the last field key began, for errors about that field. */
  private keyAt = 0;
  constructor(private readonly buffer: Buffer, start = 0, readonly end = buffer.length) {
    this.pos = start;
  }

  fail(what: string, at = this.pos): never {
    throw new FrameDecodeError(`bad frame from the worker: ${what} (at byte ${at} of ${this.buffer.length})`);
  }

  /** A varint we use as a number (ids, lengths): it must be exact, so at most 2^53 − 1. */
  varint(): number {
    const start = this.pos;
    if (start < this.end) {
      const first = this.buffer[start];
      if (first < 0x80) {
        this.pos = start + 1;
        return first;
      }
    }
    let result = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) this.fail('truncated varint', start);
      const byte = this.buffer[this.pos++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) this.fail(`a number above 2^53 − 1`, start);
        return result;
      }
      scale *= 0x80;
    }
    return this.fail(`a varint longer than ${MAX_VARINT_BYTES} bytes`, start);
  }

  /** Passes over a varint whose value we do not need (any uint64 is fine). */
  skipVarint(): void {
    const start = this.pos;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) this.fail('truncated varint', start);
      if (this.buffer[this.pos++] < 0x80) return;
    }
    this.fail(`a varint longer than ${MAX_VARINT_BYTES} bytes`, start);
  }

  /** A field's key: its number must be 1 or more. */
  key(): number {
    const at = (this.keyAt = this.pos);
    const key = this.varint();
    if (key < 8) this.fail('field number 0', at);
    if (key > 0xffffffff) this.fail('a field number above 2^29 − 1', at);
    return key;
  }

  /** Start and end of a length-delimited field. */
  span(): [number, number] {
    const at = this.pos;
    const size = this.varint();
    const start = this.pos;
    if (size > this.end - start) this.fail(`truncated field: its length, ${size} bytes, runs past the end of its message (${this.end - start} bytes left)`, at);
    this.pos = start + size;
    return [start, this.pos];
  }

  /** Passes over an unknown field, which a newer bridge may add. */
  skip(wireType: number): void {
    const at = this.pos;
    if (wireType === VARINT) this.skipVarint();
    else if (wireType === LEN) this.span();
    else if (wireType === 1 || wireType === 5) {
      const size = wireType === 1 ? 8 : 4;
      if (size > this.end - at) this.fail(`a truncated ${size * 8}-bit field`, at);
      this.pos = at + size;
    } else this.fail(`unsupported protobuf wire type ${wireType}`, at);
  }

  /** A known field with the wire type its declaration requires. */
  expect(key: number, wireType: number, field: string): void {
    if ((key & 7) !== wireType) this.fail(`${field} has wire type ${key & 7}, expected ${wireType}`, this.keyAt);
  }

  sub(start: number, end: number): Reader {
    return new Reader(this.buffer, start, end);
  }

  slice(start: number, end: number): Buffer {
    return this.buffer.subarray(start, end);
  }

  text(start: number, end: number): string {
    return this.buffer.toString('utf8', start, end);
  }
}

function readValue(r: Reader): WireValue {
  let json: Buffer = EMPTY;
  const blobs: Buffer[] = [];
  while (r.pos < r.end) {
    const key = r.key();
    const field = key >>> 3;
    if (field === VALUE_JSON) {
      r.expect(key, LEN, 'Value.json');
      json = r.slice(...r.span());
    } else if (field === VALUE_BLOBS) {
      r.expect(key, LEN, 'Value.blobs');
      blobs.push(r.slice(...r.span()));
    } else r.skip(key & 7);
  }
  return { json, blobs };
}

function readError(r: Reader): CallErrorMessage {
  const error: CallErrorMessage = { code: '', type: '', message: '', traceback: '' };
  while (r.pos < r.end) {
    const key = r.key();
    const name = ERROR_BY_NUMBER[key >>> 3];
    if (name !== undefined) {
      r.expect(key, LEN, `CallError.${name}`);
      error[name] = r.text(...r.span());
    } else r.skip(key & 7);
  }
  return error;
}

function readReply(r: Reader): ReplyMessage {
  const at = r.pos;
  const reply: ReplyMessage = { id: 0, outcome: undefined, value: undefined, error: undefined };
  while (r.pos < r.end) {
    const key = r.key();
    switch (key >>> 3) {
      case REPLY_ID:
        r.expect(key, VARINT, 'Reply.id');
        reply.id = r.varint();
        break;
      case REPLY_RESULT:
      case REPLY_CHUNK:
        r.expect(key, LEN, key >>> 3 === REPLY_RESULT ? 'Reply.result' : 'Reply.chunk');
        reply.outcome = key >>> 3 === REPLY_RESULT ? 'result' : 'chunk';
        reply.value = readValue(r.sub(...r.span()));
        reply.error = undefined;
        break;
      case REPLY_ERROR:
        r.expect(key, LEN, 'Reply.error');
        reply.outcome = 'error';
        reply.error = readError(r.sub(...r.span()));
        reply.value = undefined;
        break;
      case REPLY_END:
        r.expect(key, VARINT, 'Reply.end');
        reply.outcome = 'end';
        reply.value = reply.error = undefined;
        r.skipVarint();
        break;
      case REPLY_PROGRESS:
        r.expect(key, LEN, 'Reply.progress');
        reply.outcome = 'progress';
        reply.value = readValue(r.sub(...r.span()));
        reply.error = undefined;
        break;
      default:
        r.skip(key & 7);
    }
  }
  // The bridge always sets an outcome: without one there is nothing to settle the call with.
  if (reply.outcome === undefined) r.fail(`reply ${reply.id} has no outcome (result, chunk, error, end or progress)`, at);
  return reply;
}

function readPong(r: Reader): HeartbeatReply {
  const pong: HeartbeatReply = { seq: 0, pid: 0, in_flight: 0, gil_enabled: false };
  while (r.pos < r.end) {
    const key = r.key();
    switch (key >>> 3) {
      case PONG_SEQ:
        r.expect(key, VARINT, 'HeartbeatReply.seq');
        pong.seq = r.varint();
        break;
      case PONG_PID:
        r.expect(key, VARINT, 'HeartbeatReply.pid');
        pong.pid = r.varint();
        break;
      case PONG_IN_FLIGHT:
        r.expect(key, VARINT, 'HeartbeatReply.in_flight');
        pong.in_flight = r.varint();
        break;
      case PONG_GIL_ENABLED:
        r.expect(key, VARINT, 'HeartbeatReply.gil_enabled');
        pong.gil_enabled = r.varint() !== 0;
        break;
      case PONG_CAPACITY:
        r.expect(key, VARINT, 'HeartbeatReply.capacity');
        pong.capacity = r.varint();
        break;
      case PONG_DRAINING:
        r.expect(key, VARINT, 'HeartbeatReply.draining');
        pong.draining = r.varint() !== 0;
        break;
      default:
        r.skip(key & 7);
    }
  }
  return pong;
}

function readHostCall(r: Reader): HostCallMessage {
  const call: HostCallMessage = { id: 0, callId: 0, name: '', args: { json: EMPTY, blobs: [] } };
  while (r.pos < r.end) {
    const key = r.key();
    switch (key >>> 3) {
      case HOST_CALL_ID:
        r.expect(key, VARINT, 'HostCall.id');
        call.id = r.varint();
        break;
      case HOST_CALL_CALL_ID:
        r.expect(key, VARINT, 'HostCall.call_id');
        call.callId = r.varint();
        break;
      case HOST_CALL_NAME:
        r.expect(key, LEN, 'HostCall.name');
        call.name = r.text(...r.span());
        break;
      case HOST_CALL_ARGS:
        r.expect(key, LEN, 'HostCall.args');
        call.args = readValue(r.sub(...r.span()));
        break;
      default:
        r.skip(key & 7);
    }
  }
  return call;
}

/** What a ServerFrame says of the server itself. */
export interface ServerFrameFlags {
  /** A bridge server began draining: it takes no more calls. */
  draining: boolean;
}

/**
 * The frame's replies; its pongs (local lane) and host calls go to `pongs` and `hostCalls` when
 * given, else are passed over, as is its `draining` flag without `flags`.
 */
export function decodeServerFrame(buffer: Buffer, pongs?: HeartbeatReply[], hostCalls?: HostCallMessage[], flags?: ServerFrameFlags): ReplyMessage[] {
  const r = new Reader(buffer);
  const replies: ReplyMessage[] = [];
  while (r.pos < r.end) {
    const key = r.key();
    const field = key >>> 3;
    if (field === FRAME_REPLIES) {
      r.expect(key, LEN, 'ServerFrame.replies');
      replies.push(readReply(r.sub(...r.span())));
    } else if (field === FRAME_PONGS && pongs) {
      r.expect(key, LEN, 'ServerFrame.pongs');
      pongs.push(readPong(r.sub(...r.span())));
    } else if (field === FRAME_HOST_CALLS && hostCalls) {
      r.expect(key, LEN, 'ServerFrame.host_calls');
      hostCalls.push(readHostCall(r.sub(...r.span())));
    } else if (field === FRAME_DRAINING && flags) {
      r.expect(key, VARINT, 'ServerFrame.draining');
      flags.draining = r.varint() !== 0;
    } else r.skip(key & 7);
  }
  return replies;
}

const EMPTY = Buffer.alloc(0);
