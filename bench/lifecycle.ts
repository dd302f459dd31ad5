/**
 * Section "Start-up, import and recovery", interleaved over rounds:
 *   - `startup8Ms`: Snakepit.start of 8 process workers until ready (goal ≤ 600 ms), beside
 *     1 worker and python-shell's 1 / 8 processes (ready = first echo answered);
 *   - `importMs`: a fresh Node process importing the package's built entry (goal ≤ 100 ms);
 *   - `recoveryRatio`: kill -9 of a worker → its replacement ready, ÷ one cold start of a
 *     1-worker pit (goal ≤ 2);
 *   - `coldStartVsPythonShell`: the cold starts of 1 and of 8 workers ÷ python-shell's (goal ≤ 2);
 *   - `frameDecodeUs`: µs to read one call's ClientFrame in Python, wire.py beside protobuf, and
 *     wire.py on free-threaded 3.13t.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LIFECYCLE_ROUNDS, PYTHON } from './config.js';
import { median, repoRoot } from './floors.js';
import { echoScript } from './peers/bridges.js';
import { notePids, notePythonPids, type Pit, type PoolConfig, startPit, stopPit } from './processes.js';
import { fmt, rotated, table } from './report.js';
import { sampleNoise } from './noise.js';
import { freeThreadedPython } from '../scripts/freeThreadedPython.js';

export interface LifecycleResult {
  startup1Ms: number;
  startup8Ms: number;
  pythonShellStartup1Ms: number;
  pythonShellStartup8Ms: number;
  importMs: number | null;
  importModule: string | null;
  recoveryMs: number;
  recoveryRatio: number;
  /** wire.py's and protobuf's µs per frame (frame_decode.py); protobuf's only where installed. */
  frameDecodeUs: Record<string, number>;
}

function decodeUs(python: string): Record<string, number> {
  const r = spawnSync(python, [resolve(repoRoot, 'bench', 'frame_decode.py')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench/frame_decode.py failed: ${r.stderr.trim().split('\n').pop()}`);
  const answer = JSON.parse(r.stdout) as Record<string, number | string>;
  return Object.fromEntries(Object.entries(answer).filter((e): e is [string, number] => typeof e[1] === 'number'));
}

/** The bench's interpreter, and wire.py on 3.13t beside it: the decoder is the whole per-call
 *  cost of a free-threaded worker if it falls off the interpreter's fast paths. */
function timeFrameDecode(): Record<string, number> {
  return { ...decodeUs(PYTHON), 'wire 3.13t': decodeUs(freeThreadedPython()).wire };
}

const echoPool = (poolSize: number) => [{ name: 'start', workerProfile: 'process', poolSize, adapter: 'bench_adapters.Bench' }];

/** Snakepit.start of `pools` until every worker is ready, in ms. */
export async function timePitStart(pools: PoolConfig[]): Promise<number> {
  const t0 = performance.now();
  const pit = await startPit(pools);
  const ms = performance.now() - t0;
  await stopPit(pit);
  return ms;
}

const timeSnakepitStart = (poolSize: number) => timePitStart(echoPool(poolSize));

async function timePythonShellStart(processes: number): Promise<number> {
  const { PythonShell } = (await import('python-shell')) as typeof import('python-shell');
  const t0 = performance.now();
  const shells = Array.from({ length: processes }, () => new PythonShell(echoScript, { mode: 'json', pythonPath: PYTHON }));
  notePythonPids(shells.map((s) => s.childProcess.pid ?? 0));
  await Promise.all(
    shells.map(
      (s) =>
        new Promise<void>((res) => {
          s.once('message', () => res());
          s.send({ x: 1 });
        }),
    ),
  );
  const ms = performance.now() - t0;
  await Promise.all(shells.map((s) => new Promise<void>((res) => s.end(() => res()))));
  return ms;
}

/** The entry a fresh process imports: the measured build, or dist/ when it exists. */
function importTarget(): string | null {
  const file = resolve(process.env.BENCH_SNAKEPIT_MODULE ?? `${repoRoot}/dist/src/index.js`);
  return existsSync(file) ? file : null;
}

function timeImport(file: string): number {
  const code = `const t0 = performance.now(); await import(${JSON.stringify(pathToFileURL(file).href)}); console.log(performance.now() - t0);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: repoRoot });
  const ms = Number(r.stdout.trim().split('\n').pop());
  if (r.status !== 0 || !Number.isFinite(ms)) throw new Error(`importing ${file} failed: ${r.stderr.trim().split('\n')[0]}`);
  return ms;
}

/** kill -9 the pool's worker; ms until a worker with another PID is ready. */
export async function timeRecovery(pit: Pit): Promise<number> {
  const victim = pit.inspect().pools[0]!.workers[0]!.pid;
  const ready = new Promise<void>((res) => {
    const onReady = (e: { pid: number }) => {
      if (e.pid === victim) return;
      pit.off('worker:ready', onReady);
      res();
    };
    pit.on('worker:ready', onReady);
  });
  const t0 = performance.now();
  process.kill(victim, 'SIGKILL');
  await ready;
  const ms = performance.now() - t0;
  notePids(pit);
  return ms;
}

/** Each step once a round, in an order rotated every round so that all share the machine's noise; each step's ms. */
export async function interleaved(steps: Array<[string, () => Promise<number>]>, rounds: number): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    const parts: string[] = [];
    for (const [k, fn] of rotated(steps, round)) {
      const ms = await fn();
      samples.set(k, [...(samples.get(k) ?? []), ms]);
      parts.push(`${k} ${fmt(ms)}`);
    }
    sampleNoise(1);
    console.log(`  round ${round + 1}/${rounds}: ${parts.join(', ')}`);
  }
  return samples;
}

export async function lifecycleSection(results: Record<string, unknown>): Promise<LifecycleResult> {
  console.log(`\n== Start-up, import and recovery (${LIFECYCLE_ROUNDS} interleaved rounds)\n`);
  const target = importTarget();
  const steps: Array<[string, () => Promise<number>]> = [
    ['startup1Ms', () => timeSnakepitStart(1)],
    ['startup8Ms', () => timeSnakepitStart(8)],
    ['pythonShellStartup1Ms', () => timePythonShellStart(1)],
    ['pythonShellStartup8Ms', () => timePythonShellStart(8)],
  ];
  if (target) {
    timeImport(target); // the first import warms the disk cache and Node's compile cache
    steps.push(['importMs', async () => timeImport(target)]);
  }
  // A restart budget no benchmark round can exhaust: what is measured is one replacement.
  const pit = await startPit([{ ...echoPool(1)[0]!, name: 'recover', restart: { intensity: 1000, periodMs: 1000 } }]);
  let samples: Map<string, number[]>;
  try {
    steps.push(['recoveryMs', () => timeRecovery(pit)]);
    await pit.execute('echo', { x: 1 }, { pool: 'recover' });
    samples = await interleaved(steps, LIFECYCLE_ROUNDS);
  } finally {
    await stopPit(pit);
  }
  const med = (k: string) => median(samples.get(k) ?? []);
  const out: LifecycleResult = {
    startup1Ms: med('startup1Ms'),
    startup8Ms: med('startup8Ms'),
    pythonShellStartup1Ms: med('pythonShellStartup1Ms'),
    pythonShellStartup8Ms: med('pythonShellStartup8Ms'),
    importMs: target ? med('importMs') : null,
    importModule: target,
    recoveryMs: med('recoveryMs'),
    recoveryRatio: med('recoveryMs') / med('startup1Ms'),
    frameDecodeUs: timeFrameDecode(),
  };
  console.log('');
  console.log(
    table(
      ['measure', 'Snakepit ms', 'python-shell ms'],
      [
        ['ready: 1 worker / process', fmt(out.startup1Ms), fmt(out.pythonShellStartup1Ms)],
        ['ready: 8 workers / processes', fmt(out.startup8Ms), fmt(out.pythonShellStartup8Ms)],
        ['import the package (fresh Node process)', out.importMs === null ? 'n/a (no build)' : fmt(out.importMs), '—'],
        ['kill -9 → replacement ready', fmt(out.recoveryMs), '—'],
      ],
    ),
  );
  results.lifecycle = out;
  return out;
}
