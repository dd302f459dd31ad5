/**
 * Section "free-threaded": the thread profile on CPython 3.13t (no GIL; built by
 * scripts/build-free-threaded-python.mjs, which `npm run bench` runs first). 200 pure-Python
 * calls of ≈10 ms (the cpu section's `spin`, calibrated inside a 3.13t worker), concurrency =
 * capacity × 2, on a thread worker with 1 thread and one with 2 threads, and on 2 process
 * workers, interleaved over rounds.
 *   - `pyCpuScalingFreeThreaded` = thread 1 × 2 ÷ thread 1 × 1 (goal ≤ 0.6, what two processes
 *     reach on the GIL build: with the GIL it is ≈ 1.0);
 *   - RSS per unit of capacity of both profiles on 3.13t (beside the GIL build's in
 *     `rssPerCapacityUnitMb`). No NumPy here: it has no 3.13t wheel on this machine.
 * Beside them, the same calls on 1 and 2 plain threads of a bridge-less 3.13t process
 * (peers/spin_threads.py): what two threads get from this machine in that round.
 */
import { execFile } from 'node:child_process';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CPU_ROUNDS, MATMUL_CALLS } from './config.js';
import { runLimited, rssPerCapacityKb } from './cpu.js';
import { median, repoRoot } from './floors.js';
import { notePids, notePythonPids, startPit, stopPit, trackChild, type PoolConfig } from './processes.js';
import { fmt, rotated, table } from './report.js';
import { sampleNoise } from './noise.js';
import { freeThreadedPython } from '../scripts/freeThreadedPython.js';

const SPIN_MS = 10;
const plainScript = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'spin_threads.py');

/** Seconds for `calls` spins on 1 and on 2 plain threads of a bridge-less process. */
function plainThreads(python: string, iterations: number, calls: number): Promise<{ one: number; two: number }> {
  return new Promise((resolve, reject) => {
    // bench_adapters imports the bridge, which 3.13t has only from this checkout.
    const env = { ...process.env, PYTHONPATH: [join(repoRoot, 'python'), process.env.PYTHONPATH].filter(Boolean).join(delimiter) };
    const child = execFile(python, [plainScript, String(iterations), String(calls)], { env, timeout: 300_000 }, (error, stdout) =>
      error ? reject(error) : resolve(JSON.parse(stdout) as { one: number; two: number }),
    );
    trackChild(child);
    notePythonPids([child.pid ?? 0]);
  });
}

const configs = [
  { key: 'single', label: 'thread, 1 worker × 1 thread (baseline)', pool: { name: 'ft-single', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 1 } },
  { key: 'thread', label: 'thread, 1 worker × 2 threads', pool: { name: 'ft-thread', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 2 } },
  { key: 'process', label: 'process, 2 workers × 1 thread', pool: { name: 'ft-process', workerProfile: 'process', poolSize: 2, threadsPerWorker: 1 } },
] as const;
type ConfigKey = (typeof configs)[number]['key'];

export interface FreeThreadedResult {
  python: string;
  /** Whether each pool's workers ran without the GIL (inspect()'s gilEnabled === false). */
  gilDisabled: boolean;
  spinIterations: number;
  /** Median seconds per 200 calls, per pool. */
  seconds: Record<ConfigKey, number>;
  /** The same calls on 2 plain threads ÷ on 1, no bridge: the machine's own limit (median). */
  plainThreadsRatio: number;
  pyCpuScalingFreeThreaded: number;
  rssPerCapacityUnitMb: { process: number; thread: number };
}

export async function freeThreadedSection(results: Record<string, unknown>): Promise<FreeThreadedResult> {
  const python = freeThreadedPython();
  console.log(`\n== Free-threaded CPython 3.13t (${MATMUL_CALLS} pure-Python calls of ≈${SPIN_MS} ms, concurrency = capacity × 2, ${CPU_ROUNDS} round(s); ${python})\n`);
  const pools: PoolConfig[] = configs.map((c) => ({
    ...c.pool,
    transport: 'local',
    adapter: c.pool.workerProfile === 'thread' ? 'bench_adapters.BenchThreaded' : 'bench_adapters.Bench',
  }));
  const pit = await startPit(pools, python);
  try {
    const gilDisabled = pit.inspect().pools.every((p) => p.workers.every((w) => w.gilEnabled === false));
    if (!gilDisabled) throw new Error(`a worker on ${python} runs with the GIL: this is not a free-threaded measure`);
    const capacityOf = (name: string) => pit.inspect().pools.find((p) => p.name === name)?.capacity ?? NaN;
    const spinIterations = (await pit.execute('spin_iterations_for', { ms: SPIN_MS }, { pool: 'ft-single' })) as number;
    console.log(`  spin: ${fmt(spinIterations)} iterations ≈ ${SPIN_MS} ms in a 3.13t worker`);
    const run = (c: (typeof configs)[number], calls: number) => {
      const cap = capacityOf(c.pool.name);
      return runLimited(calls, cap * 2, () => pit.execute('spin', { iterations: spinIterations }, { pool: c.pool.name }));
    };
    for (const c of configs) await run(c, Math.max(4, capacityOf(c.pool.name) * 4)); // every thread started and warm
    notePids(pit);

    const seconds = new Map<ConfigKey, number[]>(configs.map((c) => [c.key, []]));
    const rss = new Map<ConfigKey, number[]>(configs.map((c) => [c.key, []]));
    const plainRatios: number[] = [];
    for (let round = 0; round < CPU_ROUNDS; round++) {
      const parts: string[] = [];
      for (const c of rotated([...configs], round)) {
        const s = await run(c, MATMUL_CALLS);
        seconds.get(c.key)!.push(s);
        parts.push(`${c.key} ${fmt(s, 2)} s`);
      }
      const plain = await plainThreads(python, spinIterations, MATMUL_CALLS);
      plainRatios.push(plain.two / plain.one);
      parts.push(`plain threads 1 / 2: ${fmt(plain.one, 2)} / ${fmt(plain.two, 2)} s`);
      for (const c of configs) rss.get(c.key)!.push(rssPerCapacityKb(pit, c.pool.name));
      sampleNoise(1);
      console.log(`  round ${round + 1}/${CPU_ROUNDS}: ${parts.join(', ')}`);
    }
    const med = (k: ConfigKey) => median(seconds.get(k)!);
    const out: FreeThreadedResult = {
      python,
      gilDisabled,
      spinIterations,
      seconds: { single: med('single'), thread: med('thread'), process: med('process') },
      plainThreadsRatio: median(plainRatios),
      pyCpuScalingFreeThreaded: med('thread') / med('single'),
      rssPerCapacityUnitMb: { process: median(rss.get('process')!) / 1024, thread: median(rss.get('thread')!) / 1024 },
    };
    console.log('');
    console.log(
      table(
        ['pool (3.13t)', 'capacity', `spin s / ${MATMUL_CALLS}`, 'vs 1 × 1', 'RSS MB / capacity'],
        configs.map((c) => [
          c.label,
          String(capacityOf(c.pool.name)),
          fmt(out.seconds[c.key], 2),
          fmt(out.seconds[c.key] / out.seconds.single, 2),
          fmt(median(rss.get(c.key)!) / 1024, 1),
        ]),
      ),
    );
    console.log(`\n  two plain threads, no bridge: ${fmt(out.plainThreadsRatio, 2)} × one thread's time`);
    results.freeThreaded = out;
    return out;
  } finally {
    await stopPit(pit);
  }
}
