// One worker as its pool's dispatcher routes to it, and the only place its per-worker facts
// change. Its load (calls in flight, stuck, finished, started on the current process) is counted
// here as calls start and end; state, pid and capacity are the worker actor's, handed over after
// each committed transition; its live handle (the connection) is attached when it boots and
// dropped when it exits. Everyone else reads the getters and calls the methods.
import type { WorkerEvent, WorkerStateName } from '../../machines/worker.machine.js';
import type { LiveWorker } from '../process/liveWorker.js';
import type { WorkerConnection } from '../wire/workerConnection.js';
import type { Request } from './calls.js';
import { Fifo } from './fifo.js';

/** The longest the worker machine's busy/ready may lag the slot's count of calls. */
const LOAD_REPORT_MS = 10;
const DRAINED: WorkerEvent = { type: 'DRAINED' };

/** What the worker actor knows of itself that routing copies. */
export interface ActorFacts {
  pid: number | undefined;
  capacity: number;
  /** Why it leaves, once it does: 'restart' when its pool restarts it with the others (same id). */
  retireReason?: string;
}

export class WorkerSlot {
  /** Calls of strict sessions bound to this worker, waiting for room on it. */
  readonly pinned = new Fifo<Request>();
  private currentState: WorkerStateName;
  private currentPid: number | undefined;
  /** 0 until it is first ready: a bridge server states its own when it connects. */
  private places = 0;
  private handle: LiveWorker | undefined;
  private calls = 0;
  private stuckCalls = 0;
  private finished = 0;
  private startedHere = 0;
  private limit = Infinity;
  private reportedInFlight = 0;
  private reportPending = false;
  private gone = false;
  private restartedWithPool = false;

  constructor(
    readonly id: string,
    readonly pool: string,
    /** Calls it may hold beyond its capacity, waiting in the worker behind the running one. */
    readonly prefetch: number,
    state: WorkerStateName,
    /** Tells the worker's actor its load (LOAD, for busy/ready) and the end of its drain (DRAINED). */
    private readonly notify: (event: WorkerEvent) => void,
  ) {
    this.currentState = state;
  }

  get state(): WorkerStateName {
    return this.currentState;
  }

  /** Ended to be started again under its id because its pool restarts its workers together (one_for_all, rest_for_one). */
  get restarting(): boolean {
    return this.restartedWithPool;
  }

  get pid(): number | undefined {
    return this.currentPid;
  }

  /** Calls it runs at once. */
  get capacity(): number {
    return this.places;
  }

  /** Calls sent to it and not yet done with, those sent ahead included. */
  get inFlight(): number {
    return this.calls;
  }

  /** Of the calls in flight, those given up on and still running past cancelGraceMs. */
  get stuck(): number {
    return this.stuckCalls;
  }

  /** Calls it finished, across restarts. */
  get requests(): number {
    return this.finished;
  }

  /** Calls started on its current process, and how many it may start (workerMaxRequests). */
  get startedCalls(): number {
    return this.startedHere;
  }

  get callLimit(): number {
    return this.limit;
  }

  /** The running process (or bridge server connection), from its boot until its exit. */
  get live(): LiveWorker | undefined {
    return this.handle;
  }

  get connection(): WorkerConnection | undefined {
    return this.handle?.connection;
  }

  get gilEnabled(): boolean | undefined {
    return this.handle?.gilEnabled;
  }

  /**
   * The worker actor entered `state` (after the transition was committed). A worker ready after
   * starting is a new process: its capacity is the one it booted with and its count starts afresh.
   * Returns the state it left.
   */
  entered(state: WorkerStateName, facts: ActorFacts): WorkerStateName {
    const from = this.currentState;
    this.currentState = state;
    if (facts.pid !== undefined) this.currentPid = facts.pid;
    if (state === 'starting') this.currentPid = undefined;
    this.restartedWithPool = state === 'recycling' && facts.retireReason === 'restart';
    if (state === 'ready' && from === 'starting') {
      this.places = facts.capacity;
      this.calls = 0;
      this.stuckCalls = 0;
      this.reportedInFlight = 0;
    }
    return from;
  }

  /** Its process booted: calls go over this handle's connection until it exits. */
  attach(handle: LiveWorker): void {
    this.handle = handle;
    handle.exited.then(() => {
      if (this.handle === handle) this.handle = undefined;
    });
  }

  /** The worker left its pool: it is told nothing more. */
  remove(): void {
    this.gone = true;
  }

  /** Its process may start `limit` calls (workerMaxRequests, staggered), counted from now. */
  limitCalls(limit: number): void {
    this.startedHere = 0;
    this.limit = limit;
  }

  callStarted(): void {
    this.calls++;
    this.startedHere++;
    this.reportLoad();
  }

  /** A call left it: done with (`finished`), or handed back unstarted; `stuck` if it was marked so. */
  callLeft(stuck: boolean, finished: boolean): void {
    if (stuck) this.stuckCalls--;
    this.calls--;
    if (finished) this.finished++;
    this.reportLoad();
  }

  /** A call given up on still runs past cancelGraceMs: no call is routed here any more. */
  callStuck(): void {
    this.stuckCalls++;
    this.noteDrained();
  }

  /**
   * A draining worker with nothing left to wait for (stuck calls would never end) retires: told
   * as it starts to drain, and by the dispatcher once a call that left it has been settled.
   */
  noteDrained(): void {
    if (this.currentState === 'draining' && this.calls <= this.stuckCalls && !this.gone) this.notify(DRAINED);
  }

  /**
   * The count is the truth, updated synchronously; the worker actor hears it at most every
   * LOAD_REPORT_MS, and only if it changed, to show `busy` or `ready`: a worker serving thousands
   * of short calls a second costs a few state transitions (and busy/idle events) a second, not
   * two per call — about a tenth of a sequential call's CPU in Node.
   */
  private reportLoad(): void {
    if (this.reportPending) return;
    this.reportPending = true;
    setTimeout(() => {
      this.reportPending = false;
      if (this.calls === this.reportedInFlight || this.gone) return;
      this.reportedInFlight = this.calls;
      this.notify({ type: 'LOAD', inFlight: this.calls });
    }, LOAD_REPORT_MS);
  }
}
