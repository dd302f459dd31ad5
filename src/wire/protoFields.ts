// proto/snakepit.proto, field by field, for the codec written out by hand (clientFrames.ts,
// serverFrames.ts): each field's number, and its key, the varint that starts the field on the
// wire: number << 3 | wire type, 2 (length-delimited) for messages, strings, bytes and packed
// repeated numbers, 0 (varint) for other numbers and bools.
//
// Written by python/tests/proto_descriptor.py; do not edit. python/tests/test_descriptor.py
// fails when it no longer matches the proto.

/** Each message's fields by name: their numbers. */
export const FIELD = {
  Value: { json: 1, blobs: 2 },
  Call: { id: 1, tool: 2, args: 3, stream: 4, args_size: 5, timeout_ms: 6, session_id: 7, window: 8 },
  Credit: { id: 1, chunks: 2 },
  ArgsPart: { id: 1, data: 2 },
  ClientFrame: { calls: 1, cancels: 2, parts: 3, pings: 4, token: 5, host_replies: 6, credits: 7, reclaims: 8 },
  CallError: { code: 1, type: 2, message: 3, traceback: 4 },
  Reply: { id: 1, result: 2, chunk: 3, error: 4, end: 5, progress: 6 },
  HostCall: { id: 1, call_id: 2, name: 3, args: 4 },
  HostReply: { id: 1, result: 2, error: 3 },
  ServerFrame: { replies: 1, pongs: 2, host_calls: 3, draining: 4 },
  HeartbeatRequest: { seq: 1 },
  HeartbeatReply: { seq: 1, pid: 2, in_flight: 3, gil_enabled: 4, capacity: 5, draining: 6 },
  HelloRequest: {},
  HelloReply: { protocol: 1, pid: 2, python: 3, gil_enabled: 4, profile: 5, capacity: 6, tools: 7, draining: 8, server_id: 9 },
} as const;

/** Each message's fields by name: their keys. */
export const KEY = {
  Value: { json: 0x0a, blobs: 0x12 },
  Call: { id: 0x08, tool: 0x12, args: 0x1a, stream: 0x20, args_size: 0x28, timeout_ms: 0x30, session_id: 0x3a, window: 0x40 },
  Credit: { id: 0x08, chunks: 0x10 },
  ArgsPart: { id: 0x08, data: 0x12 },
  ClientFrame: { calls: 0x0a, cancels: 0x12, parts: 0x1a, pings: 0x22, token: 0x2a, host_replies: 0x32, credits: 0x3a, reclaims: 0x42 },
  CallError: { code: 0x0a, type: 0x12, message: 0x1a, traceback: 0x22 },
  Reply: { id: 0x08, result: 0x12, chunk: 0x1a, error: 0x22, end: 0x28, progress: 0x32 },
  HostCall: { id: 0x08, call_id: 0x10, name: 0x1a, args: 0x22 },
  HostReply: { id: 0x08, result: 0x12, error: 0x1a },
  ServerFrame: { replies: 0x0a, pongs: 0x12, host_calls: 0x1a, draining: 0x20 },
  HeartbeatRequest: { seq: 0x08 },
  HeartbeatReply: { seq: 0x08, pid: 0x10, in_flight: 0x18, gil_enabled: 0x20, capacity: 0x28, draining: 0x30 },
  HelloRequest: {},
  HelloReply: { protocol: 0x08, pid: 0x10, python: 0x1a, gil_enabled: 0x20, profile: 0x2a, capacity: 0x30, tools: 0x3a, draining: 0x40, server_id: 0x4a },
} as const;
