// The Session stream's two messages (ClientFrame out, ServerFrame in) in the shapes the
// connection uses, and the protocol version. Their protobuf encoding is written out by hand
// (clientFrames.ts, serverFrames.ts): it reads straight into these shapes, values as slices of
// the frame, and decodes a tiny reply in about a third of the reflection codec's time (0.16 vs
// 0.51 µs here; both small beside a call). The messages are exactly those of
// proto/snakepit.proto, whose field numbers and keys the codec takes from protoFields.ts,
// generated from it; test/sessionCodec.test.ts checks both directions against the reflection
// codec, and test/wireFuzz.test.ts fuzzes the decoder.
import type { WireValue } from './codec.js';
import { FIELD } from './protoFields.js';

/**
 * The version of the protocol between Node and the Python bridge: these frames and the fd-3
 * control lines. The bridge states its own in its `ready` line (PROTOCOL_VERSION in
 * python/snakepit_bridge/frames.py); a worker whose version differs does not start. Raise both
 * together with any change one side cannot read.
 */
export const PROTOCOL_VERSION = 5;

export interface OutgoingCall {
  id: number;
  tool: string;
  /** Inline arguments; for a large call undefined, and `argsSize` bytes follow as parts. */
  args: WireValue | undefined;
  argsSize: number;
  stream: boolean;
  /** Milliseconds until the caller gives up, counted from sending (0: no deadline). */
  timeoutMs?: number;
  sessionId?: string;
  /** A streaming call's credit window (0 or absent: no limit). */
  window?: number;
}

/** More room for a streaming call (Credit). */
export interface CreditMessage {
  id: number;
  chunks: number;
}

/** A tool's call into a function Node exposed (ctx.call). */
export interface HostCallMessage {
  id: number;
  callId: number;
  name: string;
  args: WireValue;
}

/** Node's answer to a HostCall: a result, or an error. */
export interface HostReplyMessage {
  id: number;
  result?: WireValue;
  error?: CallErrorMessage;
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
  hostReplies?: HostReplyMessage[];
  credits?: CreditMessage[];
  /** Sent-ahead calls taken back: the worker drops each it has not started (answering UNSTARTED). */
  reclaims?: number[];
}

/** A worker's answer to a heartbeat (HeartbeatReply, also ServerFrame.pongs on the local lane). */
export interface HeartbeatReply {
  seq: number;
  pid: number;
  in_flight: number;
  gil_enabled: boolean;
  /** From a standalone bridge server: calls it runs at once, and whether it drains (SIGTERM). */
  capacity?: number;
  draining?: boolean;
}

export interface CallErrorMessage {
  code: string;
  type: string;
  message: string;
  traceback: string;
}

export interface ReplyMessage {
  id: number;
  /** `progress` is not final: its value is {done, total, message}. */
  outcome: 'result' | 'chunk' | 'error' | 'end' | 'progress' | undefined;
  value: WireValue | undefined;
  error: CallErrorMessage | undefined;
}

/** Protobuf wire types the frames use. */
export const LEN = 2;
export const VARINT = 0;

/** CallError's fields, in the proto's order. */
export const ERROR_FIELDS = Object.keys(FIELD.CallError) as (keyof typeof FIELD.CallError)[];
