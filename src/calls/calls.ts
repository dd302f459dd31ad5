// What the dispatcher keeps per call: the request (one call from submit until it is settled),
// the options a caller gives, and what a worker looks like in inspect(). The per-worker slot is
// workerSlot.ts.
import type { WorkerStateName } from '../../machines/worker.machine.js';
import type { CallChain } from './callChains.js';
import type { WireValue } from '../wire/codec.js';
import { type SnakepitError, TimeoutError } from '../errors.js';
import type { Fifo, FifoEntry } from './fifo.js';
import type { CallSpan } from '../observe/tracing.js';
import type { CallSink, WorkerConnection } from '../wire/workerConnection.js';
import type { WorkerSlot } from './workerSlot.js';

/** One worker as `inspect()` shows it. */
export interface WorkerInfo {
  id: string;
  pid: number | undefined;
  state: WorkerStateName;
  inFlight: number;
  capacity: number;
  requests: number;
  restarts: number;
  /** False on a free-threaded Python build (sys._is_gil_enabled()). */
  gilEnabled: boolean | undefined;
  /** A remote pool's worker: its bridge server's address (`pid` is the server's own). */
  endpoint?: string;
}

/** Per-call observations the recycler needs. */
export interface DispatchObserver {
  callStarted(slot: WorkerSlot): void;
  callEnded(slot: WorkerSlot): void;
  /** A call given up on still runs past cancelGraceMs: the worker is to be replaced. */
  callStuck(slot: WorkerSlot): void;
}

/** A ctx.progress() report from Python. */
export interface Progress {
  done: number;
  total: number | null;
  message: string | null;
}

export interface CallOptions {
  pool?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Calls of one session go to the worker that ran its last call (see the pool's `affinity`). */
  sessionId?: string;
  /**
   * Runs the call on this worker (an id from inspect()), after the calls already waiting for it,
   * never on another: one that is unknown, retiring or down fails the call (see the README).
   */
  workerId?: string;
  /** Hears the tool's ctx.progress() reports, in order, before the call settles. */
  onProgress?: (progress: Progress) => void;
}

/** A broadcast's options: each worker's call has its own `timeoutMs`; the `signal` aborts them all. */
export type BroadcastOptions = Pick<CallOptions, 'pool' | 'timeoutMs' | 'signal'>;

/** What one worker made of a broadcast's call. */
export type BroadcastResult<T = unknown> = { workerId: string; ok: true; value: T } | { workerId: string; ok: false; error: SnakepitError };

/** The consumer of a streaming call: takes its chunks, and gives the worker room for more. */
export interface StreamSink {
  /** Chunks the worker may send beyond those the consumer took (the credit window). */
  highWaterMark: number;
  chunk(value: unknown): void;
  /** Set by the dispatcher: grants the worker room for `chunks` more. */
  grant?: (chunks: number) => void;
}

export interface StreamOptions extends CallOptions {
  /** Chunks the generator may run ahead of the consumer (default 64). */
  highWaterMark?: number;
}

/** Where a request reports what became of it: the dispatcher. */
export interface RequestOwner {
  readonly config: { readonly cancelGraceMs: number };
  callEnded(request: Request, error: SnakepitError | undefined, value: unknown): void;
  requeue(request: Request, error: SnakepitError): void;
  progressed(request: Request, value: unknown): void;
  /** The caller's deadline has passed while the call still runs: cancel it, settle TIMEOUT. */
  deadlinePassed(request: Request): void;
}

/** One call, from submit until settled; it is also the sink the worker connection reports to. */
export class Request implements CallSink {
  settled = false;
  /** Its place while it waits: in the pool's queue or a worker's pinned queue. */
  entry: FifoEntry<Request> | undefined;
  waitsIn: Fifo<Request> | undefined;
  /** Armed while it waits in the queue (queueTimeoutMs). */
  queueTimer: NodeJS.Timeout | undefined;
  cleanup: (() => void) | undefined;
  slot: WorkerSlot | undefined;
  connection: WorkerConnection | undefined;
  callId = 0;
  /** Its OpenTelemetry span, when tracing is on. */
  span: CallSpan | undefined;
  /** When a worker took it (performance.now() clock). */
  startedAt = 0;
  /** When the caller gives up (performance.now() clock), if it set a deadline. */
  deadlineAt: number | undefined;
  /** Armed once the caller gave up while the call runs: past it, the call is stuck. */
  graceTimer: NodeJS.Timeout | undefined;
  stuck = false;

  constructor(
    private readonly dispatcher: RequestOwner,
    readonly tool: string,
    readonly args: WireValue,
    readonly resolveCaller: (value: unknown) => void,
    readonly rejectCaller: (error: SnakepitError) => void,
    readonly stream: StreamSink | undefined,
    readonly submittedAt: number,
    readonly options: CallOptions,
    /** The calls it is nested in, when made by a function Python called (ctx.call). */
    readonly chain: CallChain | undefined,
  ) {}

  /** Made by a function Python called: never sent ahead behind a running call. */
  get nested(): boolean {
    return this.chain !== undefined;
  }

  get sessionId(): string | undefined {
    return this.options.sessionId;
  }

  /** Made for one worker: it runs there or nowhere. */
  get workerId(): string | undefined {
    return this.options.workerId;
  }

  /**
   * Anything the worker says of a call after its deadline makes it TIMEOUT: on a busy event
   * loop the deadline's timer can run after a reply that came later, and the outcome must not
   * depend on that order.
   */
  private get late(): boolean {
    return this.deadlineAt !== undefined && !this.settled && performance.now() >= this.deadlineAt;
  }

  /** `answered`: the worker's reply came after the deadline; else the call still waits or runs. */
  timeoutError(answered = false): TimeoutError {
    const stage = answered ? 'answered' : this.slot ? 'running' : 'queued';
    return new TimeoutError(this.tool, Math.round(this.deadlineAt! - this.submittedAt), stage, this.dispatcher.config.cancelGraceMs);
  }

  resolve(value: unknown): void {
    if (this.late) return this.dispatcher.callEnded(this, this.timeoutError(true), undefined);
    this.dispatcher.callEnded(this, undefined, value);
  }

  reject(error: SnakepitError): void {
    this.dispatcher.callEnded(this, this.late ? this.timeoutError(true) : error, undefined);
  }

  unstarted(error: SnakepitError): void {
    this.dispatcher.requeue(this, error);
  }

  chunk(value: unknown): void {
    if (this.late) this.dispatcher.deadlinePassed(this);
    if (!this.settled) this.stream?.chunk(value);
  }

  progress(value: unknown): void {
    if (!this.settled) this.dispatcher.progressed(this, value);
  }

  cancelOnWorker(): void {
    this.connection?.cancel(this.callId);
  }

  /** The stream's consumer took `chunks` chunks: the worker may send that many more. */
  grant(chunks: number): void {
    if (!this.settled) this.connection?.credit(this.callId, chunks);
  }
}
