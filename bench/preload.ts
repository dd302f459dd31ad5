/**
 * Section "Preloading" (pool option `preload`), each measure against `preload: false` in the
 * same run, with a model that takes ≈ 2 s to import and holds ≈ 200 MB of NumPy weights
 * (adapters/model_adapters.py):
 *   - `recoveryMsPreload`: kill -9 of a worker → its replacement ready (goal ≤ 100 ms; without
 *     preload the replacement imports the model again, ≈ 2 s);
 *   - `pssPerExtraWorkerMb`: proportional set size (/proc/PID/smaps_rollup) of the pool's whole
 *     process tree with 4 workers minus with 1, ÷ 3, after every worker has read the whole model
 *     (goal ≤ 0.3 × the spawned figure);
 *   - `startup8MsPreload`: Snakepit.start of 8 process workers of the bench's echo adapter, and of
 *     the 2 s model, until ready.
 * BENCH_MODEL_KIND=random_forest measures a real scikit-learn RandomForestRegressor of ≈ 200 MB
 * instead (an interpreter with scikit-learn in SNAKEPIT_PYTHON; the model file is made once).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRELOAD_ROUNDS, PYTHON } from './config.js';
import { median } from './floors.js';
import { interleaved, timePitStart, timeRecovery } from './lifecycle.js';
import { type PoolConfig, startPit, stopPit } from './processes.js';
import { fmt, table } from './report.js';

export interface PreloadResult {
  /** What was loaded: the NumPy stand-in or a scikit-learn forest. */
  model: string;
  recoveryMs: { preload: number; spawn: number };
  pssPerExtraWorkerMb: { preload: number; spawn: number };
  /** Per extra worker, preloaded ÷ spawned. */
  pssRatio: number;
  startup8Ms: { echoPreload: number; echoSpawn: number; modelPreload: number; modelSpawn: number };
}

const model = (preload: boolean, poolSize: number, name = 'model'): PoolConfig => ({
  name, adapter: 'model_adapters.Model', workerProfile: 'process', poolSize, preload,
  startupBatchSize: 8, startupTimeoutMs: 120_000,
  // What is measured is one replacement, never the restart budget.
  restart: { intensity: 1000, periodMs: 1000 },
});

/** Pss of `pid` in MB, from the kernel's rollup of its mappings. */
function pssMb(pid: number): number {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0; // gone
  }
}

/** `roots` and every process descending from them (a worker's watchdog, a fork server's forks). */
function processTree(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone */
    }
  }
  const found = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const pid = stack.pop()!;
    if (found.has(pid)) continue;
    found.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return [...found];
}

/** The PSS of a pool's whole process tree once each of its workers has run the model. */
async function poolPssMb(preload: boolean, poolSize: number): Promise<number> {
  const pit = await startPit([model(preload, poolSize)]);
  try {
    // One call at a time per process worker: as many at once as workers reach all of them.
    await Promise.all(Array.from({ length: poolSize }, (_, i) => pit.execute('predict', { seed: i }, { pool: 'model' })));
    const pool = pit.inspect().pools[0]!;
    const roots = [...pool.workers.map((w) => w.pid), ...(pool.preload?.pid ? [pool.preload.pid] : [])];
    return processTree(roots).reduce((sum, pid) => sum + pssMb(pid), 0);
  } finally {
    await stopPit(pit);
  }
}

/** The model the section loads, as its label says; a scikit-learn one's file is made first if missing. */
function modelLabel(): string {
  if (process.env.BENCH_MODEL_KIND !== 'random_forest') return '2 s, 200 MB NumPy model';
  const mb = process.env.BENCH_MODEL_MB ?? '200';
  process.env.BENCH_MODEL_FILE ??= join(tmpdir(), `snakepit-bench-forest-${mb}mb.joblib`);
  if (!existsSync(process.env.BENCH_MODEL_FILE)) {
    execFileSync(PYTHON, [join(import.meta.dirname, 'adapters', 'make_forest.py'), process.env.BENCH_MODEL_FILE], { stdio: 'inherit' });
  }
  return `scikit-learn RandomForestRegressor of ${mb} MB`;
}

export async function preloadSection(results: Record<string, unknown>): Promise<PreloadResult> {
  const rounds = PRELOAD_ROUNDS;
  const label = modelLabel();
  console.log(`\n== Preloading: a ${label}, preload against spawn (${rounds} rounds)\n`);
  const echo = (preload: boolean): PoolConfig => ({ name: 'start', workerProfile: 'process', poolSize: 8, adapter: 'bench_adapters.Bench', preload });
  const pits = { preload: await startPit([model(true, 1)]), spawn: await startPit([model(false, 1)]) };
  let samples: Map<string, number[]>;
  try {
    samples = await interleaved([
      ['recoveryPreload', () => timeRecovery(pits.preload)],
      ['recoverySpawn', () => timeRecovery(pits.spawn)],
      ['echoPreload', () => timePitStart([echo(true)])],
      ['echoSpawn', () => timePitStart([echo(false)])],
      ['modelPreload', () => timePitStart([model(true, 8, 'start')])],
      ['modelSpawn', () => timePitStart([model(false, 8, 'start')])],
    ], rounds);
  } finally {
    await Promise.all([stopPit(pits.preload), stopPit(pits.spawn)]);
  }
  const pss: Record<string, number> = {};
  for (const preload of [true, false]) {
    const one = await poolPssMb(preload, 1);
    const four = await poolPssMb(preload, 4);
    pss[preload ? 'preload' : 'spawn'] = (four - one) / 3;
    console.log(`  PSS, ${preload ? 'preload' : 'spawn'}: 1 worker ${fmt(one, 0)} MB, 4 workers ${fmt(four, 0)} MB`);
  }
  const med = (k: string) => median(samples.get(k) ?? []);
  const out: PreloadResult = {
    model: label,
    recoveryMs: { preload: med('recoveryPreload'), spawn: med('recoverySpawn') },
    pssPerExtraWorkerMb: { preload: pss.preload!, spawn: pss.spawn! },
    pssRatio: pss.preload! / pss.spawn!,
    startup8Ms: { echoPreload: med('echoPreload'), echoSpawn: med('echoSpawn'), modelPreload: med('modelPreload'), modelSpawn: med('modelSpawn') },
  };
  console.log('');
  console.log(
    table(
      ['measure', 'preload', 'spawn'],
      [
        ['kill -9 → replacement ready, ms', fmt(out.recoveryMs.preload), fmt(out.recoveryMs.spawn)],
        ['PSS per extra worker, MB', fmt(out.pssPerExtraWorkerMb.preload, 1), fmt(out.pssPerExtraWorkerMb.spawn, 1)],
        ['ready: 8 echo workers, ms', fmt(out.startup8Ms.echoPreload), fmt(out.startup8Ms.echoSpawn)],
        ['ready: 8 model workers, ms', fmt(out.startup8Ms.modelPreload), fmt(out.startup8Ms.modelSpawn)],
      ],
    ),
  );
  results.preload = out;
  return out;
}
