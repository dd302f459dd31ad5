// The main demo (`npm start`): a hybrid setup — two process pools and one thread pool — with
// real Python workers. It makes calls, survives a kill -9, prints the lifecycle as it happens,
// then a summary, and stops cleanly.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Snakepit } from '../src/index.js';

const adapters = path.join(path.dirname(fileURLToPath(import.meta.url)), 'adapters');
const t0 = performance.now();
const log = (text: string) => console.log(`${((performance.now() - t0) / 1000).toFixed(3).padStart(7)}s  ${text}`);

const pit = new Snakepit({
  python: { pythonPath: [adapters] },
  pools: [
    // I/O-bound tasks: one call per process
    { name: 'default', workerProfile: 'process', poolSize: 2, adapter: 'text_tools.TextTools' },
    {
      name: 'scrapers',
      workerProfile: 'process',
      poolSize: 4,
      adapterArgs: ['--adapter', 'text_tools.WebAdapter'],
      adapterEnv: [['OPENBLAS_NUM_THREADS', '1'], ['OMP_NUM_THREADS', '1']],
      startupBatchSize: 2,
      startupBatchDelayMs: 200,
    },
    // CPU-bound inference: one process, several calls at once on its threads
    { name: 'ml', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 4, adapter: 'ml_model.InferenceAdapter' },
  ],
});

pit.on('pool:starting', (e) => log(`pool ${e.pool}: starting ${e.poolSize} worker(s), capacity ${e.capacity}`));
pit.on('pool:batch', (e) => log(`pool ${e.pool}: batch ${e.batch}/${e.batches} → ${e.workerIds.join(', ')}`));
pit.on('worker:ready', (e) => log(`worker ${e.workerId} ready (pid ${e.pid}, ${e.startupMs.toFixed(0)} ms)`));
pit.on('pool:ready', (e) => log(`pool ${e.pool}: ready in ${e.startupMs.toFixed(0)} ms`));
pit.on('worker:crashed', (e) => log(`worker ${e.workerId} crashed (pid ${e.pid}, signal ${e.signal ?? '-'}, exit ${e.exitCode ?? '-'})`));
pit.on('supervisor:restart', (e) => log(`supervisor: restarting ${e.workerId} (${e.strategy})`));
pit.on('worker:restarted', (e) => log(`worker ${e.workerId} is back (pid ${e.pid}, restart #${e.restarts})`));
pit.on('worker:stopped', (e) => log(`worker ${e.workerId} stopped`));

await pit.start();

log(`default: word_count → ${await pit.execute('word_count', { text: 'supervised python from node' })}`);
log(`default: slugify → ${await pit.execute('slugify', { text: 'Hello, Snakepit World!' })}`);
const reversed = (await pit.execute('reverse_bytes', { blob: Buffer.from('bytes pass as bytes') })) as Buffer;
log(`default: reverse_bytes → ${reversed.toString()}`);
const page = '<html><title>Docs</title><a href="/a">A</a><a href="/b">B</a></html>';
log(`scrapers: extract_links → ${JSON.stringify(await pit.execute('extract_links', { html: page }, { pool: 'scrapers' }))}`);

const fetchStarted = performance.now();
const urls = Array.from({ length: 16 }, (_, i) => `https://example.test/${i}`);
await Promise.all(urls.map((url) => pit.execute('fetch', { url, latency_ms: 100 }, { pool: 'scrapers' })));
log(`scrapers: 16 fetches of 100 ms on 4 workers took ${(performance.now() - fetchStarted).toFixed(0)} ms`);

const inferStarted = performance.now();
const predictions = await Promise.all(
  Array.from({ length: 200 }, (_, i) => pit.execute('predict', { input_data: [i % 5, 1, 2] }, { pool: 'ml' })),
);
log(`ml: 200 predictions in ${(performance.now() - inferStarted).toFixed(0)} ms, first ${JSON.stringify(predictions[0])}`);
log(`ml: the worker counted ${await pit.execute('served', {}, { pool: 'ml' })} predictions under its lock`);

// Crash isolation: kill -9 a scraper in the middle of a call.
const victim = pit.inspect().pools.find((p) => p.name === 'scrapers')!.workers[0];
const doomed = pit.execute('fetch', { url: 'https://example.test/slow', latency_ms: 2000 }, { pool: 'scrapers' });
await new Promise((resolve) => setTimeout(resolve, 100));
log(`killing ${victim.id} (pid ${victim.pid}) with SIGKILL`);
process.kill(victim.pid!, 'SIGKILL');
const outcome = await doomed.then(() => 'succeeded', (error) => error.code);
log(`the call it held: ${outcome}; the others keep serving: ${JSON.stringify(await pit.execute('fetch', { url: 'x', latency_ms: 1 }, { pool: 'scrapers' }))}`);
while (pit.inspect().pools.find((p) => p.name === 'scrapers')!.workers.some((w) => w.state !== 'ready')) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}

console.log('\nSummary');
for (const pool of pit.inspect().pools) {
  const stats = pit.stats(pool.name);
  console.log(
    `  ${pool.name.padEnd(9)} ${pool.profile.padEnd(8)} capacity ${String(pool.capacity).padStart(2)}  ` +
      `calls ${String(stats.completed).padStart(4)} ok / ${stats.failures} failed  p50 ${stats.runMs.p50.toFixed(2)} ms  ` +
      `workers ${pool.workers.map((w) => `${w.id}:${w.state}:pid ${w.pid}${w.restarts ? ` (restarted ${w.restarts}×)` : ''}`).join(', ')}`,
  );
}
console.log('');
await pit.stop();
log('stopped: no Python process left');
