/**
 * Section "Thread capacity": 64 concurrent calls that each sleep 50 ms on a thread pool of
 * 4 workers × 16 threads (capacity 64). Ideally all 64 run at once and the batch takes 50 ms.
 * Figure `threadCapacityEfficiency` = ideal ÷ measured (median over rounds). Goal ≥ 0.85.
 */
import { LIFECYCLE_ROUNDS } from './config.js';
import { median } from './floors.js';
import { notePids, startPit, stopPit } from './processes.js';
import { fmt } from './report.js';

const CALLS = 64;
const SLEEP_MS = 50;

export interface CapacityResult {
  roundMs: number[];
  medianMs: number;
  threadCapacityEfficiency: number;
}

export async function capacitySection(results: Record<string, unknown>): Promise<CapacityResult> {
  console.log(`\n== Thread capacity (${CALLS} concurrent ${SLEEP_MS} ms sleeps on 4 workers × 16 threads; ${LIFECYCLE_ROUNDS} rounds)\n`);
  const pit = await startPit([
    { name: 'wide', workerProfile: 'thread', poolSize: 4, threadsPerWorker: 16, adapter: 'bench_adapters.BenchThreaded' },
  ]);
  try {
    const batch = async () => {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: CALLS }, () => pit.execute('sleep', { ms: SLEEP_MS }, { pool: 'wide' })));
      return performance.now() - t0;
    };
    await batch(); // every worker's threads started and warm
    notePids(pit);
    const roundMs: number[] = [];
    for (let i = 0; i < LIFECYCLE_ROUNDS; i++) roundMs.push(await batch());
    const medianMs = median(roundMs);
    const out: CapacityResult = { roundMs, medianMs, threadCapacityEfficiency: SLEEP_MS / medianMs };
    console.log(`  batch of ${CALLS}: ${roundMs.map((ms) => fmt(ms, 1)).join(' / ')} ms (ideal ${SLEEP_MS} ms)`);
    results.capacity = out;
    return out;
  } finally {
    await stopPit(pit);
  }
}
