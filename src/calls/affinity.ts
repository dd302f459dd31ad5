// Session affinity as routing sees it: the worker a session's next call goes back to, if that
// same process still takes calls, and the binding moved to whichever worker runs a call of it.
// The table itself (bounded, least recently used, idle TTL) is affinityTable.ts.
import type { PoolConfig } from '../config.js';
import { isRoutable } from './balancing.js';
import { AffinityTable } from './affinityTable.js';
import type { WorkerSlot } from './workerSlot.js';

export class SessionAffinity {
  private readonly table: AffinityTable;

  constructor(
    config: Pick<PoolConfig, 'maxSessions' | 'sessionTtlMs'>,
    private readonly slotOf: (workerId: string) => WorkerSlot | undefined,
    /** A session's calls now run on another worker because its old one is gone. */
    private readonly moved: (sessionId: string, from: string, to: string) => void,
  ) {
    this.table = new AffinityTable(config.maxSessions, config.sessionTtlMs);
  }

  get size(): number {
    return this.table.size;
  }

  /** The worker a session is bound to, if that same process still takes calls. */
  worker(sessionId: string): WorkerSlot | undefined {
    const binding = this.table.lookup(sessionId, performance.now());
    if (!binding) return undefined;
    const slot = this.slotOf(binding.workerId);
    return slot && slot.pid === binding.pid && isRoutable(slot) ? slot : undefined;
  }

  /** Binds the call's session to the worker running it; says so if its old worker is gone. */
  bind(sessionId: string, slot: WorkerSlot): void {
    const previous = this.table.bind(sessionId, slot.id, slot.pid, performance.now());
    if (!previous || (previous.workerId === slot.id && previous.pid === slot.pid)) return;
    const old = this.slotOf(previous.workerId);
    if (old && old.pid === previous.pid && isRoutable(old)) return; // still there: a hint that went elsewhere
    this.moved(sessionId, previous.workerId, slot.id);
  }
}
