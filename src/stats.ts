// Per-pool counters and latency percentiles over a window of the most recent calls.
const WINDOW = 2048;

export interface PoolStats {
  pool: string;
  requests: number;
  completed: number;
  failures: number;
  queued: number;
  /** Sessions the pool remembers a worker for (at most `maxSessions`). */
  sessions: number;
  queueTimeouts: number;
  inFlight: number;
  capacity: number;
  /** inFlight / capacity right now, 0..1. */
  utilisation: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

export class StatsRecorder {
  requests = 0;
  completed = 0;
  failures = 0;
  queueTimeouts = 0;
  private readonly latencies = new Float64Array(WINDOW);
  private recorded = 0;

  recordLatency(ms: number): void {
    this.latencies[this.recorded++ % WINDOW] = ms;
  }

  percentiles(): PoolStats['latencyMs'] {
    const n = Math.min(this.recorded, WINDOW);
    if (n === 0) return { p50: 0, p90: 0, p99: 0, max: 0 };
    const sorted = this.latencies.slice(0, n).sort();
    const at = (q: number) => round(sorted[Math.min(n - 1, Math.floor(q * n))]);
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(sorted[n - 1]) };
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
