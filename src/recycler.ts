// When a pool's workers are due for recycling: after a time to live, a number of calls, or
// past a memory limit (the Python process's own resident memory, read from /proc). A due
// worker is replaced, not just ended: the pool starts the replacement first and retires the
// old worker once it is ready, so capacity does not dip. Each worker has at most one recycle
// under way: every request for it, by hand or automatic, shares that one outcome.
import { readFileSync } from 'node:fs';
import type { PoolConfig } from './config.js';
import type { WorkerSlot } from './dispatcher.js';
import { ShuttingDownError, type SnakepitError } from './errors.js';

export type RecycleReason = 'ttl' | 'max_requests' | 'memory' | 'manual';

const RECYCLE_REASONS: readonly string[] = ['ttl', 'max_requests', 'memory', 'manual'] satisfies RecycleReason[];

export function isRecycleReason(reason: string | undefined): reason is RecycleReason {
  return reason !== undefined && RECYCLE_REASONS.includes(reason);
}

interface RecycleOutcome {
  promise: Promise<void>;
  resolve(): void;
  reject(error: SnakepitError): void;
}

export class Recycler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Worker id → the outcome of its recycle under way. */
  private readonly outcomes = new Map<string, RecycleOutcome>();

  constructor(
    private readonly config: PoolConfig,
    private readonly recycle: (workerId: string, reason: RecycleReason) => void,
  ) {}

  /** A (re)started worker: arm its TTL and set its call limit, each staggered by the jitter. */
  workerReady(slot: WorkerSlot): void {
    slot.startedCalls = 0;
    // A worker restarted while its recycle was under way is still to be replaced.
    slot.recycleRequested = this.outcomes.has(slot.id);
    const { workerTtlMs, workerMaxRequests } = this.config;
    slot.callLimit = workerMaxRequests ? Math.max(1, Math.round(this.stagger(workerMaxRequests))) : Infinity;
    this.clear(slot.id);
    if (workerTtlMs) {
      const timer = setTimeout(() => void this.request(slot, 'ttl'), this.stagger(workerTtlMs));
      timer.unref();
      this.timers.set(slot.id, timer);
    }
  }

  /**
   * Called as each call starts. The replacement is requested a little before the limit, so it
   * is usually ready by the time this worker has started its last call.
   */
  callStarted(slot: WorkerSlot): void {
    if (slot.callLimit === Infinity) return;
    const headroom = Math.max(1, Math.ceil(slot.callLimit * 0.2));
    if (slot.startedCalls >= slot.callLimit - headroom) void this.request(slot, 'max_requests');
  }

  callEnded(slot: WorkerSlot): void {
    const limitMb = this.config.workerMaxMemoryMb;
    if (limitMb && !slot.recycleRequested && slot.pid !== undefined && residentMb(slot.pid) > limitMb) void this.request(slot, 'memory');
  }

  /** At the end of the run: no timer stays armed, no recycle stays pending. */
  stopAll(error: SnakepitError = new ShuttingDownError()): void {
    for (const id of [...this.timers.keys()]) this.clear(id);
    for (const outcome of this.outcomes.values()) outcome.reject(error);
    this.outcomes.clear();
  }

  workerGone(slot: WorkerSlot): void {
    this.clear(slot.id);
  }

  /**
   * Asks the pool to replace this worker; resolves once it has stopped. A worker already being
   * recycled is not asked again: the caller shares the outcome of the recycle under way.
   */
  request(slot: WorkerSlot, reason: RecycleReason): Promise<void> {
    const pending = this.outcomes.get(slot.id);
    if (pending) return pending.promise;
    const outcome = newOutcome();
    this.outcomes.set(slot.id, outcome);
    slot.recycleRequested = true;
    this.clear(slot.id);
    this.recycle(slot.id, reason);
    return outcome.promise;
  }

  /** The worker has stopped: its recycle is done, or (with `error`) ended by something else. */
  workerStopped(slot: WorkerSlot, error: SnakepitError | undefined): void {
    this.workerGone(slot);
    const outcome = this.outcomes.get(slot.id);
    if (!outcome) return;
    this.outcomes.delete(slot.id);
    if (error) outcome.reject(error);
    else outcome.resolve();
  }

  private clear(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  private stagger(value: number): number {
    return value * (1 - this.config.workerRecycleJitter * Math.random());
  }
}

/** Resident memory of a process in MiB, from the kernel (VmRSS), 0 if it is gone. */
export function residentMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function newOutcome(): RecycleOutcome {
  let resolve!: () => void;
  let reject!: (error: SnakepitError) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Automatic recycles have no caller to hear a failure: it must not surface as unhandled.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
