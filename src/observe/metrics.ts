// Prometheus metrics (prom-client, loaded on the first `pit.metrics()` — the first scrape).
// Nothing here counts: calls are counted by each pool's stats (`CallTotals`), restarts and
// recycles by `WorkerTotals` from the pit's start, so a scrape shows everything since then and
// agrees with stats(). Queue depth, workers by state and resident memory are read at each scrape.
import type { EventEmitter } from 'eventemitter3';
import type { Registry as PromRegistry } from 'prom-client';
import type { WorkerStateName } from '../../machines/worker.machine.js';
import { type Buckets, type CallTotals, SECONDS_BUCKETS } from './callTotals.js';
import type { SnakepitEvents } from '../events.js';
import { residentMb } from '../process/procInfo.js';

/** What a scrape reads from the pools. */
export interface MetricsSource {
  pools(): { name: string; queued: number; calls: CallTotals; workers: { id: string; pid: number | undefined; state: WorkerStateName; endpoint?: string }[] }[];
  workers: WorkerTotals;
}

const STATES: WorkerStateName[] = ['starting', 'ready', 'busy', 'draining', 'recycling', 'crashed', 'stopped'];

/** Worker restarts per pool and recycles per pool and reason, counted from the pit's start (rare events). */
export class WorkerTotals {
  readonly restarts = new Map<string, number>();
  /** `pool` → reason → count. */
  readonly recycles = new Map<string, Map<string, number>>();

  constructor(events: EventEmitter<SnakepitEvents>) {
    events.on('worker:restarted', (e) => this.restarts.set(e.pool, (this.restarts.get(e.pool) ?? 0) + 1));
    events.on('worker:recycling', (e) => {
      const reasons = this.recycles.get(e.pool) ?? new Map<string, number>();
      this.recycles.set(e.pool, reasons.set(e.reason, (reasons.get(e.reason) ?? 0) + 1));
    });
  }
}

/** Samples as prom-client renders them (`metricName` for a histogram's _bucket, _sum, _count). */
type Values = { metricName?: string; labels: Record<string, string | number>; value: number }[];

export class Metrics {
  private constructor(private readonly registry: PromRegistry) {}

  get contentType(): string {
    return this.registry.contentType;
  }

  static async create(source: MetricsSource): Promise<Metrics> {
    const { Gauge, Registry } = await import('prom-client');
    const registry = new Registry();
    const registers = [registry];
    // Counters and histograms whose values are read from their owners at each scrape: prom-client
    // renders any object with a name and get() (its own metrics are such objects).
    const derived = (name: string, type: 'counter' | 'histogram', help: string, values: () => Values) =>
      registry.registerMetric({ name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: values() }) } as never);
    const perTool = (read: (pool: string, tool: string, totals: CallTotals) => Values) => () =>
      source.pools().flatMap((pool) => [...pool.calls.tools.keys()].flatMap((tool) => read(pool.name, tool, pool.calls)));

    derived('snakepit_calls_total', 'counter', 'Calls settled, by outcome: ok or the error code.', perTool((pool, tool, calls) =>
      [...calls.tools.get(tool)!.outcomes].map(([outcome, value]) => ({ labels: { pool, tool, outcome }, value }))));
    derived('snakepit_call_duration_seconds', 'histogram', 'Time a successful call ran on its worker.', perTool((pool, tool, calls) =>
      histogram('snakepit_call_duration_seconds', { pool, tool }, calls.tools.get(tool)!.duration)));
    derived('snakepit_queue_wait_seconds', 'histogram', 'Time a call waited for a worker.', perTool((pool, tool, calls) =>
      histogram('snakepit_queue_wait_seconds', { pool, tool }, calls.tools.get(tool)!.wait)));
    derived('snakepit_restarts_total', 'counter', 'Worker restarts by the supervisor.', () =>
      [...source.workers.restarts].map(([pool, value]) => ({ labels: { pool }, value })));
    derived('snakepit_recycles_total', 'counter', 'Workers replaced while alive, by reason.', () =>
      [...source.workers.recycles].flatMap(([pool, reasons]) => [...reasons].map(([reason, value]) => ({ labels: { pool, reason }, value }))));
    new Gauge({
      name: 'snakepit_queue_depth', help: 'Calls waiting for a worker.', labelNames: ['pool'], registers,
      collect() {
        for (const pool of source.pools()) this.set({ pool: pool.name }, pool.queued);
      },
    });
    new Gauge({
      name: 'snakepit_workers', help: 'Workers by machine state.', labelNames: ['pool', 'state'], registers,
      collect() {
        for (const pool of source.pools()) {
          for (const state of STATES) this.set({ pool: pool.name, state }, pool.workers.filter((w) => w.state === state).length);
        }
      },
    });
    new Gauge({
      name: 'snakepit_worker_rss_bytes', help: "Resident memory of each worker's Python process.", labelNames: ['pool', 'worker'], registers,
      collect() {
        this.reset(); // workers come and go: only those alive now
        for (const pool of source.pools()) {
          for (const w of pool.workers) if (w.pid !== undefined && w.endpoint === undefined) this.set({ pool: pool.name, worker: w.id }, Math.round(residentMb(w.pid) * 1024 * 1024));
        }
      },
    });
    return new Metrics(registry);
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** A histogram's samples as Prometheus wants them: cumulative buckets up to +Inf, sum, count. */
function histogram(name: string, labels: Record<string, string>, buckets: Buckets): Values {
  let below = 0;
  const values: Values = SECONDS_BUCKETS.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: (below += buckets.counts[i]) }));
  values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: buckets.count });
  values.push({ metricName: `${name}_sum`, labels, value: buckets.sum });
  values.push({ metricName: `${name}_count`, labels, value: buckets.count });
  return values;
}
