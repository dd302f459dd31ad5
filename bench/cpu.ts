/**
 * Section "CPU-bound work on 2 cores": 200 calls of ≈10 ms issued concurrently
 * (concurrency = capacity × 2) on a process pool (2 workers × 1 thread), a thread pool
 * (1 worker × 2 threads) and, as the baseline, a 1-worker process pool, interleaved over
 * rounds. Two workloads:
 *   - matmul: NumPy, which releases the GIL. Figure `cpuScaling` = the process pool's time ÷
 *     the ideal (200 × one product's time measured inside Python ÷ 2 cores). Goal ≤ 1.15.
 *   - spin: pure Python, which holds the GIL. Figure `pyCpuScaling` = the process pool's
 *     time ÷ the 1-worker time (goal ≤ 0.6), with the thread pool's beside it (≈1.0 with a GIL).
 * Beside them, two plain JSON-lines Python processes with no bridge (peers/work_lines.py), 2 calls
 * in flight each: what this machine gives two processes, so a figure over the ideal can be
 * told apart from the machine's own limit. Also RSS per unit of capacity of both profiles
 * (`rssPerCapacityUnitMb`).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLAS_DEFAULTS, CPU_ROUNDS, MATMUL_CALLS, MATMUL_N, PYTHON } from './config.js';
import { median, rssKb } from './floors.js';
import { JsonLines } from './peers/jsonLines.js';
import { notePids, notePythonPids, startPit, stopPit, trackChild, type Pit, type PoolConfig } from './processes.js';
import { fmt, rotated, table } from './report.js';
import { sampleNoise } from './noise.js';

/** Makes `total` calls with at most `concurrency` in flight; returns the wall time in seconds. */
export async function runLimited(total: number, concurrency: number, fn: () => Promise<unknown>): Promise<number> {
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

// One BLAS thread per call everywhere (unless asked otherwise): the parallelism measured is
// the pool's, not OpenBLAS's, and 2 concurrent calls never oversubscribe the 2 cores.
const BLAS_VARS = ['OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'OMP_NUM_THREADS', 'NUMEXPR_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS'];
const blasEnv = BLAS_DEFAULTS ? undefined : Object.fromEntries(BLAS_VARS.map((k) => [k, '1']));
const withEnv = (p: PoolConfig): PoolConfig => (blasEnv ? { ...p, adapterEnv: blasEnv } : p);

const configs: Array<{ key: 'single' | 'process' | 'thread'; label: string; pool: PoolConfig }> = [
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
type ConfigKey = (typeof configs)[number]['key'];

const workScript = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'work_lines.py');

/** Two bridge-less Python processes; call i goes to the process its lane belongs to. */
function startPlainPair(): { run(total: number, tool: string, args: Record<string, unknown>): Promise<number>; close(): Promise<void> } {
  const procs = [0, 1].map(() => {
    const child = spawn(PYTHON, [workScript], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...blasEnv } });
    trackChild(child);
    notePythonPids([child.pid ?? 0]);
    return new JsonLines(child);
  });
  return {
    // Two lanes per process, as the pools get capacity × 2 in flight.
    run: async (total, tool, args) => {
      let next = 0;
      const t0 = process.hrtime.bigint();
      const lane = async (p: JsonLines) => {
        while (next < total) {
          next++;
          await p.request({ tool, args });
        }
      };
      await Promise.all([lane(procs[0]!), lane(procs[0]!), lane(procs[1]!), lane(procs[1]!)]);
      return Number(process.hrtime.bigint() - t0) / 1e9;
    },
    close: async () => void (await Promise.all(procs.map((p) => p.close()))),
  };
}

const SPIN_MS = 10;
const CORES = 2;

interface Workload {
  key: 'matmul' | 'spin';
  label: string;
  args: Record<string, unknown>;
}

export interface CpuResult {
  /** Median seconds per 200 calls, per workload and pool ('plain': two bridge-less processes). */
  seconds: Record<Workload['key'], Record<ConfigKey | 'plain', number>>;
  matmulCallSeconds: number;
  idealMatmulSeconds: number;
  spinIterations: number;
  cpuScaling: number;
  pyCpuScaling: { process: number; thread: number };
  rssPerCapacityUnitMb: { process: number; thread: number };
}

export function rssPerCapacityKb(pit: Pit, name: string): number {
  const pool = pit.inspect().pools.find((p) => p.name === name);
  if (!pool) return NaN;
  return pool.workers.reduce((s, w) => s + rssKb(w.pid), 0) / pool.capacity;
}

export async function cpuSection(results: Record<string, unknown>): Promise<CpuResult> {
  console.log(
    `\n== CPU-bound work on ${CORES} cores (${MATMUL_CALLS} calls of ≈10 ms, concurrency = capacity × 2, ${CPU_ROUNDS} round(s); ` +
      (BLAS_DEFAULTS ? "BLAS threads: the profiles' defaults)" : 'BLAS threads pinned to 1 per call)') +
      '\n',
  );
  const pit = await startPit(configs.map((c) => c.pool));
  const plain = startPlainPair();
  try {
    const capacityOf = (name: string) => pit.inspect().pools.find((p) => p.name === name)?.capacity ?? NaN;
    const call = (tool: string, args: Record<string, unknown>, pool: string) => () => pit.execute(tool, args, { pool });

    // The units of work, measured inside one idle worker: what the ideal is made of.
    const matmulArgs: Record<string, unknown> = MATMUL_N ? { n: MATMUL_N } : {};
    const matmulCallSeconds = (await pit.execute('matmul_seconds', { ...matmulArgs, reps: 20 }, { pool: 'single' })) as number;
    const spinIterations = (await pit.execute('spin_iterations_for', { ms: SPIN_MS }, { pool: 'single' })) as number;
    const workloads: Workload[] = [
      { key: 'matmul', label: 'NumPy matmul (releases the GIL)', args: matmulArgs },
      { key: 'spin', label: 'pure-Python loop (holds the GIL)', args: { iterations: spinIterations } },
    ];
    console.log(`  one matmul: ${fmt(matmulCallSeconds * 1000, 1)} ms inside Python; spin: ${fmt(spinIterations)} iterations ≈ ${SPIN_MS} ms`);

    // Warm-up: import NumPy and build the matrices in every worker / thread.
    for (const c of configs) {
      const cap = capacityOf(c.pool.name);
      for (const w of workloads) await runLimited(Math.max(4, cap * 4), Math.max(1, cap * 2), call(w.key, w.args, c.pool.name));
    }
    for (const w of workloads) await plain.run(8, w.key, w.args);
    notePids(pit);

    type Runner = { key: ConfigKey | 'plain'; run: (w: Workload) => Promise<number> };
    const runners: Runner[] = [
      ...configs.map((c) => ({ key: c.key, run: (w: Workload) => runLimited(MATMUL_CALLS, capacityOf(c.pool.name) * 2, call(w.key, w.args, c.pool.name)) })),
      { key: 'plain', run: (w: Workload) => plain.run(MATMUL_CALLS, w.key, w.args) },
    ];
    const seconds = new Map<string, number[]>();
    const rss = new Map<ConfigKey, number[]>(configs.map((c) => [c.key, []]));
    for (let round = 0; round < CPU_ROUNDS; round++) {
      const parts: string[] = [];
      for (const w of workloads) {
        for (const c of rotated(runners, round)) {
          const s = await c.run(w);
          const k = `${w.key}/${c.key}`;
          seconds.set(k, [...(seconds.get(k) ?? []), s]);
          parts.push(`${k} ${fmt(s, 2)} s`);
        }
      }
      for (const c of configs) rss.get(c.key)!.push(rssPerCapacityKb(pit, c.pool.name));
      notePids(pit);
      sampleNoise(1);
      console.log(`  round ${round + 1}/${CPU_ROUNDS}: ${parts.join(', ')}`);
    }

    const med = (w: Workload['key'], c: ConfigKey | 'plain') => median(seconds.get(`${w}/${c}`)!);
    const perWorkload = (w: Workload['key']) => ({ single: med(w, 'single'), process: med(w, 'process'), thread: med(w, 'thread'), plain: med(w, 'plain') });
    const result: CpuResult = {
      seconds: { matmul: perWorkload('matmul'), spin: perWorkload('spin') },
      matmulCallSeconds,
      idealMatmulSeconds: (MATMUL_CALLS * matmulCallSeconds) / CORES,
      spinIterations,
      cpuScaling: NaN,
      pyCpuScaling: { process: med('spin', 'process') / med('spin', 'single'), thread: med('spin', 'thread') / med('spin', 'single') },
      rssPerCapacityUnitMb: { process: median(rss.get('process')!) / 1024, thread: median(rss.get('thread')!) / 1024 },
    };
    result.cpuScaling = result.seconds.matmul.process / result.idealMatmulSeconds;

    console.log('');
    console.log(
      table(
        ['pool', 'capacity', `matmul s / ${MATMUL_CALLS}`, `spin s / ${MATMUL_CALLS}`, 'spin vs 1 worker', 'RSS MB / capacity'],
        configs.map((c) => [
          c.label,
          String(capacityOf(c.pool.name)),
          fmt(result.seconds.matmul[c.key], 2),
          fmt(result.seconds.spin[c.key], 2),
          fmt(result.seconds.spin[c.key] / result.seconds.spin.single, 2),
          fmt(median(rss.get(c.key)!) / 1024, 1),
        ]),
      ),
    );
    console.log(
      `\n  two plain JSON-lines processes (no bridge): matmul ${fmt(result.seconds.matmul.plain, 2)} s, spin ${fmt(result.seconds.spin.plain, 2)} s` +
        `\n  ideal for ${MATMUL_CALLS} matmuls on ${CORES} cores: ${fmt(result.idealMatmulSeconds, 2)} s`,
    );
    results.cpu = result;
    return result;
  } finally {
    await plain.close();
    await stopPit(pit);
  }
}
