// Turns what the machines announce — a worker entering a state, a pool's milestones, the
// root's decisions — into the dispatcher's worker slots and the public lifecycle events, and
// keeps the error objects (which never enter a machine) that failures are reported with.
import type { EventEmitter } from 'eventemitter3';
import type { PoolAnnouncement, PoolContext, PoolFailure } from '../machines/pool.machine.js';
import type { RuntimeAnnouncement } from '../machines/runtime.machine.js';
import { isRecycleReason, type RetireReason, type WorkerContext, type WorkerStateName } from '../machines/worker.machine.js';
import type { ResolvedConfig } from './config.js';
import type { Dispatcher, LoadEvent, WorkerSlot } from './dispatcher.js';
import {
  MaxRestartsExceededError,
  ShuttingDownError,
  type SnakepitError,
  StartupFailedError,
  WorkerCrashedError,
} from './errors.js';
import type { SnakepitEvents } from './events.js';
import type { LiveWorkers } from './liveWorkers.js';
import type { Recycler } from './recycler.js';

export class LifecycleReporter {
  readonly slots = new Map<string, WorkerSlot>();
  /** Set when the root supervisor gave up: every call fails with it. */
  failure: SnakepitError | undefined;
  private readonly workerStartedAt = new Map<string, number>();
  private readonly poolStartedAt = new Map<string, number>();
  private readonly poolErrors = new Map<string, SnakepitError>();
  /** The error of each worker's last failed boot, for the pool error that reports it. */
  private readonly bootErrors = new Map<string, unknown>();

  constructor(
    private readonly events: EventEmitter<SnakepitEvents>,
    private readonly dispatchers: Map<string, Dispatcher>,
    private readonly recyclers: Map<string, Recycler>,
    private readonly supervisor: ResolvedConfig['supervisor'],
    private readonly live: LiveWorkers,
  ) {}

  /** The error a pool failed with (kept here: errors never enter a machine's context). */
  poolError(pool: string): SnakepitError | undefined {
    return this.poolErrors.get(pool);
  }

  bootFailed(workerId: string, error: unknown): void {
    this.bootErrors.set(workerId, error);
  }

  heartbeatMissed(workerId: string, missed: number, error: Error): void {
    const slot = this.slots.get(workerId);
    if (!slot) return;
    this.events.emit('worker:heartbeat-missed', {
      pool: slot.pool, workerId, pid: slot.pid, at: Date.now(), missed, error: error.message,
    });
  }

  /** What calls held by a worker that is being ended fail with, by why it is ended. */
  retireError(poolName: string, workerId: string, reason: RetireReason): SnakepitError | undefined {
    const slot = this.slots.get(workerId);
    switch (reason) {
      case 'shutdown':
        return new ShuttingDownError();
      case 'pool_failed':
        return this.poolErrors.get(poolName);
      case 'pool_restart':
      case 'restart':
        return new WorkerCrashedError(workerId, slot?.pid, { exitCode: null, signal: 'SIGTERM' });
      default:
        return undefined; // a recycled worker has drained: nothing is in flight
    }
  }

  /**
   * A recycle under way ends when its worker stops: done if the worker was replaced (or its
   * pool restarted), failed when the runtime stops or the pool gave up first.
   */
  recycleFailure(context: WorkerContext): SnakepitError | undefined {
    const reason = context.retireReason;
    if (isRecycleReason(reason) || reason === undefined || reason === 'pool_restart') return undefined;
    if (reason === 'shutdown') return new ShuttingDownError();
    return this.retireError(context.pool, context.id, reason);
  }

  workerEntered(
    context: WorkerContext,
    state: WorkerStateName,
    send: (event: LoadEvent) => void,
  ): void {
    const dispatcher = this.dispatchers.get(context.pool)!;
    let slot = this.slots.get(context.id);
    const from = slot?.state;
    if (!slot) {
      slot = {
        id: context.id, pool: context.pool, pid: undefined, state, inFlight: 0, capacity: context.capacity,
        requests: 0, restarts: 0, gilEnabled: undefined, connection: undefined, notify: send,
        reportedInFlight: 0, loadReportPending: false, startedCalls: 0, callLimit: Infinity, recycleRequested: false,
      };
      this.slots.set(context.id, slot);
      dispatcher.slots.push(slot);
    }
    slot.state = state;
    slot.notify = send;
    slot.restarts = context.restarts;
    if (context.pid !== undefined) slot.pid = context.pid;
    const base = { pool: context.pool, workerId: context.id, pid: slot.pid, at: Date.now() };
    this.events.emit('worker:state', { ...base, from, to: state });
    switch (state) {
      case 'starting':
        slot.connection = undefined;
        slot.pid = undefined;
        this.workerStartedAt.set(context.id, performance.now());
        this.events.emit('worker:starting', { ...base, pid: undefined, restarts: context.restarts });
        break;
      case 'ready':
        if (from === 'starting') {
          const handle = this.live.get(context.id); // gone only if the process already died
          slot.connection = handle?.connection;
          slot.gilEnabled = handle?.ready.gil_enabled;
          slot.inFlight = 0;
          slot.reportedInFlight = 0;
          const startupMs = performance.now() - (this.workerStartedAt.get(context.id) ?? performance.now());
          this.events.emit('worker:ready', { ...base, startupMs, gilEnabled: slot.gilEnabled });
          if (context.restarts > 0) this.events.emit('worker:restarted', { ...base, restarts: context.restarts });
          this.recyclers.get(context.pool)!.workerReady(slot);
        } else {
          this.events.emit('worker:idle', base);
        }
        dispatcher.schedulePump();
        break;
      case 'busy':
        this.events.emit('worker:busy', { ...base, inFlight: slot.inFlight });
        break;
      case 'draining':
        this.events.emit('worker:draining', { ...base, reason: context.retireReason ?? 'shutdown' });
        break;
      case 'recycling':
        if (context.retireReason !== 'shutdown') this.events.emit('worker:recycling', { ...base, reason: context.retireReason ?? 'manual' });
        break;
      case 'crashed': {
        slot.connection = undefined;
        this.recyclers.get(context.pool)!.workerGone(slot);
        this.events.emit('worker:crashed', {
          ...base,
          exitCode: context.exit?.exitCode ?? null,
          signal: context.exit?.signal ?? null,
          reason: context.crashReason ?? 'exited',
        });
        break;
      }
      case 'stopped':
        slot.connection = undefined;
        this.recyclers.get(context.pool)!.workerGone(slot);
        this.bootErrors.delete(context.id);
        this.slots.delete(context.id);
        dispatcher.slots.splice(dispatcher.slots.indexOf(slot), 1);
        this.events.emit('worker:stopped', base);
        break;
    }
  }

  poolAnnounced(context: PoolContext, what: PoolAnnouncement, workerId: string | undefined): void {
    const pool = context.name;
    const at = Date.now();
    switch (what) {
      case 'starting':
        this.poolStartedAt.set(pool, performance.now());
        this.events.emit('pool:starting', { pool, at, poolSize: context.poolSize, capacity: context.poolSize * context.workerCapacity });
        break;
      case 'batch': {
        const first = (context.batches - 1) * context.startupBatchSize;
        const workerIds = context.workers.slice(first, context.spawned).map((w) => w.id);
        const batches = Math.ceil(context.poolSize / context.startupBatchSize);
        this.events.emit('pool:batch', { pool, at, batch: context.batches, batches, workerIds });
        break;
      }
      case 'ready':
        this.events.emit('pool:ready', {
          pool, at, workers: context.poolSize, capacity: context.poolSize * context.workerCapacity,
          startupMs: performance.now() - (this.poolStartedAt.get(pool) ?? performance.now()),
        });
        break;
      case 'failed': {
        // Queued calls stay queued: the root supervisor may restart this pool.
        const error = this.failureError(context, context.failure!);
        this.poolErrors.set(pool, error);
        this.events.emit('pool:failed', { pool, at, reason: context.failure!.reason, error });
        break;
      }
      case 'restart': {
        const slot = workerId ? this.slots.get(workerId) : undefined;
        this.events.emit('supervisor:restart', {
          pool, at, level: 'pool', workerId, pid: slot?.pid, strategy: context.restart.strategy,
          restartsInWindow: context.restartWindow.length,
        });
        break;
      }
    }
  }

  runtimeAnnounced(announcement: RuntimeAnnouncement): void {
    switch (announcement.what) {
      case 'drain_expired':
        // The calls still queued are given up; those in flight fail as their workers are killed.
        for (const dispatcher of this.dispatchers.values()) dispatcher.close(new ShuttingDownError());
        break;
      case 'pool_escalated': {
        const at = Date.now();
        this.events.emit('supervisor:escalation', {
          pool: announcement.pool, at, level: 'pool', reason: announcement.failure.reason, error: this.poolErrors.get(announcement.pool)!,
        });
        for (const pool of announcement.restarting) {
          this.events.emit('supervisor:restart', {
            pool, at, level: 'root', strategy: this.supervisor.strategy, restartsInWindow: announcement.restartsInWindow,
          });
        }
        break;
      }
      case 'escalation': {
        const { intensity, periodMs } = this.supervisor;
        this.failure = new MaxRestartsExceededError(announcement.pool, intensity, periodMs, 'root');
        for (const dispatcher of this.dispatchers.values()) dispatcher.close(this.failure);
        this.events.emit('supervisor:escalation', {
          pool: announcement.pool, at: Date.now(), level: 'pool', reason: announcement.failure.reason, error: this.poolErrors.get(announcement.pool)!,
        });
        this.events.emit('supervisor:escalation', {
          pool: announcement.pool, at: Date.now(), level: 'root', reason: announcement.failure.reason, error: this.failure,
        });
        break;
      }
    }
  }

  private failureError(context: PoolContext, failure: PoolFailure): SnakepitError {
    switch (failure.reason) {
      case 'max_restarts':
        return new MaxRestartsExceededError(context.name, context.restart.intensity, context.restart.periodMs);
      case 'startup_timeout':
        return new StartupFailedError(
          `Pool "${context.name}" was not ready within startupTimeoutMs (${context.startupTimeoutMs} ms).`,
          { pool: context.name },
        );
      case 'startup_failed': {
        const cause = this.bootErrors.get(failure.workerId);
        if (cause instanceof StartupFailedError) return cause;
        return new StartupFailedError(`Worker ${failure.workerId} of pool "${context.name}" failed during start-up: ${failure.message}`, {
          pool: context.name,
          workerId: failure.workerId,
        });
      }
    }
  }
}
