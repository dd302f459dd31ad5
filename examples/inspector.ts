// Watch the pools' machines live in Stately's inspector. With no argument this starts
// @statelyai/inspect's local inspector server (it opens the inspector in your browser); with
// SNAKEPIT_INSPECT_URL=ws://… it sends to an inspector server already running there.
//
//   npm install -D @statelyai/inspect      (an optional peer dependency of snakepit)
//   npx tsx examples/inspector.ts
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createWebSocketInspector } from '@statelyai/inspect';
import { Snakepit } from '../src/index.js';

const adapters = path.join(path.dirname(fileURLToPath(import.meta.url)), 'adapters');
let url = process.env.SNAKEPIT_INSPECT_URL;
let server: { stop(): void } | undefined;
if (!url) {
  const { createInspectorServer } = await import('@statelyai/inspect/server');
  server = createInspectorServer({ port: 8080 });
  url = 'ws://localhost:8080';
}

// Pass the inspector itself (or its `inspect` observer): snakepit stops it with the pit.
const inspector = createWebSocketInspector({ url });
const pit = await Snakepit.start({
  inspect: inspector,
  python: { pythonPath: [adapters] },
  pools: [{ name: 'ml', workerProfile: 'process', poolSize: 1, adapter: 'text_tools.WebAdapter' }],
});

// Actors appear as `snakepit` (the root supervisor), `pool:ml` and `worker:ml-1`.
for (let i = 0; i < 3; i++) {
  await pit.execute('fetch', { url: `https://example.test/${i}`, latency_ms: 300 }, { pool: 'ml' });
  await new Promise((resolve) => setTimeout(resolve, 100)); // idle a moment: the worker shows ready
}
await pit.stop();
server?.stop();
console.log('inspected: worker:ml-1 went starting → ready → busy → ready');
