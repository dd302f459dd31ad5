// Protobuf encoding of the Session stream's two messages (ClientFrame out, ServerFrame in),
// written out by hand: it reads straight into the shapes the connection uses, values as slices
// of the frame, and decodes a tiny reply in about a third of the reflection codec's time
// (0.16 vs 0.51 µs here; both small beside a call's ≈300 µs). The messages are exactly those
// of proto/snakepit.proto; test/sessionCodec.test.ts checks both directions against the
// reflection codec, and test/wireFuzz.test.ts fuzzes the decoder.
import type { WireValue } from './codec.js';

/**
 * The version of the protocol between Node and the Python bridge: these frames and the fd-3
 * control lines. The bridge states its own in its `ready` line (PROTOCOL_VERSION in
 * python/snakepit_bridge/frames.py); a worker whose version differs does not start. Raise both
 * together with any change one side cannot read.
 */
export const PROTOCOL_VERSION = 2;

export interface OutgoingCall {
  id: number;
  tool: string;
  /** Inline arguments; for a large call undefined, and `argsSize` bytes follow as parts. */
  args: WireValue | undefined;
  argsSize: number;
  stream: boolean;
}

/** A slice of a large call's serialized arguments (ArgsPart). */
export interface ArgsPart {
  id: number;
  data: Buffer;
}

export interface ClientFrame {
  calls: OutgoingCall[];
  cancels: number[];
  parts: ArgsPart[];
  /** Heartbeat sequence numbers (local lane); each is answered by a pong. */
  pings?: number[];
  /** The worker's token: the first frame of a local-lane connection carries it. */
  token?: Buffer;
}

/** A worker's answer to a heartbeat (HeartbeatReply, also ServerFrame.pongs on the local lane). */
export interface HeartbeatReply {
  seq: number;
  pid: number;
  in_flight: number;
  gil_enabled: boolean;
}

export interface CallErrorMessage {
  code: string;
  type: string;
  message: string;
  traceback: string;
}

export interface ReplyMessage {
  id: number;
  outcome: 'result' | 'chunk' | 'error' | 'end' | undefined;
  value: WireValue | undefined;
  error: CallErrorMessage | undefined;
}

const LEN = 2;
const VARINT = 0;

// ---- encoding ------------------------------------------------------------------------------
// Sizes first, then one buffer written front to back: no nested buffers, no copies.

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}
const fieldSize = (size: number): number => 1 + varintSize(size) + size;

export function valueSize(value: WireValue): number {
  let size = value.json.length ? fieldSize(value.json.length) : 0;
  for (const blob of value.blobs) size += fieldSize(blob.length);
  return size;
}

/**
 * A Value's serialized bytes as a list of pieces: small field headers and the JSON and blob
 * buffers themselves, uncopied. A large call's parts are cut from these one at a time.
 */
export function valuePieces(value: WireValue): Buffer[] {
  const pieces: Buffer[] = [];
  const field = (key: number, data: Buffer) => {
    const header = new Writer(1 + varintSize(data.length));
    header.buffer[header.pos++] = key;
    header.varint(data.length);
    pieces.push(header.buffer, data);
  };
  if (value.json.length) field(0x0a, value.json);
  for (const blob of value.blobs) field(0x12, blob);
  return pieces;
}

class Writer {
  readonly buffer: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(size);
  }

  varint(value: number): void {
    while (value > 0x7f) {
      this.buffer[this.pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buffer[this.pos++] = value;
  }

  bytes(key: number, data: Uint8Array): void {
    this.buffer[this.pos++] = key;
    this.varint(data.length);
    this.buffer.set(data, this.pos);
    this.pos += data.length;
  }
}

export function encodeClientFrame(frame: ClientFrame): Buffer {
  const callSizes: number[] = [];
  const toolSizes: number[] = [];
  const argSizes: number[] = [];
  let total = 0;
  for (const call of frame.calls) {
    const toolSize = Buffer.byteLength(call.tool);
    const argSize = call.args ? valueSize(call.args) : 0;
    const callSize =
      1 + varintSize(call.id) + fieldSize(toolSize) + (call.args ? fieldSize(argSize) : 0) + (call.stream ? 2 : 0) +
      (call.argsSize ? 1 + varintSize(call.argsSize) : 0);
    toolSizes.push(toolSize);
    argSizes.push(argSize);
    callSizes.push(callSize);
    total += fieldSize(callSize);
  }
  let cancelSize = 0;
  for (const id of frame.cancels) cancelSize += varintSize(id);
  if (cancelSize) total += fieldSize(cancelSize);
  const partSizes = frame.parts.map((part) => 1 + varintSize(part.id) + fieldSize(part.data.length));
  for (const size of partSizes) total += fieldSize(size);
  let pingSize = 0;
  for (const seq of frame.pings ?? []) pingSize += varintSize(seq);
  if (pingSize) total += fieldSize(pingSize);
  if (frame.token) total += fieldSize(frame.token.length);

  const w = new Writer(total);
  frame.calls.forEach((call, i) => {
    w.buffer[w.pos++] = 0x0a; // ClientFrame.calls
    w.varint(callSizes[i]);
    w.buffer[w.pos++] = 0x08; // Call.id
    w.varint(call.id);
    w.buffer[w.pos++] = 0x12; // Call.tool
    w.varint(toolSizes[i]);
    w.pos += w.buffer.write(call.tool, w.pos);
    if (call.args) {
      w.buffer[w.pos++] = 0x1a; // Call.args
      w.varint(argSizes[i]);
      if (call.args.json.length) w.bytes(0x0a, call.args.json); // Value.json
      for (const blob of call.args.blobs) w.bytes(0x12, blob); // Value.blobs
    }
    if (call.stream) {
      w.buffer[w.pos++] = 0x20; // Call.stream
      w.buffer[w.pos++] = 1;
    }
    if (call.argsSize) {
      w.buffer[w.pos++] = 0x28; // Call.args_size
      w.varint(call.argsSize);
    }
  });
  if (cancelSize) {
    w.buffer[w.pos++] = 0x12; // ClientFrame.cancels, packed
    w.varint(cancelSize);
    for (const id of frame.cancels) w.varint(id);
  }
  frame.parts.forEach((part, i) => {
    w.buffer[w.pos++] = 0x1a; // ClientFrame.parts
    w.varint(partSizes[i]);
    w.buffer[w.pos++] = 0x08; // ArgsPart.id
    w.varint(part.id);
    w.bytes(0x12, part.data); // ArgsPart.data
  });
  if (pingSize) {
    w.buffer[w.pos++] = 0x22; // ClientFrame.pings, packed
    w.varint(pingSize);
    for (const seq of frame.pings!) w.varint(seq);
  }
  if (frame.token) w.bytes(0x2a, frame.token); // ClientFrame.token
  return w.buffer;
}

/**
 * ClientFrame{parts: [ArgsPart{id, data}]} with `data` the concatenation of `slices`, as pieces:
 * the field headers, then the slices themselves, uncopied (a transport that can write pieces
 * sends a large argument with no copy in Node at all).
 */
export function encodePartFrame(id: number, slices: Buffer[]): Buffer[] {
  let dataSize = 0;
  for (const slice of slices) dataSize += slice.length;
  const partSize = 1 + varintSize(id) + fieldSize(dataSize);
  const head = new Writer(1 + varintSize(partSize) + 1 + varintSize(id) + 1 + varintSize(dataSize));
  head.buffer[head.pos++] = 0x1a; // ClientFrame.parts
  head.varint(partSize);
  head.buffer[head.pos++] = 0x08; // ArgsPart.id
  head.varint(id);
  head.buffer[head.pos++] = 0x12; // ArgsPart.data
  head.varint(dataSize);
  return [head.buffer, ...slices];
}

// ---- decoding ------------------------------------------------------------------------------
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
    if (field === 1) {
      r.expect(key, LEN, 'Value.json');
      json = r.slice(...r.span());
    } else if (field === 2) {
      r.expect(key, LEN, 'Value.blobs');
      blobs.push(r.slice(...r.span()));
    } else r.skip(key & 7);
  }
  return { json, blobs };
}

const ERROR_FIELDS = ['', 'code', 'type', 'message', 'traceback'] as const;

function readError(r: Reader): CallErrorMessage {
  const error: CallErrorMessage = { code: '', type: '', message: '', traceback: '' };
  while (r.pos < r.end) {
    const key = r.key();
    const field = key >>> 3;
    if (field >= 1 && field <= 4) {
      const name = ERROR_FIELDS[field];
      r.expect(key, LEN, `CallError.${name}`);
      error[name as keyof CallErrorMessage] = r.text(...r.span());
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
      case 1:
        r.expect(key, VARINT, 'Reply.id');
        reply.id = r.varint();
        break;
      case 2: // result
      case 3: // chunk
        r.expect(key, LEN, key >>> 3 === 2 ? 'Reply.result' : 'Reply.chunk');
        reply.outcome = key >>> 3 === 2 ? 'result' : 'chunk';
        reply.value = readValue(r.sub(...r.span()));
        reply.error = undefined;
        break;
      case 4:
        r.expect(key, LEN, 'Reply.error');
        reply.outcome = 'error';
        reply.error = readError(r.sub(...r.span()));
        reply.value = undefined;
        break;
      case 5:
        r.expect(key, VARINT, 'Reply.end');
        reply.outcome = 'end';
        reply.value = reply.error = undefined;
        r.skipVarint();
        break;
      default:
        r.skip(key & 7);
    }
  }
  // The bridge always sets an outcome: without one there is nothing to settle the call with.
  if (reply.outcome === undefined) r.fail(`reply ${reply.id} has no outcome (result, chunk, error or end)`, at);
  return reply;
}

function readPong(r: Reader): HeartbeatReply {
  const pong: HeartbeatReply = { seq: 0, pid: 0, in_flight: 0, gil_enabled: false };
  while (r.pos < r.end) {
    const key = r.key();
    switch (key >>> 3) {
      case 1:
        r.expect(key, VARINT, 'HeartbeatReply.seq');
        pong.seq = r.varint();
        break;
      case 2:
        r.expect(key, VARINT, 'HeartbeatReply.pid');
        pong.pid = r.varint();
        break;
      case 3:
        r.expect(key, VARINT, 'HeartbeatReply.in_flight');
        pong.in_flight = r.varint();
        break;
      case 4:
        r.expect(key, VARINT, 'HeartbeatReply.gil_enabled');
        pong.gil_enabled = r.varint() !== 0;
        break;
      default:
        r.skip(key & 7);
    }
  }
  return pong;
}

/** The frame's replies; its pongs (local lane) go to `pongs` when given, else are passed over. */
export function decodeServerFrame(buffer: Buffer, pongs?: HeartbeatReply[]): ReplyMessage[] {
  const r = new Reader(buffer);
  const replies: ReplyMessage[] = [];
  while (r.pos < r.end) {
    const key = r.key();
    const field = key >>> 3;
    if (field === 1) {
      r.expect(key, LEN, 'ServerFrame.replies');
      replies.push(readReply(r.sub(...r.span())));
    } else if (field === 2 && pongs) {
      r.expect(key, LEN, 'ServerFrame.pongs');
      pongs.push(readPong(r.sub(...r.span())));
    } else r.skip(key & 7);
  }
  return replies;
}

const EMPTY = Buffer.alloc(0);
