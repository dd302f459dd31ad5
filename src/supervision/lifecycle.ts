// Turns what the machines announce — a worker entering a state, a pool's milestones, the
// root's decisions — into the public lifecycle events, and keeps each pool's dispatcher in step
// with its workers (which are routable, over which connection).
import type { EventEmitter } from 'eventemitter3';
import type { PoolAnnouncement, PoolContext } from '../../machines/pool.machine.js';
import type { SupervisorAnnouncement } from '../../machines/supervisor.machine.js';
import {
  isRecycleReason, type RetireReason, type WorkerContext, type WorkerEvent, type WorkerStateName,
} from '../../machines/worker.machine.js';
import type { ResolvedConfig } from '../config.js';
import type { Dispatcher } from '../calls/dispatcher.js';
import { ShuttingDownError } from '../errors.js';
import type { SnakepitEvents } from '../events.js';
import type { Failures } from './failures.js';
import type { Recycler } from './recycler.js';

/**
 * A remote pool's worker whose server drains or leaves the endpoints is retired from the moment
 * it is told to drain: `worker:recycling` is announced then, not once its calls have ended.
 */
const DECIDED_AT_DRAIN: readonly RetireReason[] = ['server_draining', 'endpoint_removed'];

/**
 * `worker:recycling` is emitted once per retirement, when it is decided: a recycle as the pool
 * takes it (and starts the replacement), a remote worker's retirement as it is told to drain,
 * and a restart or a pool's end as the worker is killed. A stop (`shutdown`) is not a recycle.
 */
function announcedOnEntry(state: 'draining' | 'recycling', reason: RetireReason): boolean {
  if (reason === 'shutdown' || isRecycleReason(reason)) return false;
  return DECIDED_AT_DRAIN.includes(reason) === (state === 'draining');
}

export class LifecycleReporter {
  private readonly workerStartedAt = new Map<string, number>();
  private readonly poolStartedAt = new Map<string, number>();

  constructor(
    private readonly events: EventEmitter<SnakepitEvents>,
    private readonly dispatchers: Map<string, Dispatcher>,
    private readonly recyclers: Map<string, Recycler>,
    private readonly supervisor: ResolvedConfig['supervisor'],
    private readonly failures: Failures,
  ) {}

  heartbeatMissed(pool: string, workerId: string, missed: number, error: Error): void {
    const slot = this.dispatchers.get(pool)!.slot(workerId);
    if (!slot) return;
    this.events.emit('worker:heartbeat-missed', {
      pool, workerId, pid: slot.pid, at: Date.now(), missed, error: error.message,
    });
  }

  workerEntered(context: WorkerContext, state: WorkerStateName, send: (event: WorkerEvent) => void): void {
    const dispatcher = this.dispatchers.get(context.pool)!;
    const known = dispatcher.slot(context.id);
    const slot = known ?? dispatcher.addSlot(context.id, state, send);
    const left = slot.entered(state, context);
    const from = known ? left : undefined;
    const base = { pool: context.pool, workerId: context.id, pid: slot.pid, at: Date.now() };
    this.events.emit('worker:state', { ...base, from, to: state });
    switch (state) {
      case 'starting':
        this.workerStartedAt.set(context.id, performance.now());
        this.events.emit('worker:starting', { ...base, pid: undefined, restarts: context.restarts });
        break;
      case 'ready':
        if (from === 'starting') {
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
      case 'draining': {
        dispatcher.releasePinned(slot);
        const reason = context.retireReason ?? 'shutdown';
        if (announcedOnEntry(state, reason)) this.events.emit('worker:recycling', { ...base, reason });
        this.events.emit('worker:draining', { ...base, reason });
        slot.noteDrained(); // it may have nothing left to wait for already
        break;
      }
      case 'recycling': {
        dispatcher.releasePinned(slot);
        const reason = context.retireReason ?? 'shutdown';
        if (announcedOnEntry(state, reason)) this.events.emit('worker:recycling', { ...base, reason });
        break;
      }
      case 'crashed': {
        dispatcher.releasePinned(slot, context.exit);
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
        dispatcher.releasePinned(slot);
        this.recyclers.get(context.pool)!.workerGone(slot);
        this.failures.workerStopped(context.id);
        dispatcher.removeSlot(slot);
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
        // A remote pool's capacity is known once its servers say it (0 until then).
        this.events.emit('pool:starting', { pool, at, poolSize: context.poolSize, capacity: this.dispatchers.get(pool)!.capacity });
        break;
      case 'batch': {
        const first = (context.batches - 1) * context.startupBatchSize;
        const workerIds = context.workers.slice(first, context.spawned).map((w) => w.id);
        const batches = Math.ceil(context.poolSize / context.startupBatchSize);
        this.events.emit('pool:batch', { pool, at, batch: context.batches, batches, workerIds });
        break;
      }
      case 'ready': {
        const startupMs = performance.now() - (this.poolStartedAt.get(pool) ?? performance.now());
        const dispatcher = this.dispatchers.get(pool)!;
        const emit = () => this.events.emit('pool:ready', { pool, at, workers: context.poolSize, capacity: dispatcher.capacity, startupMs });
        // A remote pool's capacity is what its servers stated, counted once the last worker's
        // own ready (which records it) has been committed, right after this.
        if (context.endpoints) queueMicrotask(emit);
        else emit();
        break;
      }
      case 'failed': {
        // Queued calls stay queued: the root supervisor may restart this pool.
        const error = this.failures.poolFailed(context);
        this.events.emit('pool:failed', { pool, at, reason: context.failure!.reason, error });
        break;
      }
      case 'recycle': {
        // The pool has just taken the request and started the replacement: this is the decision.
        const decided = Object.values(context.replacing).find((r) => r.oldId === workerId);
        const slot = this.dispatchers.get(pool)!.slot(workerId!);
        if (decided && slot) this.events.emit('worker:recycling', { pool, workerId: slot.id, pid: slot.pid, at, reason: decided.reason });
        break;
      }
      case 'restart': {
        const slot = workerId ? this.dispatchers.get(pool)!.slot(workerId) : undefined;
        this.events.emit('supervisor:restart', {
          pool, at, level: 'pool', workerId, pid: slot?.pid, strategy: context.restart.strategy,
          restartsInWindow: context.restartWindow.length,
        });
        break;
      }
    }
  }

  supervisorAnnounced(announcement: SupervisorAnnouncement): void {
    switch (announcement.what) {
      case 'drain_expired':
        // The calls still queued are given up; those in flight fail as their workers are killed.
        for (const dispatcher of this.dispatchers.values()) dispatcher.close(new ShuttingDownError());
        break;
      case 'pool_escalated': {
        const at = Date.now();
        this.events.emit('supervisor:escalation', {
          pool: announcement.pool, at, level: 'pool', reason: announcement.failure.reason, error: this.failures.pool(announcement.pool)!,
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
        const failure = this.failures.rootGaveUp(announcement.pool, intensity, periodMs);
        for (const dispatcher of this.dispatchers.values()) dispatcher.close(failure);
        const at = Date.now();
        this.events.emit('supervisor:escalation', {
          pool: announcement.pool, at, level: 'pool', reason: announcement.failure.reason, error: this.failures.pool(announcement.pool)!,
        });
        this.events.emit('supervisor:escalation', {
          pool: announcement.pool, at, level: 'root', reason: announcement.failure.reason, error: failure,
        });
        break;
      }
    }
  }
}
