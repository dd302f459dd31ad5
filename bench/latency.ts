/**
 * Section 1, "Tiny call latency": sequential calls, one at a time, measured in interleaved
 * rounds for three paths:
 *   - unary floor:  @grpc/grpc-js unary RPC → bare grpcio sync server (no Snakepit code)
 *   - stream floor: one message each way on one long-lived bidi stream → same server
 *   - snakepit:     pit.execute('echo', { x: 1 }) on a 1-worker process pool over gRPC
 *   - snakepitLocal: the same over the local lane (transport 'local')
 * Each figure is the median over rounds of that round's statistic. Goals:
 *   snakepit / unary floor < 1      and      snakepit / stream floor ≤ 1.25
 */
import { N, PYTHON, ROUNDS, WARMUP } from './config.js';
import { measureSequential, median, streamCaller, unaryCaller, type FloorCaller, type LatencyStats } from './floors.js';
import { startFloor, startPit, stopFloor, stopPit, type Pit } from './processes.js';
import { errorExcerpt, fmt, rotated, table } from './report.js';
import { sampleNoise } from './noise.js';

interface Summary {
  medianUs: number;
  p90Us: number;
  callsPerSec: number;
  roundMediansUs: number[];
}

// Median of the per-round figures: one noisy round cannot move the result.
function summarise(rounds: LatencyStats[]): Summary {
  return {
    medianUs: median(rounds.map((r) => r.medianUs)),
    p90Us: median(rounds.map((r) => r.p90Us)),
    callsPerSec: median(rounds.map((r) => r.callsPerSec)),
    roundMediansUs: rounds.map((r) => r.medianUs),
  };
}

/**
 * Starts the 1-worker pit and checks echo round-trips. On failure returns the error text
 * instead of throwing, so the floors are still measured and reported.
 */
async function startEchoPit(transport: 'grpc' | 'local'): Promise<{ pit?: Pit; error?: string }> {
  let pit: Pit | undefined;
  try {
    pit = await startPit([{ name: 'bench', workerProfile: 'process', poolSize: 1, adapter: 'bench_adapters.Bench', transport }]);
    const r = (await pit.execute('echo', { x: 1 }, { pool: 'bench' })) as { x?: unknown } | null;
    if (!r || r.x !== 1) throw new Error(`echo returned ${JSON.stringify(r)}, expected {"x":1}`);
    return { pit };
  } catch (e) {
    if (pit) await stopPit(pit).catch(() => undefined);
    return { error: (e as Error).stack ?? String(e) };
  }
}

// Each round starts with a few calls of its own, so every path is measured warm, as in a steady loop.
const ROUND_WARMUP = Number(process.env.BENCH_ROUND_WARMUP ?? 100);

function spread(values: number[]): string {
  if (values.length <= 6) return values.map((v) => fmt(v)).join(' / ');
  return `${fmt(Math.min(...values))} – ${fmt(Math.max(...values))}`;
}

export async function latencySection(results: Record<string, unknown>): Promise<void> {
  console.log(`\n== Tiny call latency (sequential; ${ROUNDS} interleaved rounds × ${N} calls after ${WARMUP} warm-up calls; Python: ${PYTHON})\n`);
  const server = await startFloor();
  const callers: FloorCaller[] = [];
  let pit: Pit | undefined;
  let localPit: Pit | undefined;
  try {
    const unary = unaryCaller(server.address);
    const stream = streamCaller(server.address);
    callers.push(unary, stream);

    const started = await startEchoPit('grpc');
    pit = started.pit;
    const startedLocal = await startEchoPit('local');
    localPit = startedLocal.pit;

    const methods: Array<{ key: string; label: string; fn: () => Promise<unknown> }> = [
      { key: 'unary', label: 'unary floor (grpc-js unary → grpcio)', fn: unary.call },
      { key: 'stream', label: 'stream floor (one bidi stream, 1 msg each way)', fn: stream.call },
    ];
    if (pit) {
      const p = pit;
      methods.push({
        key: 'snakepit',
        label: 'snakepit execute (process pool, 1 worker, gRPC)',
        fn: () => p.execute('echo', { x: 1 }, { pool: 'bench' }),
      });
    }
    if (localPit) {
      const p = localPit;
      methods.push({
        key: 'snakepitLocal',
        label: 'snakepit execute (process pool, 1 worker, local lane)',
        fn: () => p.execute('echo', { x: 1 }, { pool: 'bench' }),
      });
    }

    // Warm every path once, then alternate short rounds: this machine's noise drifts over
    // seconds, and short rounds make the three paths share it.
    for (const m of methods) await measureSequential(m.fn, WARMUP, 0);
    const perMethod = new Map<string, LatencyStats[]>(methods.map((m) => [m.key, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const parts: string[] = [];
      for (const m of rotated(methods, round)) {
        const s = await measureSequential(m.fn, N, ROUND_WARMUP);
        perMethod.get(m.key)!.push(s);
        parts.push(`${m.key} ${fmt(s.medianUs)} µs`);
      }
      sampleNoise(1);
      if (ROUNDS <= 6) console.log(`  round ${round + 1}/${ROUNDS}: ${parts.join(', ')}`);
    }

    const sums = new Map<string, Summary>();
    for (const m of methods) sums.set(m.key, summarise(perMethod.get(m.key)!));
    console.log('');
    console.log(
      table(
        ['path', 'median µs', 'p90 µs', 'calls/s', ROUNDS <= 6 ? 'round medians µs' : 'round medians µs (min – max)'],
        methods.map((m) => {
          const s = sums.get(m.key)!;
          return [m.label, fmt(s.medianUs), fmt(s.p90Us), fmt(s.callsPerSec), spread(s.roundMediansUs)];
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
      const local = sums.get('snakepitLocal');
      if (local) {
        const grpcOverLocal = sp.medianUs / local.medianUs;
        console.log(`  snakepit gRPC / local lane = ${fmt(grpcOverLocal, 2)}  (sequential tiny call)`);
        (results.ratios as Record<string, unknown>).grpcTransportVsFastLane = grpcOverLocal;
      } else {
        console.log('  snakepit local lane: NOT MEASURED — ' + errorExcerpt(startedLocal.error ?? 'unknown error'));
      }
    } else {
      console.log('  snakepit: NOT MEASURED — the library could not be started:');
      console.log('    ' + errorExcerpt(started.error ?? 'unknown error'));
      // run.ts reads this to set the exit code.
      results.snakepitError = started.error;
    }
  } finally {
    for (const c of callers) c.close();
    if (pit) await stopPit(pit);
    if (localPit) await stopPit(localPit);
    await stopFloor(server);
  }
}
