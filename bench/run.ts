/**
 * `npm run bench` — what a Snakepit call costs, and what a pool buys on CPU-bound work.
 *
 * Section 1, "Tiny call latency": sequential calls, one at a time, measured in interleaved
 * rounds (the machine is shared and noisy) for three paths:
 *   - unary floor:  @grpc/grpc-js unary RPC → bare grpcio sync server (no Snakepit code)
 *   - stream floor: one message each way on one long-lived bidi stream → same server
 *   - snakepit:     pit.execute('echo', { x: 1 }) on a 1-worker process pool
 * Each figure is the median over rounds of that round's statistic. Goals:
 *   snakepit / unary floor < 1      and      snakepit / stream floor ≤ 1.25
 *
 * Section 2, "CPU-bound NumPy on 2 cores": `matmul` (≈10 ms per call) issued concurrently
 * (concurrency = capacity × 2) on a process pool (2 workers × 1 thread), a thread pool
 * (1 worker × 2 threads) and, as the baseline, a 1-worker process pool. Reports calls/s and
 * RSS per unit of capacity, interleaved over rounds.
 *
 * Tunables (environment): BENCH_N (calls per latency round, 2000), BENCH_ROUNDS (3),
 * BENCH_WARMUP (200), BENCH_MATMUL_CALLS (200), BENCH_MATMUL_N (adapter default),
 * BENCH_CPU_ROUNDS (3), BENCH_SECTIONS ("latency,cpu"), BENCH_BLAS_DEFAULTS=1 (leave the
 * profiles' BLAS thread defaults instead of pinning 1 BLAS thread per call),
 * BENCH_JSON=<file> (also write the figures as JSON), BENCH_SNAKEPIT_MODULE=<file> (load the
 * library from another entry, e.g. dist/src/index.js, instead of src/index.ts).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  findPython,
  isAlive,
  measureSequential,
  median,
  rssKb,
  startFloorServer,
  streamCaller,
  unaryCaller,
  type FloorCaller,
  type FloorServer,
  type LatencyStats,
} from './floors.js';

const here = dirname(fileURLToPath(import.meta.url));
const adaptersDir = join(here, 'adapters');

const envInt = (name: string, dflt: number): number => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : dflt;
};

const N = envInt('BENCH_N', 2000);
const ROUNDS = envInt('BENCH_ROUNDS', 3);
const WARMUP = envInt('BENCH_WARMUP', 200);
const MATMUL_CALLS = envInt('BENCH_MATMUL_CALLS', 200);
const MATMUL_N = process.env.BENCH_MATMUL_N ? envInt('BENCH_MATMUL_N', 610) : undefined;
const CPU_ROUNDS = envInt('BENCH_CPU_ROUNDS', 3);
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'latency,cpu').split(',').map((s) => s.trim()));
const PYTHON = findPython();

// ---------------------------------------------------------------------------------------
// The part of the Snakepit API the benchmark uses (imported dynamically, so the floors
// still run and report when the library cannot be loaded).

interface InspectWorker {
  id: string;
  pid: number;
  state: string;
  inFlight: number;
  capacity: number;
  requests: number;
  restarts: number;
}
interface InspectSnapshot {
  pools: Array<{ name: string; profile: string; capacity: number; workers: InspectWorker[] }>;
}
interface Pit {
  execute(tool: string, args: Record<string, unknown>, opts: { pool: string }): Promise<unknown>;
  inspect(): InspectSnapshot;
  stop(opts?: { timeoutMs?: number }): Promise<void>;
}
type PoolConfig = Record<string, unknown> & { name: string };

async function loadSnakepit(): Promise<{ start(config: unknown): Promise<Pit> }> {
  // BENCH_SNAKEPIT_MODULE: load another build of the library (e.g. dist/) instead of src/.
  const spec = process.env.BENCH_SNAKEPIT_MODULE
    ? pathToFileURL(resolve(process.env.BENCH_SNAKEPIT_MODULE)).href
    : '../src/index.js';
  const mod = (await import(spec)) as Record<string, unknown>;
  const Snakepit = mod.Snakepit as { start?: (config: unknown) => Promise<Pit> } | undefined;
  if (!Snakepit || typeof Snakepit.start !== 'function') {
    throw new Error('src/index exports no Snakepit.start');
  }
  return { start: (config) => Snakepit.start!(config) };
}

// Every Python process this run has seen, so none outlives it.
const seenPids = new Set<number>();
const livePits = new Set<Pit>();
const liveFloors = new Set<FloorServer>();

function notePids(pit: Pit): void {
  try {
    for (const pool of pit.inspect().pools) for (const w of pool.workers) if (w.pid > 0) seenPids.add(w.pid);
  } catch {
    /* inspect unavailable: nothing to note */
  }
}

async function startPit(pools: PoolConfig[]): Promise<Pit> {
  const { start } = await loadSnakepit();
  const pit = await start({
    python: { executable: PYTHON, pythonPath: [adaptersDir] },
    pools,
  });
  livePits.add(pit);
  notePids(pit);
  return pit;
}

async function stopPit(pit: Pit): Promise<void> {
  notePids(pit);
  livePits.delete(pit);
  await pit.stop({ timeoutMs: 5000 });
}

async function cleanup(): Promise<string[]> {
  const problems: string[] = [];
  for (const pit of [...livePits]) {
    try {
      await stopPit(pit);
    } catch (e) {
      problems.push(`pit.stop failed: ${(e as Error).message}`);
    }
  }
  for (const f of [...liveFloors]) {
    liveFloors.delete(f);
    await f.stop().catch(() => undefined);
  }
  // Give exits a moment to be reaped, then make sure.
  const deadline = Date.now() + 3000;
  while ([...seenPids].some(isAlive) && Date.now() < deadline) await sleep(50);
  for (const pid of seenPids) {
    if (isAlive(pid)) {
      problems.push(`python worker ${pid} was still alive after stop; killed it`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
  }
  return problems;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// Formatting

const fmt = (v: number, digits = 0) =>
  Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a';

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------
// Section 1: tiny call latency

interface Summary {
  medianUs: number;
  p90Us: number;
  callsPerSec: number;
  roundMediansUs: number[];
}

function summarise(rounds: LatencyStats[]): Summary {
  return {
    medianUs: median(rounds.map((r) => r.medianUs)),
    p90Us: median(rounds.map((r) => r.p90Us)),
    callsPerSec: median(rounds.map((r) => r.callsPerSec)),
    roundMediansUs: rounds.map((r) => r.medianUs),
  };
}

async function latencySection(results: Record<string, unknown>): Promise<void> {
  console.log(`\n== Tiny call latency (sequential; ${ROUNDS} rounds × ${N} calls, ${WARMUP} warm-up; Python: ${PYTHON})\n`);
  const server = await startFloorServer({ python: PYTHON });
  liveFloors.add(server);
  const callers: FloorCaller[] = [];
  let pit: Pit | undefined;
  let snakepitError: string | undefined;
  try {
    const unary = unaryCaller(server.address);
    const stream = streamCaller(server.address);
    callers.push(unary, stream);

    try {
      pit = await startPit([
        { name: 'bench', workerProfile: 'process', poolSize: 1, adapter: 'bench_adapters.Bench' },
      ]);
      const r = (await pit.execute('echo', { x: 1 }, { pool: 'bench' })) as { x?: unknown } | null;
      if (!r || r.x !== 1) throw new Error(`echo returned ${JSON.stringify(r)}, expected {"x":1}`);
    } catch (e) {
      snakepitError = (e as Error).stack ?? String(e);
      if (pit) await stopPit(pit).catch(() => undefined);
      pit = undefined;
    }

    const methods: Array<{ key: string; label: string; fn: () => Promise<unknown> }> = [
      { key: 'unary', label: 'unary floor (grpc-js unary → grpcio)', fn: unary.call },
      { key: 'stream', label: 'stream floor (one bidi stream, 1 msg each way)', fn: stream.call },
    ];
    if (pit) {
      const p = pit;
      methods.push({
        key: 'snakepit',
        label: 'snakepit execute (process pool, 1 worker)',
        fn: () => p.execute('echo', { x: 1 }, { pool: 'bench' }),
      });
    }

    const perMethod = new Map<string, LatencyStats[]>(methods.map((m) => [m.key, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order each round so no path always runs first or last.
      const order = methods.map((_, i) => methods[(i + round) % methods.length]!);
      const parts: string[] = [];
      for (const m of order) {
        const s = await measureSequential(m.fn, N, WARMUP);
        perMethod.get(m.key)!.push(s);
        parts.push(`${m.key} ${fmt(s.medianUs)} µs`);
      }
      console.log(`  round ${round + 1}/${ROUNDS}: ${parts.join(', ')}`);
    }

    const sums = new Map<string, Summary>();
    for (const m of methods) sums.set(m.key, summarise(perMethod.get(m.key)!));
    console.log('');
    console.log(
      table(
        ['path', 'median µs', 'p90 µs', 'calls/s', 'round medians µs'],
        methods.map((m) => {
          const s = sums.get(m.key)!;
          return [m.label, fmt(s.medianUs), fmt(s.p90Us), fmt(s.callsPerSec), s.roundMediansUs.map((v) => fmt(v)).join(' / ')];
        }),
      ),
    );
    results.latency = Object.fromEntries(sums);

    const sp = sums.get('snakepit');
    console.log('');
    if (sp) {
      const vsUnary = sp.medianUs / sums.get('unary')!.medianUs;
      const vsStream = sp.medianUs / sums.get('stream')!.medianUs;
      console.log(`  snakepit / unary floor  = ${fmt(vsUnary, 2)}  (goal < 1)     ${vsUnary < 1 ? 'MET' : 'NOT MET'}`);
      console.log(`  snakepit / stream floor = ${fmt(vsStream, 2)}  (goal ≤ 1.25)  ${vsStream <= 1.25 ? 'MET' : 'NOT MET'}`);
      results.ratios = { snakepitOverUnary: vsUnary, snakepitOverStream: vsStream, unaryGoalMet: vsUnary < 1, streamGoalMet: vsStream <= 1.25 };
    } else {
      console.log('  snakepit: NOT MEASURED — the library could not be started:');
      console.log('    ' + (snakepitError ?? 'unknown error').split('\n').slice(0, 6).join('\n    '));
      results.snakepitError = snakepitError;
    }
  } finally {
    for (const c of callers) c.close();
    if (pit) await stopPit(pit);
    liveFloors.delete(server);
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------
// Section 2: CPU-bound NumPy on 2 cores

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

async function cpuSection(results: Record<string, unknown>): Promise<void> {
  const blasDefaults = process.env.BENCH_BLAS_DEFAULTS === '1';
  console.log(
    `\n== CPU-bound NumPy on 2 cores (${MATMUL_CALLS} matmul calls of ≈10 ms, concurrency = capacity × 2, ${CPU_ROUNDS} rounds; ` +
      (blasDefaults ? "BLAS threads: the profiles' defaults)" : 'BLAS threads pinned to 1 per call)') +
      '\n',
  );
  // One BLAS thread per call everywhere (unless asked otherwise): the parallelism measured is
  // the pool's, not OpenBLAS's, and 2 concurrent calls never oversubscribe the 2 cores.
  const blasEnv = blasDefaults
    ? undefined
    : Object.fromEntries(
        ['OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'OMP_NUM_THREADS', 'NUMEXPR_NUM_THREADS', 'VECLIB_MAXIMUM_THREADS'].map(
          (k) => [k, '1'],
        ),
      );
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

  const pit = await startPit(configs.map((c) => c.pool));
  try {
    const args: Record<string, unknown> = MATMUL_N ? { n: MATMUL_N } : {};
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
      await runLimited(Math.max(4, cap * 4), Math.max(1, cap * 2), () => pit.execute('matmul', args, { pool: c.pool.name }));
    }
    notePids(pit);

    const rounds = new Map<string, CpuRound[]>(configs.map((c) => [c.key, []]));
    for (let round = 0; round < CPU_ROUNDS; round++) {
      const order = configs.map((_, i) => configs[(i + round) % configs.length]!);
      const parts: string[] = [];
      for (const c of order) {
        const cap = capacityOf(c.pool.name);
        const seconds = await runLimited(MATMUL_CALLS, cap * 2, () => pit.execute('matmul', args, { pool: c.pool.name }));
        const r: CpuRound = { seconds, callsPerSec: MATMUL_CALLS / seconds, rssKbPerCapacity: rssPerCapacity(c.pool.name) };
        rounds.get(c.key)!.push(r);
        parts.push(`${c.key} ${fmt(seconds, 2)} s`);
      }
      notePids(pit);
      console.log(`  round ${round + 1}/${CPU_ROUNDS}: ${parts.join(', ')}`);
    }

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

// ---------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const results: Record<string, unknown> = { at: new Date().toISOString(), python: PYTHON, n: N, rounds: ROUNDS };
  const t0 = Date.now();
  let failed = false;
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = true;
    console.error(`\n${sig}: stopping Python processes…`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (SECTIONS.has('latency')) await latencySection(results);
    if (SECTIONS.has('cpu')) {
      try {
        await cpuSection(results);
      } catch (e) {
        failed = true;
        const text = ((e as Error).stack ?? String(e)).split('\n').slice(0, 6).join('\n    ');
        console.log(`  CPU section NOT MEASURED — the library could not be started or failed:\n    ${text}`);
        results.cpuError = String(e);
      }
    }
    if (results.snakepitError) failed = true;
  } catch (e) {
    failed = true;
    if (!interrupted) console.error(`\nbenchmark failed: ${(e as Error).stack ?? e}`);
  } finally {
    const problems = await cleanup();
    for (const p of problems) console.error(`  cleanup: ${p}`);
    if (problems.length) failed = true;
    console.log(`\n(total ${fmt((Date.now() - t0) / 1000, 1)} s; ${seenPids.size} Snakepit worker process(es) seen, none left running)`);
  }
  results.workerPids = [...seenPids];
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify(results, null, 2) + '\n');
  return failed ? 1 : 0;
}

process.exitCode = await main();
