// The seed's "Hybrid Setup: Both Profiles", runnable: an I/O-bound process pool and a
// CPU-bound thread pool side by side, each call routed by pool name.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Snakepit } from '../src/index.js';

const adapters = path.join(path.dirname(fileURLToPath(import.meta.url)), 'adapters');

const pit = await Snakepit.start({
  python: { pythonPath: [adapters] },
  pools: [
    // I/O-bound tasks
    { name: 'default', workerProfile: 'process', poolSize: 8, adapter: 'text_tools.WebAdapter' },
    // CPU-bound inference
    { name: 'ml', workerProfile: 'thread', poolSize: 2, threadsPerWorker: 16, adapterArgs: ['--adapter', 'ml_model.InferenceAdapter'] },
  ],
});

const io = performance.now();
await Promise.all(Array.from({ length: 32 }, (_, i) => pit.execute('fetch', { url: `https://example.test/${i}`, latency_ms: 50 })));
console.log(`default (process × 8): 32 fetches of 50 ms in ${(performance.now() - io).toFixed(0)} ms`);

const cpu = performance.now();
await Promise.all(Array.from({ length: 320 }, (_, i) => pit.execute('predict', { input_data: [i, 1, 2] }, { pool: 'ml' })));
console.log(`ml (thread, 2 × 16): 320 predictions in ${(performance.now() - cpu).toFixed(0)} ms`);

for (const pool of pit.inspect().pools) console.log(`${pool.name}: ${pool.profile}, capacity ${pool.capacity}, ${pool.workers.length} processes`);
await pit.stop();
