// When a pool's workers are due for recycling: after a time to live, a number of calls, or
// past a memory limit (the Python process's own resident memory, read from /proc). A due
// worker is replaced, not just ended: the pool machine starts the replacement first and
// retires the old worker once it is ready, so capacity does not dip; the pool machine also
// keeps each worker to one recycle under way, so asking twice changes nothing. The recycler
// asks as each limit is crossed, not on every call past it.
import type { RecycleReason } from '../../machines/worker.machine.js';
import type { PoolConfig } from '../config.js';
import type { WorkerSlot } from '../calls/workerSlot.js';
import { residentMb } from '../process/procInfo.js';

export class Recycler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Workers whose current process was seen past workerMaxMemoryMb: /proc is not read for them again. */
  private readonly overMemory = new Set<string>();

  constructor(
    private readonly config: PoolConfig,
    private readonly recycle: (workerId: string, reason: RecycleReason) => void,
  ) {}

  /** A (re)started worker: arm its TTL and set its call limit, each staggered by the jitter. */
  workerReady(slot: WorkerSlot): void {
    const { workerTtlMs, workerMaxRequests } = this.config;
    slot.limitCalls(workerMaxRequests ? Math.max(1, Math.round(this.stagger(workerMaxRequests))) : Infinity);
    this.forget(slot.id);
    if (workerTtlMs) {
      const timer = setTimeout(() => this.request(slot, 'ttl'), this.stagger(workerTtlMs));
      timer.unref();
      this.timers.set(slot.id, timer);
    }
  }

  /**
   * Called as each call starts. The replacement is requested a little before the limit (20% of
   * it, at least one call), so it is usually ready by the time this worker has started its last.
   */
  callStarted(slot: WorkerSlot): void {
    const limit = slot.callLimit;
    if (limit !== Infinity && slot.startedCalls === Math.max(1, limit - Math.max(1, Math.ceil(limit * 0.2)))) this.request(slot, 'max_requests');
  }

  callEnded(slot: WorkerSlot): void {
    const limitMb = this.config.workerMaxMemoryMb;
    if (!limitMb || slot.pid === undefined || this.overMemory.has(slot.id) || residentMb(slot.pid) <= limitMb) return;
    this.overMemory.add(slot.id);
    this.request(slot, 'memory');
  }

  /** At the end of the run: no timer stays armed. */
  stopAll(): void {
    for (const id of [...this.timers.keys()]) this.forget(id);
  }

  workerGone(slot: WorkerSlot): void {
    this.forget(slot.id);
  }

  /** Asks the pool to replace this worker; its TTL is disarmed, as the worker is on its way out. */
  request(slot: WorkerSlot, reason: RecycleReason): void {
    clearTimeout(this.timers.get(slot.id));
    this.timers.delete(slot.id);
    this.recycle(slot.id, reason);
  }

  private forget(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
    this.overMemory.delete(id);
  }

  private stagger(value: number): number {
    return value * (1 - this.config.workerRecycleJitter * Math.random());
  }
}
