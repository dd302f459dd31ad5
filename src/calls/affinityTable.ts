// Session affinity: which worker — and which process of it — ran a session's last call, so its
// next call can go back there. A bounded table in least-recently-used order: binding a session
// past `maxSessions` forgets the one idle longest, and a session idle for `ttlMs` is forgotten
// when next looked up. No timers: the table costs nothing while nobody uses sessions.

export interface AffinityBinding {
  workerId: string;
  /** The process that holds the session's state; a restarted worker is another process. */
  pid: number | undefined;
  lastUsed: number;
}

export class AffinityTable {
  /** Oldest use first: Map keeps insertion order, and each use re-inserts. */
  private readonly bindings = new Map<string, AffinityBinding>();

  constructor(
    private readonly maxSessions: number,
    private readonly ttlMs: number,
  ) {}

  get size(): number {
    return this.bindings.size;
  }

  /** The session's binding, unless it has been idle for longer than the TTL. */
  lookup(sessionId: string, now: number): AffinityBinding | undefined {
    const binding = this.bindings.get(sessionId);
    if (binding && now - binding.lastUsed > this.ttlMs) {
      this.bindings.delete(sessionId);
      return undefined;
    }
    return binding;
  }

  /** Binds the session to the worker running its call now; returns the binding it had. */
  bind(sessionId: string, workerId: string, pid: number | undefined, now: number): AffinityBinding | undefined {
    const previous = this.bindings.get(sessionId);
    this.bindings.delete(sessionId);
    this.bindings.set(sessionId, { workerId, pid, lastUsed: now });
    if (this.bindings.size > this.maxSessions) this.bindings.delete(this.bindings.keys().next().value!);
    return previous;
  }
}
