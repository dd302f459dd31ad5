// The hot path of a pool: a call goes to the least-loaded worker with room, or waits in FIFO
// order (bounded by maxQueue and queueTimeoutMs) until one frees up. Deadlines and abort
// signals settle the caller at once and cancel the call on the worker; the worker's slot frees
// only when Python is done with it, so capacity is never over-committed.
import type { EventEmitter } from 'eventemitter3';
import type { WorkerEvent, WorkerExitInfo, WorkerStateName } from '../../machines/worker.machine.js';
import type { PoolConfig } from '../config.js';
import { encodeCallArguments } from './callArguments.js';
import { chainDeadlock, chainWaited, currentChain } from './callChains.js';
import { CallReports, endSpan, toProgress } from './callReports.js';
import {
  AbortedError,
  ErrorCode,
  PoolSaturatedError,
  QueueTimeoutError,
  ShuttingDownError,
  SnakepitError,
  WorkerCrashedError,
} from '../errors.js';
import type { SnakepitEvents } from '../events.js';
import { hasRoom, isFree, isRoutable, pickWorker } from './balancing.js';
import {
  type BroadcastOptions,
  type BroadcastResult,
  type CallOptions,
  type DispatchObserver,
  Request,
  type RequestOwner,
  type StreamSink,
} from './calls.js';
import type { CallTotals } from '../observe/callTotals.js';
import { Fifo } from './fifo.js';
import { broadcastSignal, broadcastTargets, pinnedCallLost, pinnedWorker, sessionElsewhere } from './pinning.js';
import { SessionAffinity } from './affinity.js';
import type { CallTracer } from '../observe/tracing.js';
import { type PoolStats, StatsRecorder } from '../observe/stats.js';
import type { WireValue } from '../wire/codec.js';
import { inOneFrame } from '../wire/frameBatch.js';
import { WorkerSlot } from './workerSlot.js';

export class Dispatcher implements RequestOwner {
  /** The workers this pool routes to, in the order they joined. */
  private readonly slots: WorkerSlot[] = [];
  private readonly queue = new Fifo<Request>();
  /** Calls waiting in workers' pinned queues (strict sessions), all workers together. */
  private pinnedCount = 0;
  private readonly sessions: SessionAffinity;
  private readonly stats = new StatsRecorder();
  private closedWith: SnakepitError | undefined;
  /** Set by close(): queued calls were refused, so none may be queued again. */
  private queueClosed = false;
  /** Set while draining: called once no call is queued or in flight. */
  private whenDrained: (() => void) | undefined;
  private pumpScheduled = false;
  /** Set once the runtime found @opentelemetry/api: each call then gets a span. */
  tracer: CallTracer | undefined;

  private readonly reports: CallReports;

  constructor(
    readonly config: PoolConfig,
    events: EventEmitter<SnakepitEvents>,
    private readonly observer: DispatchObserver,
  ) {
    this.reports = new CallReports(config.name, events);
    this.sessions = new SessionAffinity(config, (workerId) => this.slot(workerId), (sessionId, from, to) => this.reports.sessionMoved(sessionId, from, to));
  }

  slot(workerId: string): WorkerSlot | undefined {
    return this.slots.find((slot) => slot.id === workerId);
  }

  /** A worker joins: it takes calls once its state is ready and it has a connection. */
  addSlot(workerId: string, state: WorkerStateName, notify: (event: WorkerEvent) => void): WorkerSlot {
    const slot = new WorkerSlot(workerId, this.config.name, this.config.prefetch, state, notify);
    this.slots.push(slot);
    return slot;
  }

  removeSlot(slot: WorkerSlot): void {
    this.slots.splice(this.slots.indexOf(slot), 1);
    slot.remove();
  }

  /**
   * Calls the pool runs at once: poolSize × threadsPerWorker; in a remote pool, what its bridge
   * servers stated as they connected (0 before any did). The one place it is computed.
   */
  get capacity(): number {
    if (this.config.workerProfile !== 'remote') return this.config.poolSize * this.config.threadsPerWorker;
    let total = 0;
    for (const slot of this.slots) total += slot.capacity;
    return total;
  }

  /** Call places free right now on workers that take calls. */
  get available(): number {
    let free = 0;
    for (const slot of this.slots) if (isRoutable(slot)) free += Math.max(0, slot.capacity - slot.inFlight);
    return free;
  }

  /** Workers that take calls right now. */
  get routable(): number {
    return this.slots.filter(isRoutable).length;
  }

  get queued(): number {
    return this.queue.size + this.pinnedCount;
  }

  get inFlight(): number {
    let total = 0;
    for (const slot of this.slots) total += slot.inFlight;
    return total;
  }

  /**
   * Runs a call, or queues it behind the calls already waiting (first come, first served). The
   * arguments are checked and encoded first, so a bad one fails this call alone, before it
   * holds a queue place or a worker.
   */
  submit(tool: string, args: object, options: CallOptions, stream?: StreamSink): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.stats.requests++;
      const wire = this.refusal(tool, options) ?? encodeCallArguments(tool, args, this.config);
      if (wire instanceof SnakepitError) return this.refuse(tool, reject, wire);
      this.accept(tool, wire, options, resolve, reject, stream);
    });
  }

  /**
   * Runs the call once on every worker that takes calls now, each call made for its worker
   * (`workerId`), the arguments encoded once; resolves when all have settled, in the workers'
   * order. No worker serving: `[]`. A refused call or bad arguments reject the whole broadcast.
   */
  broadcast(tool: string, args: object, options: BroadcastOptions): Promise<BroadcastResult[]> {
    const wire = this.refusal(tool, options) ?? encodeCallArguments(tool, args, this.config);
    if (wire instanceof SnakepitError) {
      this.stats.requests++;
      return new Promise((_, reject) => this.refuse(tool, reject, wire));
    }
    const targets = broadcastTargets(this.slots);
    const { signal, release } = broadcastSignal(options.signal, targets.length);
    const calls = targets.map(({ id: workerId }) =>
      new Promise((resolve, reject) => {
        this.stats.requests++;
        this.accept(tool, wire, { ...options, signal, workerId }, resolve, reject, undefined);
      }).then(
        (value): BroadcastResult => ({ workerId, ok: true, value }),
        (error: SnakepitError): BroadcastResult => ({ workerId, ok: false, error }),
      ),
    );
    return Promise.all(calls).finally(release);
  }

  /** Why no call is taken now: the pool is closed, or the caller's signal already aborted. */
  private refusal(tool: string, options: CallOptions): SnakepitError | undefined {
    if (this.closedWith) return this.closedWith;
    if (options.signal?.aborted) return new AbortedError(tool, options.signal.reason);
    return undefined;
  }

  /**
   * Runs an encoded call on the worker it must run on (made for one, or a strict session's),
   * else its session's worker or the least-loaded one; or queues it.
   */
  private accept(
    tool: string,
    wire: WireValue,
    options: CallOptions,
    resolve: (value: unknown) => void,
    reject: (error: SnakepitError) => void,
    stream: StreamSink | undefined,
  ): void {
    const bound = options.sessionId === undefined ? undefined : this.sessions.worker(options.sessionId);
    const pinnedTo = options.workerId === undefined ? undefined : pinnedWorker(this.slots, this.config.name, tool, options.workerId);
    if (pinnedTo instanceof SnakepitError) return this.refuse(tool, reject, pinnedTo);
    if (pinnedTo && bound && bound !== pinnedTo) return this.refuse(tool, reject, sessionElsewhere(tool, options.sessionId!, bound, pinnedTo));
    const chain = currentChain();
    const nested = chain !== undefined;
    const request = new Request(this, tool, wire, resolve, reject, stream, performance.now(), options, chain);
    if (stream) stream.grant = (chunks) => request.grant(chunks);
    if (this.tracer) request.span = this.tracer.startSpan(`snakepit.call ${tool}`, { attributes: { 'snakepit.pool': this.config.name, 'snakepit.tool': tool } });
    this.watchDeadline(request, options);
    // Its worker or nothing, after the calls already waiting for it.
    const only = pinnedTo ?? (this.config.affinity === 'strict' ? bound : undefined);
    let slot: WorkerSlot | undefined;
    if (only) {
      if (only.pinned.size === 0 && (nested ? isFree(only) : hasRoom(only))) slot = only;
    } else if (this.queue.size === 0) {
      slot = bound && isFree(bound) ? bound : pickWorker(this.slots, !nested);
    }
    if (slot) return this.run(request, slot);
    // A nested call made for one worker can only ever get that worker's places.
    const deadlock = chain && (pinnedTo
      ? chainDeadlock(tool, this.config.name, chain, [pinnedTo], pinnedTo.capacity)
      : chainDeadlock(tool, this.config.name, chain, this.slots, this.capacity));
    if (deadlock) return this.settle(request, deadlock);
    if (this.queued >= this.config.maxQueue) {
      return this.settle(request, new PoolSaturatedError(this.config.name, this.config.maxQueue));
    }
    this.enqueue(request, only ? only.pinned : this.queue);
  }

  private refuse(tool: string, reject: (e: SnakepitError) => void, error: SnakepitError): void {
    this.stats.settled(tool, error.code);
    this.reports.failed(tool, error, undefined);
    reject(error);
  }

  /** Arms the call's deadline, abort signal and queue timeout; all disarmed on settle. */
  private watchDeadline(request: Request, options: CallOptions): void {
    const timeoutMs = options.timeoutMs ?? this.config.requestTimeoutMs;
    const { signal } = options;
    let deadline: NodeJS.Timeout | undefined;
    if (timeoutMs !== undefined) {
      request.deadlineAt = request.submittedAt + timeoutMs;
      deadline = setTimeout(() => this.deadlinePassed(request), timeoutMs);
    }
    const onAbort = () => this.giveUp(request, new AbortedError(request.tool, signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (deadline || signal) {
      request.cleanup = () => {
        if (deadline) clearTimeout(deadline);
        signal?.removeEventListener('abort', onAbort);
      };
    }
  }

  deadlinePassed(request: Request): void {
    this.giveUp(request, request.timeoutError());
  }

  /**
   * The caller stops waiting: a queued call leaves its queue; a running one is cancelled on the
   * worker (ctx.cancelled turns true) and keeps its place until Python is done with it. If it
   * still runs after cancelGraceMs it is stuck, and its worker is replaced.
   */
  private giveUp(request: Request, error: SnakepitError): void {
    if (request.settled) return;
    this.unqueue(request);
    if (request.slot) {
      request.cancelOnWorker();
      request.graceTimer = setTimeout(() => this.markStuck(request), this.config.cancelGraceMs);
    }
    this.settle(request, error);
  }

  private markStuck(request: Request): void {
    request.graceTimer = undefined;
    const slot = request.slot;
    if (!slot) return;
    request.stuck = true;
    slot.callStuck(); // no call is routed here any more (isRoutable)
    request.connection?.reclaimBehind(request.callId);
    this.observer.callStuck(slot);
  }

  /** The call left its worker (`finished` there, or handed back): its grace timer and stuck mark go. */
  private leaveWorker(request: Request, slot: WorkerSlot, finished: boolean): void {
    if (request.graceTimer) clearTimeout(request.graceTimer);
    request.graceTimer = undefined;
    slot.callLeft(request.stuck, finished);
    request.stuck = false;
    request.slot = undefined;
  }

  /**
   * Queues a call: in the pool's queue or a worker's pinned one; at the tail, or at the head for
   * one handed back by a dead worker.
   */
  private enqueue(request: Request, fifo = this.queue, atHead = false): void {
    request.entry = atHead ? fifo.unshift(request) : fifo.push(request);
    request.waitsIn = fifo;
    if (fifo !== this.queue) this.pinnedCount++;
    const { chain } = request;
    const waitMs = chain ? Math.min(this.config.queueTimeoutMs, this.config.nestedQueueTimeoutMs) : this.config.queueTimeoutMs;
    request.queueTimer = setTimeout(() => {
      request.queueTimer = undefined;
      if (request.settled || !request.entry) return;
      this.stats.queueTimeouts++;
      this.giveUp(request, chain ? chainWaited(request.tool, this.config.name, chain, waitMs) : new QueueTimeoutError(this.config.name, waitMs));
    }, waitMs);
    this.reports.queued(request.tool, this.queued);
  }

  /** Takes a waiting call out of whichever queue holds it. */
  private unqueue(request: Request): void {
    if (!request.entry) return;
    request.waitsIn!.remove(request.entry);
    if (request.waitsIn !== this.queue) this.pinnedCount--;
    request.entry = undefined;
    request.waitsIn = undefined;
  }

  /**
   * A worker stops taking calls (draining, crashed, stopped): the calls pinned to it by their
   * strict session go to the head of the pool's queue, oldest first, and their sessions move to
   * whichever worker runs them; those made for it alone (`workerId`) fail, oldest first.
   */
  releasePinned(slot: WorkerSlot, exit?: WorkerExitInfo): void {
    if (slot.pinned.size === 0) return;
    const waiting = slot.pinned.drain();
    this.pinnedCount -= waiting.length;
    for (const request of waiting) request.entry = request.waitsIn = undefined;
    for (const request of waiting.filter((r) => r.workerId !== undefined)) this.settle(request, this.closedWith ?? pinnedCallLost(slot, request.tool, exit));
    for (const request of waiting.filter((r) => r.workerId === undefined).reverse()) {
      request.entry = this.queue.unshift(request);
      request.waitsIn = this.queue;
    }
    this.schedulePump();
  }

  private run(request: Request, slot: WorkerSlot): void {
    if (request.sessionId !== undefined) this.sessions.bind(request.sessionId, slot);
    request.entry = undefined;
    request.waitsIn = undefined;
    if (request.queueTimer) {
      clearTimeout(request.queueTimer);
      request.queueTimer = undefined;
    }
    request.slot = slot;
    request.connection = slot.connection!;
    request.startedAt = performance.now();
    request.span?.setAttribute('snakepit.worker', slot.id);
    this.stats.started(request.startedAt - request.submittedAt);
    slot.callStarted();
    this.observer.callStarted(slot);
    this.reports.started(slot, request.tool, request.startedAt - request.submittedAt);
    const { deadlineAt } = request;
    const extras = {
      stream: request.stream !== undefined,
      window: request.stream?.highWaterMark,
      timeoutMs: deadlineAt === undefined ? undefined : Math.max(1, Math.ceil(deadlineAt - performance.now())),
      sessionId: request.sessionId,
    };
    try {
      request.callId = request.connection.call(request.tool, request.args, request, extras);
    } catch (error) {
      // Nothing thrown while sending may escape into the caller's process: fail this call alone.
      this.callEnded(request, new WorkerCrashedError(slot.id, slot.pid, { exitCode: null, signal: null }, error), undefined);
    }
  }

  /**
   * The worker died before it could have started this call (it was sent ahead): its place is
   * freed and the call goes back to the head of the queue, to run on another worker; one made
   * for this worker fails instead.
   */
  requeue(request: Request, error: SnakepitError): void {
    const slot = request.slot!;
    this.leaveWorker(request, slot, false);
    request.connection = undefined;
    if (request.settled) this.noteIfDrained();
    else if (this.queueClosed) this.settle(request, error);
    else if (request.workerId !== undefined) {
      // Made for this worker alone: it says why it will not run it (a crash says so itself).
      this.settle(request, error.code === ErrorCode.WORKER_CRASHED ? error : pinnedCallLost(slot, request.tool));
    } else {
      this.enqueue(request, this.queue, true);
      this.schedulePump();
    }
    slot.noteDrained();
  }

  /** The worker is done with a call (or died holding it): free its slot, settle the caller. */
  callEnded(request: Request, error: SnakepitError | undefined, value: unknown): void {
    const slot = request.slot!;
    this.leaveWorker(request, slot, true);
    this.observer.callEnded(slot);
    this.stats.ended(request.tool, request.startedAt - request.submittedAt, performance.now() - request.startedAt, error?.code);
    this.settle(request, error, value, slot);
    // The freed place goes to the longest-waiting call at once, before any newer call can take it.
    this.pump();
    this.noteIfDrained();
    slot.noteDrained();
  }

  private settle(request: Request, error: SnakepitError | undefined, value?: unknown, slot?: WorkerSlot): void {
    if (request.settled) return;
    request.settled = true;
    if (request.queueTimer) clearTimeout(request.queueTimer);
    request.cleanup?.();
    if (request.span) endSpan(request.span, error);
    this.noteIfDrained();
    if (error) {
      this.stats.settled(request.tool, error.code);
      this.reports.failed(request.tool, error, slot);
      request.rejectCaller(error);
      return;
    }
    this.stats.settled(request.tool, undefined, slot ? performance.now() - request.startedAt : undefined);
    if (slot) this.reports.completed(slot, request.tool, performance.now() - request.submittedAt, performance.now() - request.startedAt);
    request.resolveCaller(value);
  }

  /** A ctx.progress() report of a call its caller still waits for. */
  progressed(request: Request, value: unknown): void {
    const progress = toProgress(value);
    request.options.onProgress?.(progress); // guarded where the call was made (Snakepit.guarded)
    this.reports.progressed(request.slot, request.tool, progress);
  }

  /** Runs queued calls on free workers; batched to once per tick. */
  schedulePump(): void {
    if (this.pumpScheduled || this.queued === 0) return;
    this.pumpScheduled = true;
    process.nextTick(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    inOneFrame(() => {
      for (let next = this.nextToRun(); next; next = this.nextToRun()) {
        this.unqueue(next.request);
        this.run(next.request, next.slot);
      }
    });
  }

  /**
   * The longest-waiting call that can run now, and where: the head of the pool's queue on its
   * session's worker if that one is free, else the least-loaded; or, if older, the head of a
   * worker's pinned queue once that worker has room.
   */
  private nextToRun(): { request: Request; slot: WorkerSlot } | undefined {
    let next: { request: Request; slot: WorkerSlot } | undefined;
    const head = this.queue.peek();
    if (head) {
      const bound = head.sessionId === undefined ? undefined : this.sessions.worker(head.sessionId);
      const slot = bound && isFree(bound) ? bound : pickWorker(this.slots, !head.nested);
      if (slot) next = { request: head, slot };
    }
    if (this.pinnedCount > 0) {
      for (const slot of this.slots) {
        const pinned = slot.pinned.peek();
        if (!pinned || !(pinned.nested ? isFree(slot) : hasRoom(slot)) || (next && next.request.submittedAt <= pinned.submittedAt)) continue;
        next = { request: pinned, slot };
      }
    }
    return next;
  }

  /** From now on every call is refused with `error`; queued calls are refused too. */
  close(error: SnakepitError = new ShuttingDownError()): void {
    this.closedWith ??= error;
    this.queueClosed = true;
    for (const slot of this.slots) this.releasePinned(slot);
    for (const request of this.queue.drain()) {
      request.entry = undefined;
      request.waitsIn = undefined;
      this.settle(request, error);
    }
  }

  /** Refuses new calls but lets queued and in-flight ones run; `drained` is called once none is left. */
  closeIntake(error: SnakepitError, drained: () => void): void {
    this.closedWith ??= error;
    this.whenDrained = drained;
    this.noteIfDrained();
  }

  private noteIfDrained(): void {
    if (!this.whenDrained || this.queued > 0 || this.inFlight > 0) return;
    const drained = this.whenDrained;
    this.whenDrained = undefined;
    drained();
  }

  /** What the pool's calls came to since it was made: metrics() reads it at each scrape. */
  get callTotals(): CallTotals {
    return this.stats.totals;
  }

  /** Starts the pool's wait and run distributions and per-tool counts afresh. */
  resetStats(): void {
    this.stats.reset();
  }

  snapshot(): PoolStats {
    return this.stats.snapshot({ pool: this.config.name, queued: this.queued, sessions: this.sessions.size, inFlight: this.inFlight, capacity: this.capacity });
  }

}
