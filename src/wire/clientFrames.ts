// ClientFrame encoding, written out by hand (see sessionMessages.ts): sizes first, then one
// buffer written front to back — no nested buffers, no copies.
import type { WireValue } from './codec.js';
import { KEY } from './protoFields.js';
import { type ClientFrame, ERROR_FIELDS, type HostReplyMessage } from './sessionMessages.js';

// Each field's key from the table generated from the proto, as a module constant: every call's
// frame is written with them. Each is one byte (fields 1 to 15), as the sizes below count it
// (a longer one fails test/sessionCodec.test.ts's byte-for-byte comparison).
const { json: VALUE_JSON, blobs: VALUE_BLOBS } = KEY.Value;
const { id: CALL_ID, tool: CALL_TOOL, args: CALL_ARGS, stream: CALL_STREAM, args_size: CALL_ARGS_SIZE } = KEY.Call;
const { timeout_ms: CALL_TIMEOUT_MS, session_id: CALL_SESSION_ID, window: CALL_WINDOW } = KEY.Call;
const { calls: FRAME_CALLS, cancels: FRAME_CANCELS, parts: FRAME_PARTS, pings: FRAME_PINGS } = KEY.ClientFrame;
const { token: FRAME_TOKEN, host_replies: FRAME_HOST_REPLIES, credits: FRAME_CREDITS, reclaims: FRAME_RECLAIMS } = KEY.ClientFrame;
const { id: PART_ID, data: PART_DATA } = KEY.ArgsPart;
const { id: CREDIT_ID, chunks: CREDIT_CHUNKS } = KEY.Credit;
const { id: HOST_REPLY_ID, result: HOST_REPLY_RESULT, error: HOST_REPLY_ERROR } = KEY.HostReply;

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
  if (value.json.length) pieces.push(...fieldPieces(VALUE_JSON, value.json));
  for (const blob of value.blobs) pieces.push(...fieldPieces(VALUE_BLOBS, blob));
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
  const sessionSizes: number[] = [];
  const toolSizes: number[] = [];
  const argSizes: number[] = [];
  let total = 0;
  for (const call of frame.calls) {
    const toolSize = Buffer.byteLength(call.tool);
    const argSize = call.args ? valueSize(call.args) : 0;
    const sessionSize = call.sessionId ? Buffer.byteLength(call.sessionId) : 0;
    const callSize =
      1 + varintSize(call.id) + fieldSize(toolSize) + (call.args ? fieldSize(argSize) : 0) + (call.stream ? 2 : 0) +
      (call.argsSize ? 1 + varintSize(call.argsSize) : 0) + (call.timeoutMs ? 1 + varintSize(call.timeoutMs) : 0) +
      (sessionSize ? fieldSize(sessionSize) : 0) + (call.window ? 1 + varintSize(call.window) : 0);
    sessionSizes.push(sessionSize);
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
  const hostReplies = (frame.hostReplies ?? []).map(encodeHostReply);
  for (const reply of hostReplies) total += fieldSize(reply.length);
  const creditSizes = (frame.credits ?? []).map((credit) => 2 + varintSize(credit.id) + varintSize(credit.chunks));
  for (const size of creditSizes) total += fieldSize(size);
  let reclaimSize = 0;
  for (const id of frame.reclaims ?? []) reclaimSize += varintSize(id);
  if (reclaimSize) total += fieldSize(reclaimSize);

  const w = new Writer(total);
  frame.calls.forEach((call, i) => {
    w.buffer[w.pos++] = FRAME_CALLS;
    w.varint(callSizes[i]);
    w.buffer[w.pos++] = CALL_ID;
    w.varint(call.id);
    w.buffer[w.pos++] = CALL_TOOL;
    w.varint(toolSizes[i]);
    w.pos += w.buffer.write(call.tool, w.pos);
    if (call.args) {
      w.buffer[w.pos++] = CALL_ARGS;
      w.varint(argSizes[i]);
      if (call.args.json.length) w.bytes(VALUE_JSON, call.args.json);
      for (const blob of call.args.blobs) w.bytes(VALUE_BLOBS, blob);
    }
    if (call.stream) {
      w.buffer[w.pos++] = CALL_STREAM;
      w.buffer[w.pos++] = 1;
    }
    if (call.argsSize) {
      w.buffer[w.pos++] = CALL_ARGS_SIZE;
      w.varint(call.argsSize);
    }
    if (call.timeoutMs) {
      w.buffer[w.pos++] = CALL_TIMEOUT_MS;
      w.varint(call.timeoutMs);
    }
    if (sessionSizes[i]) {
      w.buffer[w.pos++] = CALL_SESSION_ID;
      w.varint(sessionSizes[i]);
      w.pos += w.buffer.write(call.sessionId!, w.pos);
    }
    if (call.window) {
      w.buffer[w.pos++] = CALL_WINDOW;
      w.varint(call.window);
    }
  });
  if (cancelSize) {
    w.buffer[w.pos++] = FRAME_CANCELS; // packed
    w.varint(cancelSize);
    for (const id of frame.cancels) w.varint(id);
  }
  frame.parts.forEach((part, i) => {
    w.buffer[w.pos++] = FRAME_PARTS;
    w.varint(partSizes[i]);
    w.buffer[w.pos++] = PART_ID;
    w.varint(part.id);
    w.bytes(PART_DATA, part.data);
  });
  if (pingSize) {
    w.buffer[w.pos++] = FRAME_PINGS; // packed
    w.varint(pingSize);
    for (const seq of frame.pings!) w.varint(seq);
  }
  if (frame.token) w.bytes(FRAME_TOKEN, frame.token);
  for (const reply of hostReplies) w.bytes(FRAME_HOST_REPLIES, reply);
  frame.credits?.forEach((credit, i) => {
    w.buffer[w.pos++] = FRAME_CREDITS;
    w.varint(creditSizes[i]);
    w.buffer[w.pos++] = CREDIT_ID;
    w.varint(credit.id);
    w.buffer[w.pos++] = CREDIT_CHUNKS;
    w.varint(credit.chunks);
  });
  if (reclaimSize) {
    w.buffer[w.pos++] = FRAME_RECLAIMS; // packed
    w.varint(reclaimSize);
    for (const id of frame.reclaims!) w.varint(id);
  }
  return w.buffer;
}

/** HostReply{id, result: Value | error: CallError}: rare and small, so simply built from parts. */
function encodeHostReply(reply: HostReplyMessage): Buffer {
  const id = new Writer(1 + varintSize(reply.id));
  id.buffer[id.pos++] = HOST_REPLY_ID;
  id.varint(reply.id);
  const parts: Buffer[] = [id.buffer];
  if (reply.result) parts.push(...fieldPieces(HOST_REPLY_RESULT, Buffer.concat(valuePieces(reply.result))));
  if (reply.error) {
    const error: Buffer[] = [];
    for (const name of ERROR_FIELDS) {
      if (reply.error[name]) error.push(...fieldPieces(KEY.CallError[name], Buffer.from(reply.error[name])));
    }
    parts.push(...fieldPieces(HOST_REPLY_ERROR, Buffer.concat(error)));
  }
  return Buffer.concat(parts);
}

/** A length-delimited field as [key and length, data]. */
function fieldPieces(key: number, data: Buffer): Buffer[] {
  const header = new Writer(1 + varintSize(data.length));
  header.buffer[header.pos++] = key;
  header.varint(data.length);
  return [header.buffer, data];
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
  head.buffer[head.pos++] = FRAME_PARTS;
  head.varint(partSize);
  head.buffer[head.pos++] = PART_ID;
  head.varint(id);
  head.buffer[head.pos++] = PART_DATA;
  head.varint(dataSize);
  return [head.buffer, ...slices];
}
