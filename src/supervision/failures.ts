// The error objects that failures are reported with. Errors never enter a machine's context
// (they are neither plain data nor safe to show), so they are kept here, by worker id and pool,
// and built from the plain reasons the machines hold.
import type { PoolContext } from '../../machines/pool.machine.js';
import { isRecycleReason, type RetireReason, type WorkerContext } from '../../machines/worker.machine.js';
import {
  MaxRestartsExceededError,
  ShuttingDownError,
  type SnakepitError,
  StartupFailedError,
  WorkerCrashedError,
} from '../errors.js';

export class Failures {
  /** Set when the root supervisor gave up: every call fails with it. */
  root: SnakepitError | undefined;
  private readonly pools = new Map<string, SnakepitError>();
  /** The error of each worker's last failed boot (a STARTUP_FAILED carries its stderr lines). */
  private readonly boots = new Map<string, unknown>();

  bootFailed(workerId: string, error: unknown): void {
    this.boots.set(workerId, error);
  }

  workerStopped(workerId: string): void {
    this.boots.delete(workerId);
  }

  /** The error a pool failed with, if it did. */
  pool(name: string): SnakepitError | undefined {
    return this.pools.get(name);
  }

  /** The pool gave up (its context says why): the error its calls and escalations report. */
  poolFailed(context: PoolContext): SnakepitError {
    const error = this.poolError(context);
    this.pools.set(context.name, error);
    return error;
  }

  rootGaveUp(pool: string, intensity: number, periodMs: number): SnakepitError {
    this.root = new MaxRestartsExceededError(pool, intensity, periodMs, 'root');
    return this.root;
  }

  /** What calls held by a worker that is being ended fail with, by why it is ended. */
  retire(pool: string, workerId: string, pid: number | undefined, reason: RetireReason): SnakepitError | undefined {
    switch (reason) {
      case 'shutdown':
        return new ShuttingDownError();
      case 'pool_failed':
        return this.pools.get(pool);
      case 'pool_restart':
      case 'restart':
        return new WorkerCrashedError(workerId, pid, { exitCode: null, signal: 'SIGTERM' });
      default:
        return undefined; // a recycled worker has drained: nothing is in flight
    }
  }

  /**
   * A recycle ends when its worker stops: done if the worker was replaced (or its pool
   * restarted), failed when the runtime stops or the pool gave up first.
   */
  recycle(final: WorkerContext): SnakepitError | undefined {
    const reason = final.retireReason;
    if (isRecycleReason(reason) || reason === undefined || reason === 'pool_restart') return undefined;
    return this.retire(final.pool, final.id, final.pid, reason);
  }

  private poolError(context: PoolContext): SnakepitError {
    const failure = context.failure!;
    switch (failure.reason) {
      case 'max_restarts':
        return new MaxRestartsExceededError(context.name, context.restart.intensity, context.restart.periodMs);
      case 'startup_timeout':
        return new StartupFailedError(
          `Pool "${context.name}" was not ready within startupTimeoutMs (${context.startupTimeoutMs} ms).`,
          { pool: context.name },
        );
      case 'startup_failed': {
        const cause = this.boots.get(failure.workerId);
        if (cause instanceof StartupFailedError) return cause;
        return new StartupFailedError(`Worker ${failure.workerId} of pool "${context.name}" failed during start-up: ${failure.message}`, {
          pool: context.name,
          workerId: failure.workerId,
        });
      }
    }
  }
}
