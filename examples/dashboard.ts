// `npm run dashboard`: the demo's pools with some traffic, and the live dashboard over them —
// open the printed URL. Every few seconds a worker is killed with SIGKILL, to watch it come
// back. Ctrl-C stops everything. Port: DASHBOARD_PORT (default 8765).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveDashboard } from '../src/dashboard/index.js';
import { Snakepit } from '../src/index.js';

const adapters = path.join(path.dirname(fileURLToPath(import.meta.url)), 'adapters');
const pit = await Snakepit.start({
  python: { pythonPath: [adapters] },
  pools: [
    { name: 'default', workerProfile: 'process', poolSize: 2, adapter: 'text_tools.TextTools' },
    { name: 'scrapers', workerProfile: 'process', poolSize: 4, adapter: 'text_tools.WebAdapter' },
    { name: 'ml', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 4, adapter: 'ml_model.InferenceAdapter' },
  ],
});
const dashboard = await serveDashboard(pit, { port: Number(process.env.DASHBOARD_PORT ?? 8765) });
console.log(`dashboard: ${dashboard.url}  (Ctrl-C to stop)`);

let running = true;
const traffic = async () => {
  for (let i = 0; running; i++) {
    await Promise.allSettled([
      pit.execute('fetch', { url: `https://example.test/${i}`, latency_ms: 50 + (i % 7) * 40 }, { pool: 'scrapers' }),
      pit.execute('predict', { input_data: [i, 1, 2] }, { pool: 'ml' }),
    ]);
  }
};
void traffic();
const chaos = setInterval(() => {
  const workers = pit.inspect().pools.find((p) => p.name === 'scrapers')!.workers.filter((w) => w.pid !== undefined);
  const victim = workers[Math.floor(Math.random() * workers.length)];
  if (victim) process.kill(victim.pid!, 'SIGKILL');
}, 7000);

process.once('SIGINT', async () => {
  running = false;
  clearInterval(chaos);
  await dashboard.close();
  await pit.stop();
  process.exit(0);
});
