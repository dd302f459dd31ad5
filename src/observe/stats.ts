// Per-pool counters, and how long calls wait and run: percentiles from node:perf_hooks
// histograms (microsecond resolution), per pool and per tool, until reset. The same calls feed
// the cumulative totals metrics() reads, so the two always agree.
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { CallTotals } from './callTotals.js';
import { ToolLabels } from './toolLabels.js';

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
  /** Per tool: at most MAX_TOOL_LABELS names, then `(other)`; TOOL_NOT_FOUND calls under `(unknown)`. */
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
  /** Since the pool was made, by the same tool labels: what metrics() reports. */
  readonly totals = new CallTotals();
  private readonly wait = new Durations();
  private readonly run = new Durations();
  private readonly tools = new Map<string, ToolRecorder>();
  private readonly labels = new ToolLabels();

  private tool(label: string): ToolRecorder {
    let tool = this.tools.get(label);
    if (!tool) this.tools.set(label, (tool = new ToolRecorder()));
    return tool;
  }

  /** A worker took a call after `ms` in the queue (again, if a dead worker handed it back). */
  started(ms: number): void {
    this.wait.record(ms);
  }

  /**
   * A call's run on a worker ended after `runMs`, `waitMs` after it was submitted; `code` is
   * its error's, if any. Per tool, the wait is recorded here rather than at the start: only
   * now is it known whether the tool exists (TOOL_NOT_FOUND calls share one label).
   */
  ended(tool: string, waitMs: number, runMs: number, code: string | undefined): void {
    this.run.record(runMs);
    const label = this.labels.label(tool, code);
    const recorder = this.tool(label);
    recorder.wait.record(waitMs);
    recorder.run.record(runMs);
    this.totals.of(label).wait.observe(waitMs / 1000);
  }

  /** A call's caller got its outcome: ok (`code` undefined; `runMs` if it ran) or the error's code. */
  settled(tool: string, code: string | undefined, runMs?: number): void {
    const label = this.labels.label(tool, code);
    const totals = this.totals.of(label);
    const outcome = code ?? 'ok';
    totals.outcomes.set(outcome, (totals.outcomes.get(outcome) ?? 0) + 1);
    if (code === undefined) {
      this.completed++;
      this.tool(label).completed++;
      if (runMs !== undefined) totals.duration.observe(runMs / 1000);
    } else {
      this.failures++;
      this.tool(label).failures++;
    }
  }

  /** The pool's figures: these counts and distributions, with what the dispatcher sees now. */
  snapshot(now: Pick<PoolStats, 'pool' | 'queued' | 'sessions' | 'inFlight' | 'capacity'>): PoolStats {
    const tools: Record<string, ToolStats> = {};
    for (const [name, tool] of this.tools) tools[name] = tool.snapshot();
    return {
      ...now,
      requests: this.requests,
      completed: this.completed,
      failures: this.failures,
      queueTimeouts: this.queueTimeouts,
      // Calls sent ahead wait in the worker: they do not use a place.
      utilisation: now.capacity ? Math.min(1, now.inFlight / now.capacity) : 0,
      waitMs: this.wait.summary(),
      runMs: this.run.summary(),
      tools,
    };
  }

  /** Starts every distribution and per-tool count afresh; the pool's totals keep counting. */
  reset(): void {
    this.wait.reset();
    this.run.reset();
    this.tools.clear();
  }
}
