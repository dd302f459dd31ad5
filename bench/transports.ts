/**
 * The two transports side by side: tiny `echo` calls with 16 in flight for BURST_MS, in
 * interleaved rounds, on the process profile (1 and 2 workers) and the thread profile
 * (1 × 16), each over gRPC and over the local lane. Reports the median calls/s over rounds and
 * the Node and Python CPU time per call.
 *
 *   BENCH_SNAKEPIT_MODULE=dist/src/index.js tsx bench/transports.ts
 * Tunables: BENCH_TRANSPORT_ROUNDS (5), BENCH_BURST_MS (1000).
 */
import { readFileSync } from 'node:fs';
import { median } from './floors.js';
import { cleanup, startPit, stopPit, type Pit } from './processes.js';
import { fmt, rotated, table } from './report.js';

const ROUNDS = Number(process.env.BENCH_TRANSPORT_ROUNDS ?? 5);
const BURST_MS = Number(process.env.BENCH_BURST_MS ?? 1000);
const IN_FLIGHT = 16;
const TICKS_PER_SECOND = 100;

const shapes = [
  { key: 'process×1', pool: { workerProfile: 'process', poolSize: 1, adapter: 'bench_adapters.Bench' } },
  { key: 'process×2', pool: { workerProfile: 'process', poolSize: 2, adapter: 'bench_adapters.Bench' } },
  { key: 'thread 1×16', pool: { workerProfile: 'thread', poolSize: 1, threadsPerWorker: 16, adapter: 'bench_adapters.BenchThreaded' } },
];
const transports = ['grpc', 'local'] as const;

/** User + system CPU seconds of these processes so far. */
function pythonCpu(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}

interface Sample { callsPerSec: number; nodeUsPerCall: number; pythonUsPerCall: number }

async function burst(pit: Pit): Promise<Sample> {
  const pids = pit.inspect().pools[0].workers.map((w) => w.pid);
  const py0 = pythonCpu(pids);
  const node0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + BURST_MS;
  let calls = 0;
  const lane = async () => {
    while (performance.now() < deadline) {
      await pit.execute('echo', { x: 1 }, { pool: 'bench' });
      calls++;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const seconds = (performance.now() - t0) / 1000;
  const node = process.cpuUsage(node0);
  return {
    callsPerSec: calls / seconds,
    nodeUsPerCall: (node.user + node.system) / calls,
    pythonUsPerCall: ((pythonCpu(pids) - py0) * 1e6) / calls,
  };
}

async function main(): Promise<void> {
  const runs: { key: string; pit: Pit; samples: Sample[] }[] = [];
  try {
    for (const shape of shapes) {
      for (const transport of transports) {
        const pit = await startPit([{ name: 'bench', transport, ...shape.pool }]);
        runs.push({ key: `${shape.key} ${transport}`, pit, samples: [] });
        for (let i = 0; i < 2000; i++) await pit.execute('echo', { x: 1 }, { pool: 'bench' }); // warm
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const run of rotated(runs, round)) run.samples.push(await burst(run.pit));
    }
    console.log(`\n== ${IN_FLIGHT} tiny calls in flight, ${ROUNDS} interleaved rounds of ${BURST_MS} ms (medians)\n`);
    console.log(table(
      ['pool, transport', 'calls/s', 'Node µs/call', 'Python µs/call'],
      runs.map((r) => [
        r.key,
        fmt(median(r.samples.map((s) => s.callsPerSec))),
        fmt(median(r.samples.map((s) => s.nodeUsPerCall))),
        fmt(median(r.samples.map((s) => s.pythonUsPerCall))),
      ]),
    ));
  } finally {
    for (const run of runs) await stopPit(run.pit).catch(() => undefined);
    await cleanup();
  }
}

await main();
