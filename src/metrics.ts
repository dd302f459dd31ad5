// Prometheus metrics (prom-client), made on the first `pit.metrics()` — the first scrape — so a
// pit nobody scrapes pays nothing per call. Call counts and durations come from the request
// events (emitted only while someone listens), restarts and recycles from the worker events;
// queue depth, workers by state and resident memory are read at each scrape.
import type { EventEmitter } from 'eventemitter3';
import type { WorkerStateName } from '../machines/worker.machine.js';
import type { SnakepitEvents } from './events.js';
import { residentMb } from './recycler.js';

/** What a scrape reads live from the pools. */
export interface MetricsSource {
  events: EventEmitter<SnakepitEvents>;
  pools(): { name: string; queued: number; workers: { id: string; pid: number | undefined; state: WorkerStateName; endpoint?: string }[] }[];
}

const STATES: WorkerStateName[] = ['starting', 'ready', 'busy', 'draining', 'recycling', 'crashed', 'stopped'];
const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class Metrics {
  private constructor(
    private readonly registry: { metrics(): Promise<string>; contentType: string },
    private readonly stopListening: () => void,
  ) {}

  get contentType(): string {
    return this.registry.contentType;
  }

  static async create(source: MetricsSource): Promise<Metrics> {
    const { Counter, Gauge, Histogram, Registry } = await import('prom-client');
    const registry = new Registry();
    const registers = [registry];
    const calls = new Counter({ name: 'snakepit_calls_total', help: 'Calls settled, by outcome: ok or the error code.', labelNames: ['pool', 'tool', 'outcome'], registers });
    const duration = new Histogram({
      name: 'snakepit_call_duration_seconds', help: 'Time a successful call ran on its worker.', labelNames: ['pool', 'tool'], buckets: SECONDS_BUCKETS, registers,
    });
    const wait = new Histogram({
      name: 'snakepit_queue_wait_seconds', help: 'Time a call waited for a worker.', labelNames: ['pool', 'tool'], buckets: SECONDS_BUCKETS, registers,
    });
    const restarts = new Counter({ name: 'snakepit_restarts_total', help: 'Worker restarts by the supervisor.', labelNames: ['pool'], registers });
    const recycles = new Counter({ name: 'snakepit_recycles_total', help: 'Workers replaced while alive, by reason.', labelNames: ['pool', 'reason'], registers });
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

    const listeners: { [E in keyof SnakepitEvents]?: SnakepitEvents[E] } = {
      'request:started': (e) => wait.observe({ pool: e.pool, tool: e.tool }, e.waitedMs / 1000),
      'request:completed': (e) => {
        calls.inc({ pool: e.pool, tool: e.tool, outcome: 'ok' });
        duration.observe({ pool: e.pool, tool: e.tool }, e.runMs / 1000);
      },
      'request:failed': (e) => calls.inc({ pool: e.pool, tool: e.tool, outcome: e.code }),
      'worker:restarted': (e) => restarts.inc({ pool: e.pool }),
      'worker:recycling': (e) => recycles.inc({ pool: e.pool, reason: e.reason }),
    };
    for (const [event, listener] of Object.entries(listeners)) source.events.on(event as keyof SnakepitEvents, listener as never);
    const stopListening = () => {
      for (const [event, listener] of Object.entries(listeners)) source.events.off(event as keyof SnakepitEvents, listener as never);
    };
    return new Metrics(registry, stopListening);
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  close(): void {
    this.stopListening();
  }
}
