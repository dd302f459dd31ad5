// The connection to one Python worker, whatever carries its frames: every call is multiplexed
// by id over one long-lived stream of ClientFrames out and ServerFrames in. Calls issued in the
// same tick leave in one frame, and the worker batches its replies the same way. The transports
// (grpcConnection.ts, localConnection.ts) only open, write, read and close.
import { decodeValue, type WireValue } from './codec.js';
import { inOneFrame, inOneFrameNow } from './frameBatch.js';
import { ShuttingDownError, type SnakepitError } from '../errors.js';
import { drainingError, toCallError } from './callErrors.js';
import { PART_BYTES, partsOf } from './parts.js';
import {
  type ClientFrame,
  encodeClientFrame,
  encodePartFrame,
  FrameDecodeError,
  type HeartbeatReply,
  type HostCallMessage,
  type HostReplyMessage,
  type ReplyMessage,
  valuePieces,
  valueSize,
} from './sessionCodec.js';

export type { HeartbeatReply } from './sessionCodec.js';

/** Receives what the worker sends for one call. */
export interface CallSink {
  resolve(value: unknown): void;
  reject(error: SnakepitError): void;
  chunk?(value: unknown): void;
  /** A ctx.progress() report ({done, total, message}), before the call's outcome. */
  progress?(value: unknown): void;
  /** The worker died before it could have started this call: it may run elsewhere. */
  unstarted?(error: SnakepitError): void;
}

/** Answers one worker's calls into Node, encoding results within its pool's limits. */
export interface HostCallAnswerer {
  /** `caller`: the running call whose tool made this one, when the connection knows it. */
  answer(call: HostCallMessage, caller?: unknown): Promise<HostReplyMessage>;
}

interface PendingCall {
  tool: string;
  sink: CallSink;
}

const emptyFrame = (): ClientFrame => ({ calls: [], cancels: [], parts: [], hostReplies: [], credits: [], reclaims: [] });

/** What a call tells the worker beyond its tool and arguments (its Context in Python). */
export interface CallExtras {
  stream?: boolean;
  /** Milliseconds until the caller gives up. */
  timeoutMs?: number;
  sessionId?: string;
  /** A streaming call's credit window: chunks the worker may send beyond those granted. */
  window?: number;
}

export abstract class WorkerConnection {
  /** Calls sent and not answered yet, in the order they were sent. */
  private readonly pending = new Map<number, PendingCall>();
  /** Of those, the ones the caller gave up on (their cancel is on its way or done). */
  private readonly cancelled = new Set<number>();
  private nextId = 1;
  protected outbox: ClientFrame = emptyFrame();
  private flushScheduled = false;
  private opened = false;
  protected broken = false;
  /** Large calls' arguments still being sent, one call after another. */
  private uploads: Promise<void> = Promise.resolve();
  /** Settles once the stream has ended (or failed, or was closed): nothing more will be read. */
  readonly whenBroken: Promise<void>;
  private markBroken!: () => void;
  private draining = false;
  /** Settles once a bridge server says it drains (ServerFrame.draining): it takes no more calls. */
  readonly serverDraining: Promise<void>;
  private markDraining!: () => void;

  /**
   * `onBroken` runs once if the stream fails while calls may be in flight; with a
   * FrameDecodeError when the worker sent bytes that are not a frame. `runsInOrder`: the worker
   * runs one call at a time in the order sent (the process profile), so calls sent ahead behind
   * a stuck one can be reclaimed (reclaimBehind).
   */
  constructor(
    private readonly onBroken: (error: Error) => void,
    private readonly runsInOrder = false,
    /** Answers the worker's calls into Node (ctx.call); without it, every such call fails. */
    private readonly host?: HostCallAnswerer,
  ) {
    this.whenBroken = new Promise((resolve) => (this.markBroken = resolve));
    this.serverDraining = new Promise((resolve) => (this.markDraining = resolve));
  }

  /** Connects and opens the stream of frames. */
  async open(timeoutMs: number): Promise<void> {
    await this.connect(timeoutMs);
    this.opened = true;
  }

  protected abstract connect(timeoutMs: number): Promise<void>;
  /**
   * Writes one encoded ClientFrame, whole or as pieces to be sent back to back; `written` runs
   * once the transport took it.
   */
  protected abstract writeFrame(frame: Buffer | Buffer[], written?: () => void): void;
  /** Ends the transport itself; calls still held are the caller's business. */
  protected abstract closeTransport(): void;
  abstract heartbeat(seq: number, timeoutMs: number): Promise<HeartbeatReply>;

  get inFlight(): number {
    return this.pending.size;
  }

  /** A bridge server said it drains. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** False once the stream broke, the worker died or its server drains: no call may be sent here any more. */
  get usable(): boolean {
    return !this.broken && this.opened && !this.draining;
  }

  /** Sends a call; the sink hears its outcome. Returns the call id for `cancel`. */
  call(tool: string, args: WireValue, sink: CallSink, extras: CallExtras = {}): number {
    const id = this.nextId++;
    const size = valueSize(args);
    const { stream = false, timeoutMs, sessionId, window } = extras;
    this.pending.set(id, { tool, sink });
    if (size <= PART_BYTES) {
      this.outbox.calls.push({ id, tool, args, argsSize: 0, stream, timeoutMs, sessionId, window });
      this.scheduleFlush();
    } else {
      this.outbox.calls.push({ id, tool, args: undefined, argsSize: size, stream, timeoutMs, sessionId, window });
      this.flush(); // the call must precede its parts on the stream
      this.uploads = this.uploads.then(() => this.upload(id, valuePieces(args)));
    }
    return id;
  }

  /** Sends a large call's arguments part by part, waiting for the transport after each. */
  private async upload(id: number, pieces: Buffer[]): Promise<void> {
    for (const slices of partsOf(pieces)) {
      if (this.broken || !this.pending.has(id)) return; // cancelled or answered: the rest is not needed
      const frame = encodePartFrame(id, slices);
      await Promise.race([new Promise<void>((resolve) => this.writeFrame(frame, resolve)), this.whenBroken]);
    }
  }

  /** Tells the worker the caller gave up; its slot frees when the worker acknowledges. */
  cancel(id: number): void {
    if (!this.pending.has(id)) return;
    this.cancelled.add(id);
    this.outbox.cancels.push(id);
    this.scheduleFlush();
  }

  /** Gives a streaming call room for `chunks` more chunks (see StreamSink). */
  credit(id: number, chunks: number): void {
    if (!this.pending.has(id) || this.cancelled.has(id)) return;
    this.outbox.credits!.push({ id, chunks });
    this.scheduleFlush();
  }

  /**
   * The first call or cancel of a tick leaves at once (no added latency for a lone call); the
   * ones that follow in the same tick are batched into one frame sent at the end of the tick.
   * Inside `inOneFrame` even the first one waits, so a known burst leaves as one frame.
   */
  protected scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    if (!inOneFrameNow()) this.flush();
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const frame = this.outbox;
    if (!frame.calls.length && !frame.cancels.length && !frame.pings?.length && !frame.hostReplies?.length && !frame.credits?.length && !frame.reclaims?.length) return;
    this.outbox = emptyFrame();
    if (!this.broken && this.opened) this.writeFrame(encodeClientFrame(frame));
  }

  /**
   * Replies (and calls into Node) that arrived in one frame. A draining server is marked
   * first, so calls it hands back as DRAINING are not routed to it again.
   */
  protected received(replies: ReplyMessage[], hostCalls?: HostCallMessage[], draining = false): void {
    if (draining) this.serverDrains();
    inOneFrame(() => {
      for (const reply of replies) {
        if (this.broken) return; // a bad reply before this one ended the connection
        this.deliver(reply);
      }
    });
    if (hostCalls) for (const call of hostCalls) void this.answerHostCall(call);
  }

  private serverDrains(): void {
    if (this.draining) return;
    this.draining = true;
    this.markDraining();
  }

  private async answerHostCall(call: HostCallMessage): Promise<void> {
    const reply = this.host
      ? await this.host.answer(call, this.pending.get(call.callId)?.sink)
      : { id: call.id, error: { code: 'NOT_EXPOSED', type: 'NotExposed', message: `no function named "${call.name}" is exposed to Python`, traceback: '' } };
    if (this.broken) return;
    this.outbox.hostReplies!.push(reply);
    this.scheduleFlush();
  }

  private deliver(reply: ReplyMessage): void {
    const call = this.pending.get(reply.id);
    if (!call) return;
    switch (reply.outcome) {
      case 'chunk': {
        const value = this.valueOf(reply);
        if (!this.broken) call.sink.chunk?.(value);
        return;
      }
      case 'progress': {
        const value = this.valueOf(reply);
        if (!this.broken) call.sink.progress?.(value);
        return;
      }
      case 'result': {
        const value = this.valueOf(reply);
        if (this.broken) return;
        this.forget(reply.id);
        call.sink.resolve(value);
        return;
      }
      case 'end':
        this.forget(reply.id);
        call.sink.resolve(undefined);
        return;
      default:
        this.forget(reply.id);
        if (reply.error!.code === 'UNSTARTED') {
          // A reclaimed call the worker dropped without starting it: it runs elsewhere.
          (call.sink.unstarted ?? call.sink.reject).call(call.sink, new ShuttingDownError());
        } else if (reply.error!.code === 'DRAINING') {
          // A draining server had not started it: it runs elsewhere, never here again (the
          // server's own draining notice may come a frame later).
          this.serverDrains();
          (call.sink.unstarted ?? call.sink.reject).call(call.sink, drainingError(reply.error!));
        } else call.sink.reject(toCallError(call.tool, reply.error!));
    }
  }

  private forget(id: number): void {
    this.pending.delete(id);
    this.cancelled.delete(id);
  }

  /** A reply's value; JSON that does not parse is a corrupt frame, which ends the connection. */
  private valueOf(reply: ReplyMessage): unknown {
    try {
      return decodeValue(reply.value!);
    } catch (error) {
      this.fail(new FrameDecodeError(`bad frame from the worker: the value of reply ${reply.id} does not decode (${(error as Error).message})`));
      return undefined;
    }
  }

  protected fail(error: Error): void {
    if (this.broken) return;
    this.setBroken();
    this.onBroken(error);
  }

  protected setBroken(): void {
    this.broken = true;
    this.markBroken();
  }

  /**
   * Rejects every call still waiting for the worker, because it died or is being ended. A
   * process worker records the highest call id it started (started.py): read after its death,
   * it tells the calls that never started, which go to `unstarted` (last first, so that each
   * put at the head of a queue keeps them in their order) to run elsewhere. Without it, every
   * call may have run, and none runs again.
   */
  failAll(error: SnakepitError, highestStarted?: number): void {
    this.setBroken(); // no call freed below may be routed back here
    const neverStarted = highestStarted === undefined ? [] : [...this.pending].filter(([id]) => id > highestStarted);
    for (const [id] of neverStarted) this.forget(id);
    // Handed back first, so that the places the rejections free go to them before newer calls.
    for (const [, call] of neverStarted.reverse()) (call.sink.unstarted ?? call.sink.reject).call(call.sink, error);
    this.failStarted(error, undefined); // the rest may have run
  }

  /**
   * Rejects the calls a live worker is known to have started (up to `highestStarted`; all of
   * them when that is unknown), as it is being ended: they cannot run elsewhere, so their callers
   * need not wait for its exit. The others stay until failAll.
   */
  failStarted(error: SnakepitError, highestStarted: number | undefined): void {
    this.setBroken(); // no call freed below may be routed back here (its worker still shows ready)
    for (const [id, call] of [...this.pending]) {
      if (highestStarted !== undefined && id > highestStarted) continue;
      this.forget(id);
      call.sink.reject(error);
    }
  }

  /**
   * Call `id` is stuck on a worker that runs calls in order: the calls sent ahead behind it
   * cannot start before it ends, which may be never. The worker is asked to hand them back:
   * each it has not started comes back UNSTARTED (and goes to `unstarted`, to run elsewhere);
   * one it has started (the stuck call just ended) runs on and answers as usual. Nothing is
   * taken back on Node's word alone, so no call runs twice.
   */
  reclaimBehind(id: number): void {
    if (!this.runsInOrder || this.broken) return;
    let behind = false;
    for (const callId of this.pending.keys()) {
      if (behind && !this.cancelled.has(callId)) this.outbox.reclaims!.push(callId);
      else if (callId === id) behind = true;
    }
    this.scheduleFlush();
  }

  close(): void {
    this.setBroken();
    this.closeTransport();
  }
}

/** A frame's bytes decoded, or the FrameDecodeError saying why they are not a frame. */
export function decodeFrameOrError<T>(decode: () => T): T | FrameDecodeError {
  try {
    return decode();
  } catch (error) {
    return error instanceof FrameDecodeError ? error : new FrameDecodeError(`bad frame from the worker: ${String(error)}`);
  }
}
