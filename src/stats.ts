// Per-pool counters, and how long calls wait and run: percentiles from node:perf_hooks
// histograms (microsecond resolution), per pool and per tool, until reset.
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** A distribution of durations in ms. */
export interface DurationSummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  count: number;
  mean: number;
}

export interface ToolStats {
  completed: number;
  failures: number;
  /** From submit until a worker took the call. */
  waitMs: DurationSummary;
  /** From a worker taking the call until its outcome. */
  runMs: DurationSummary;
}

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
  waitMs: DurationSummary;
  runMs: DurationSummary;
  tools: Record<string, ToolStats>;
}

class Durations {
  private readonly histogram: RecordableHistogram = createHistogram();

  record(ms: number): void {
    this.histogram.record(Math.max(1, Math.round(ms * 1000)));
  }

  summary(): DurationSummary {
    const h = this.histogram;
    if (h.count === 0) return { p50: 0, p90: 0, p99: 0, max: 0, count: 0, mean: 0 };
    const ms = (us: number) => Math.round(us) / 1000;
    return { p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), max: ms(h.max), count: h.count, mean: ms(h.mean) };
  }

  reset(): void {
    this.histogram.reset();
  }
}

class ToolRecorder {
  completed = 0;
  failures = 0;
  readonly wait = new Durations();
  readonly run = new Durations();

  snapshot(): ToolStats {
    return { completed: this.completed, failures: this.failures, waitMs: this.wait.summary(), runMs: this.run.summary() };
  }
}

export class StatsRecorder {
  requests = 0;
  completed = 0;
  failures = 0;
  queueTimeouts = 0;
  private readonly wait = new Durations();
  private readonly run = new Durations();
  private readonly tools = new Map<string, ToolRecorder>();

  private tool(name: string): ToolRecorder {
    let tool = this.tools.get(name);
    if (!tool) this.tools.set(name, (tool = new ToolRecorder()));
    return tool;
  }

  /** A worker took the call after `ms` in the queue. */
  started(tool: string, ms: number): void {
    this.wait.record(ms);
    this.tool(tool).wait.record(ms);
  }

  /** A call that ran on a worker for `ms` ended, successfully or not. */
  ended(tool: string, ms: number, ok: boolean): void {
    this.run.record(ms);
    const recorder = this.tool(tool);
    recorder.run.record(ms);
    if (ok) recorder.completed++;
    else recorder.failures++;
  }

  summaries(): Pick<PoolStats, 'waitMs' | 'runMs' | 'tools'> {
    const tools: Record<string, ToolStats> = {};
    for (const [name, tool] of this.tools) tools[name] = tool.snapshot();
    return { waitMs: this.wait.summary(), runMs: this.run.summary(), tools };
  }

  /** Starts every distribution and per-tool count afresh; the pool's totals keep counting. */
  reset(): void {
    this.wait.reset();
    this.run.reset();
    this.tools.clear();
  }
}
