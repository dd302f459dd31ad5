// The seed's "Thread Profile: ML Inference Pool", runnable: few processes, many threads each,
// a thread-safe adapter sharing one model per process. NumPy stands in for PyTorch.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Snakepit } from '../src/index.js';

const adapters = path.join(path.dirname(fileURLToPath(import.meta.url)), 'adapters');

const pit = await Snakepit.start({
  python: { pythonPath: [adapters] },
  pools: [
    {
      name: 'ml_inference',
      workerProfile: 'thread',
      poolSize: 4,
      threadsPerWorker: 8, // 32 total capacity
      adapterArgs: ['--adapter', 'ml_model.InferenceAdapter'],
      adapterEnv: [
        ['OPENBLAS_NUM_THREADS', '8'],
        ['OMP_NUM_THREADS', '8'],
        ['CUDA_VISIBLE_DEVICES', '0'],
      ],
      threadSafetyChecks: true,
      workerTtlMs: 1_800_000,
      heartbeat: { enabled: true, pingIntervalMs: 10_000, timeoutMs: 60_000, maxMissedHeartbeats: 2 },
    },
  ],
});
pit.on('worker:thread-safety-warning', (e) => console.warn('thread-safety warning:', e.message));

const started = performance.now();
const results = await Promise.all(
  Array.from({ length: 1000 }, (_, i) => pit.execute('predict', { input_data: [i % 7, 2, 3] }, { pool: 'ml_inference' })),
);
const ms = performance.now() - started;
const served = await Promise.all(pit.inspect().pools[0].workers.map(() => pit.execute('served', {}, { pool: 'ml_inference' })));
console.log(`1000 predictions on 4 workers × 8 threads in ${ms.toFixed(0)} ms; first: ${JSON.stringify(results[0])}`);
console.log('workers:', pit.inspect().pools[0].workers.map((w) => `${w.id} pid ${w.pid} requests ${w.requests} GIL ${w.gilEnabled ? 'on' : 'off'}`).join('; '));
console.log('served counters (some workers):', served.join(', '));
await pit.stop();
