// When a pool's workers are due for recycling: after a time to live, a number of calls, or
// past a memory limit (the Python process's own resident memory, read from /proc). A due
// worker is replaced, not just ended: the pool machine starts the replacement first and
// retires the old worker once it is ready, so capacity does not dip; it also keeps each worker
// to one recycle under way, however often one is asked for.
import type { RecycleReason } from '../../machines/worker.machine.js';
import type { PoolConfig } from '../config.js';
import type { WorkerSlot } from '../calls/calls.js';
import { residentMb } from '../process/procInfo.js';

export class Recycler {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly config: PoolConfig,
    private readonly recycle: (workerId: string, reason: RecycleReason) => void,
  ) {}

  /** A (re)started worker: arm its TTL and set its call limit, each staggered by the jitter. */
  workerReady(slot: WorkerSlot): void {
    slot.startedCalls = 0;
    const { workerTtlMs, workerMaxRequests } = this.config;
    slot.callLimit = workerMaxRequests ? Math.max(1, Math.round(this.stagger(workerMaxRequests))) : Infinity;
    this.clear(slot.id);
    if (workerTtlMs) {
      const timer = setTimeout(() => this.request(slot, 'ttl'), this.stagger(workerTtlMs));
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
    if (slot.startedCalls >= slot.callLimit - headroom) this.request(slot, 'max_requests');
  }

  callEnded(slot: WorkerSlot): void {
    const limitMb = this.config.workerMaxMemoryMb;
    if (limitMb && !slot.recycleRequested && slot.pid !== undefined && residentMb(slot.pid) > limitMb) this.request(slot, 'memory');
  }

  /** At the end of the run: no timer stays armed. */
  stopAll(): void {
    for (const id of [...this.timers.keys()]) this.clear(id);
  }

  workerGone(slot: WorkerSlot): void {
    this.clear(slot.id);
  }

  /** Asks the pool to replace this worker (the pool ignores a worker already being replaced). */
  request(slot: WorkerSlot, reason: RecycleReason): void {
    if (slot.recycleRequested) return;
    slot.recycleRequested = true;
    this.clear(slot.id);
    this.recycle(slot.id, reason);
  }

  private clear(id: string): void {
    clearTimeout(this.timers.get(id));
    this.timers.delete(id);
  }

  private stagger(value: number): number {
    return value * (1 - this.config.workerRecycleJitter * Math.random());
  }
}
