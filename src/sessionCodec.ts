// Protobuf encoding of the Session stream's two messages (ClientFrame out, ServerFrame in),
// written out by hand for the hot path: every call crosses here twice, and a general
// reflection-based codec costs more than the rest of our per-call work. The messages are
// exactly those of proto/snakepit.proto; test/sessionCodec.test.ts checks both directions
// against the reflection codec.
import type { WireValue } from './codec.js';

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
  return w.buffer;
}

// ---- decoding ------------------------------------------------------------------------------

class Reader {
  pos: number;
  constructor(private readonly buffer: Buffer, start = 0, readonly end = buffer.length) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated frame from the worker');
      const byte = this.buffer[this.pos++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 0x80;
    }
  }

  /** Start and end of a length-delimited field. */
  span(): [number, number] {
    const size = this.varint();
    const start = this.pos;
    this.pos += size;
    if (this.pos > this.end) throw new Error('truncated frame from the worker');
    return [start, this.pos];
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === LEN) this.span();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wireType}`);
    if (this.pos > this.end) throw new Error('truncated frame from the worker');
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
    const key = r.varint();
    const field = key >>> 3;
    if (field === 1 && (key & 7) === LEN) json = r.slice(...r.span());
    else if (field === 2 && (key & 7) === LEN) blobs.push(r.slice(...r.span()));
    else r.skip(key & 7);
  }
  return { json, blobs };
}

function readError(r: Reader): CallErrorMessage {
  const error: CallErrorMessage = { code: '', type: '', message: '', traceback: '' };
  const names = ['', 'code', 'type', 'message', 'traceback'] as const;
  while (r.pos < r.end) {
    const key = r.varint();
    const field = key >>> 3;
    if (field >= 1 && field <= 4 && (key & 7) === LEN) error[names[field] as keyof CallErrorMessage] = r.text(...r.span());
    else r.skip(key & 7);
  }
  return error;
}

function readReply(r: Reader): ReplyMessage {
  const reply: ReplyMessage = { id: 0, outcome: undefined, value: undefined, error: undefined };
  while (r.pos < r.end) {
    const key = r.varint();
    const wireType = key & 7;
    switch (key >>> 3) {
      case 1:
        reply.id = r.varint();
        break;
      case 2: // result
      case 3: // chunk
        reply.outcome = key >>> 3 === 2 ? 'result' : 'chunk';
        reply.value = readValue(r.sub(...r.span()));
        break;
      case 4:
        reply.outcome = 'error';
        reply.error = readError(r.sub(...r.span()));
        break;
      case 5:
        reply.outcome = 'end';
        r.varint();
        break;
      default:
        r.skip(wireType);
    }
  }
  // The worker always sets an outcome; a reply without one carries no value, so read it as null.
  if (reply.outcome === undefined) reply.outcome = 'result';
  return reply;
}

export function decodeServerFrame(buffer: Buffer): ReplyMessage[] {
  const r = new Reader(buffer);
  const replies: ReplyMessage[] = [];
  while (r.pos < r.end) {
    const key = r.varint();
    if (key >>> 3 === 1 && (key & 7) === LEN) replies.push(readReply(r.sub(...r.span())));
    else r.skip(key & 7);
  }
  return replies;
}

const EMPTY = Buffer.alloc(0);
