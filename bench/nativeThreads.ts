/**
 * One-off measurement (not part of `npm run bench`): the native thread pools a call of a 1 × 8
 * thread pool gets, with the old default (every thread variable = threadsPerWorker, given here
 * through adapterEnv) and the default now (the worker's share of the cores), and what one call
 * alone and 8 calls at once take: scikit-learn KMeans (OpenMP) and PyTorch matmul. Needs
 * scikit-learn, threadpoolctl and torch in the Python it runs (e.g. this checkout's .venv):
 *   npx tsx bench/nativeThreads.ts
 */
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { THREAD_ENV_VARS } from '../src/config.js';
import { Snakepit } from '../src/index.js';

const THREADS = 8;
const ROUNDS = 7;
const adapters = join(dirname(fileURLToPath(import.meta.url)), 'adapters');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(label: string, adapterEnv: Record<string, string>): Promise<void> {
  const pit = new Snakepit({
    logger: false,
    python: { pythonPath: [adapters] },
    pools: [{ name: 'ml', workerProfile: 'thread', poolSize: 1, threadsPerWorker: THREADS, adapter: 'native_threads.NativeThreads', adapterEnv, startupTimeoutMs: 120_000 }],
  });
  await pit.start();
  try {
    const pools = await pit.execute('pools');
    console.log(`${label}: ${JSON.stringify(pools)}`);
    for (const tool of ['kmeans', 'matmul']) {
      await pit.execute(tool); // warm
      const alone: number[] = [];
      const together: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        alone.push((await pit.execute(tool)) as number);
        const started = performance.now();
        await Promise.all(Array.from({ length: THREADS }, () => pit.execute(tool, {}, { timeoutMs: 300_000 })));
        together.push((performance.now() - started) / 1000);
      }
      console.log(`${label}: ${tool} one call alone ${median(alone).toFixed(3)} s; ${THREADS} calls at once ${median(together).toFixed(3)} s (median of ${ROUNDS})`);
    }
  } finally {
    await pit.stop();
  }
}

console.log(`${os.availableParallelism()} cores; a 1 × ${THREADS} thread pool`);
await measure(`before (all = threadsPerWorker = ${THREADS})`, Object.fromEntries(THREAD_ENV_VARS.map((name) => [name, String(THREADS)])));
await measure('after (the default: the worker\'s share of the cores)', {});
