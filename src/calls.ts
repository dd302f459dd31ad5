// What the dispatcher keeps per worker and per call: the slot (a worker's load, as the
// dispatcher counts it) and the request (one call from submit until it is settled).
import type { WorkerStateName } from '../machines/worker.machine.js';
import type { WireValue } from './codec.js';
import type { SnakepitError } from './errors.js';
import type { Fifo, FifoEntry } from './fifo.js';
import type { CallSink, WorkerConnection } from './workerConnection.js';

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
}

/**
 * The dispatcher's view of one worker. It owns the load (calls in flight and finished, counted
 * synchronously as calls start and end); `state`, `pid` and `gilEnabled` are copies the worker
 * machine's `enter` effect writes after each committed transition, for routing and events.
 */
export interface WorkerSlot {
  id: string;
  pool: string;
  pid: number | undefined;
  state: WorkerStateName;
  inFlight: number;
  capacity: number;
  /** Calls it may hold beyond its capacity, waiting in the worker behind the running one. */
  prefetch: number;
  requests: number;
  gilEnabled: boolean | undefined;
  connection: WorkerConnection | undefined;
  /** Calls of strict sessions bound to this worker, waiting for room on it. */
  pinned: Fifo<Request>;
  /** Tells the worker's state machine its load (see reportLoad). */
  notify: (event: LoadEvent) => void;
  reportedInFlight: number;
  loadReportPending: boolean;
  /** Calls started on the current process, and how many it may start (workerMaxRequests). */
  startedCalls: number;
  callLimit: number;
  recycleRequested: boolean;
}

/** Per-call observations the recycler needs. */
export interface DispatchObserver {
  callStarted(slot: WorkerSlot): void;
  callEnded(slot: WorkerSlot): void;
}

export interface LoadEvent {
  type: 'LOAD';
  inFlight: number;
  requests: number;
}

export interface CallOptions {
  pool?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Calls of one session go to the worker that ran its last call (see the pool's `affinity`). */
  sessionId?: string;
}

/** Where a request reports what became of it: the dispatcher. */
export interface RequestOwner {
  callEnded(request: Request, error: SnakepitError | undefined, value: unknown): void;
  requeue(request: Request, error: SnakepitError): void;
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

  constructor(
    private readonly dispatcher: RequestOwner,
    readonly tool: string,
    readonly args: WireValue,
    readonly resolveCaller: (value: unknown) => void,
    readonly rejectCaller: (error: SnakepitError) => void,
    readonly onChunk: ((value: unknown) => void) | undefined,
    readonly submittedAt: number,
    readonly sessionId: string | undefined,
  ) {}

  resolve(value: unknown): void {
    this.dispatcher.callEnded(this, undefined, value);
  }

  reject(error: SnakepitError): void {
    this.dispatcher.callEnded(this, error, undefined);
  }

  unstarted(error: SnakepitError): void {
    this.dispatcher.requeue(this, error);
  }

  chunk(value: unknown): void {
    if (!this.settled) this.onChunk?.(value);
  }

  cancelOnWorker(): void {
    this.connection?.cancel(this.callId);
  }
}
