/**
 * Section 2, "CPU-bound NumPy on 2 cores": `matmul` (≈10 ms per call) issued concurrently
 * (concurrency = capacity × 2) on a process pool (2 workers × 1 thread), a thread pool
 * (1 worker × 2 threads) and, as the baseline, a 1-worker process pool. Reports calls/s and
 * RSS per unit of capacity, interleaved over rounds.
 */
import { BLAS_DEFAULTS, CPU_ROUNDS, MATMUL_CALLS, MATMUL_N } from './config.js';
import { median, rssKb } from './floors.js';
import { notePids, startPit, stopPit, type PoolConfig } from './processes.js';
import { fmt, rotated, table } from './report.js';

/** Makes `total` calls with at most `concurrency` in flight; returns the wall time in seconds. */
async function runLimited(total: number, concurrency: number, fn: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  const lane = async () => {
    while (next < total) {
      next++;
      await fn();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

interface CpuRound {
  seconds: number;
  callsPerSec: number;
  rssKbPerCapacity: number;
}

// One BLAS thread per call everywhere (unless asked otherwise): the parallelism measured is
// the pool's, not OpenBLAS's, and 2 concurrent calls never oversubscribe the 2 cores.
const BLAS_VARS = ['OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'OMP_NUM_THREADS', 'NUMEXPR_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS'];
const blasEnv = BLAS_DEFAULTS ? undefined : Object.fromEntries(BLAS_VARS.map((k) => [k, '1']));
const withEnv = (p: PoolConfig): PoolConfig => (blasEnv ? { ...p, adapterEnv: blasEnv } : p);

const configs: Array<{ key: string; label: string; pool: PoolConfig }> = [
  {
    key: 'single',
    label: 'process, 1 worker (baseline)',
    pool: withEnv({ name: 'single', workerProfile: 'process', poolSize: 1, threadsPerWorker: 1, adapter: 'bench_adapters.Bench' }),
  },
  {
    key: 'process',
    label: 'process, 2 workers × 1 thread',
    pool: withEnv({ name: 'process', workerProfile: 'process', poolSize: 2, threadsPerWorker: 1, adapter: 'bench_adapters.Bench' }),
  },
  {
    key: 'thread',
    label: 'thread, 1 worker × 2 threads',
    pool: withEnv({ name: 'thread', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 2, adapter: 'bench_adapters.BenchThreaded' }),
  },
];

export async function cpuSection(results: Record<string, unknown>): Promise<void> {
  console.log(
    `\n== CPU-bound NumPy on 2 cores (${MATMUL_CALLS} matmul calls of ≈10 ms, concurrency = capacity × 2, ${CPU_ROUNDS} rounds; ` +
      (BLAS_DEFAULTS ? "BLAS threads: the profiles' defaults)" : 'BLAS threads pinned to 1 per call)') +
      '\n',
  );

  const pit = await startPit(configs.map((c) => c.pool));
  try {
    const args: Record<string, unknown> = MATMUL_N ? { n: MATMUL_N } : {};
    const matmul = (pool: string) => () => pit.execute('matmul', args, { pool });
    const capacityOf = (name: string) => pit.inspect().pools.find((p) => p.name === name)?.capacity ?? NaN;
    const rssPerCapacity = (name: string) => {
      const pool = pit.inspect().pools.find((p) => p.name === name);
      if (!pool) return NaN;
      const total = pool.workers.reduce((s, w) => s + rssKb(w.pid), 0);
      return total / pool.capacity;
    };

    // Warm-up: import NumPy and build the matrices in every worker / thread.
    for (const c of configs) {
      const cap = capacityOf(c.pool.name);
      await runLimited(Math.max(4, cap * 4), Math.max(1, cap * 2), matmul(c.pool.name));
    }
    notePids(pit);

    const rounds = new Map<string, CpuRound[]>(configs.map((c) => [c.key, []]));
    for (let round = 0; round < CPU_ROUNDS; round++) {
      const parts: string[] = [];
      for (const c of rotated(configs, round)) {
        const cap = capacityOf(c.pool.name);
        const seconds = await runLimited(MATMUL_CALLS, cap * 2, matmul(c.pool.name));
        const r: CpuRound = { seconds, callsPerSec: MATMUL_CALLS / seconds, rssKbPerCapacity: rssPerCapacity(c.pool.name) };
        rounds.get(c.key)!.push(r);
        parts.push(`${c.key} ${fmt(seconds, 2)} s`);
      }
      notePids(pit);
      console.log(`  round ${round + 1}/${CPU_ROUNDS}: ${parts.join(', ')}`);
    }

    // Median over rounds, as in the latency section.
    const sum = (key: string) => {
      const rs = rounds.get(key)!;
      return {
        seconds: median(rs.map((r) => r.seconds)),
        callsPerSec: median(rs.map((r) => r.callsPerSec)),
        rssMbPerCapacity: median(rs.map((r) => r.rssKbPerCapacity)) / 1024,
      };
    };
    const s = Object.fromEntries(configs.map((c) => [c.key, sum(c.key)]));
    console.log('');
    console.log(
      table(
        ['pool', 'capacity', 'concurrency', `s / ${MATMUL_CALLS} calls`, 'calls/s', 'vs baseline', 'RSS MB / capacity'],
        configs.map((c) => {
          const cap = capacityOf(c.pool.name);
          return [
            c.label,
            String(cap),
            String(cap * 2),
            fmt(s[c.key]!.seconds, 2),
            fmt(s[c.key]!.callsPerSec, 1),
            `${fmt(s[c.key]!.callsPerSec / s.single!.callsPerSec, 2)}×`,
            fmt(s[c.key]!.rssMbPerCapacity, 1),
          ];
        }),
      ),
    );
    const tpThroughput = s.thread!.callsPerSec / s.process!.callsPerSec;
    const tpRss = s.thread!.rssMbPerCapacity / s.process!.rssMbPerCapacity;
    console.log('');
    console.log(`  thread / process  calls/s            = ${fmt(tpThroughput, 2)}`);
    console.log(`  thread / process  RSS per capacity   = ${fmt(tpRss, 2)}`);
    console.log(`  process speed-up over 1 worker       = ${fmt(s.process!.callsPerSec / s.single!.callsPerSec, 2)}×`);
    console.log(`  thread speed-up over 1 worker        = ${fmt(s.thread!.callsPerSec / s.single!.callsPerSec, 2)}×`);
    results.cpu = { ...s, threadOverProcess: { callsPerSec: tpThroughput, rssPerCapacity: tpRss } };
  } finally {
    await stopPit(pit);
  }
}
