// The dashboard over HTTP with real workers: the page, /api/state, /events (server-sent events
// of a worker going busy → ready and crashed → ready), /healthz (503 while a pool is failed,
// 200 after it recovers), /metrics, and close() releasing everything.
import assert from 'node:assert/strict';
import { get, type IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { serveDashboard } from '../src/dashboard/index.js';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkNoLeaks, isAlive, sleep, startPit, waitFor } from './helpers.js';

checkNoLeaks();

async function fetchText(url: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** Server-sent events from `url`, collected as they come, until stop(). */
function listen(url: string) {
  const events: { event: string; data: any }[] = [];
  let response: IncomingMessage | undefined;
  const request = get(url, (res) => {
    response = res;
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (data) events.push({ event, data: JSON.parse(data) });
      }
    });
  });
  return { events, stop: () => (response?.destroy(), request.destroy()) };
}

test('the dashboard serves its page, state, events, health and metrics', async () => {
  const pit = await startPit({
    pools: [
      { name: 'p', poolSize: 1, prefetch: 0, adapter: 'sample_adapters.Calc' },
      { name: 'fragile', poolSize: 1, adapter: 'sample_adapters.Calc', restart: { intensity: 0 } },
    ],
    supervisor: { intensity: 5 },
  });
  const dashboard = await serveDashboard(pit);
  assert.match(dashboard.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  try {
    const page = await fetchText(dashboard.url);
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    assert.match(page.body, /<title>Snakepit<\/title>/);
    assert.doesNotMatch(page.body, /<script src=|<link [^>]*href="http/, 'self-contained: nothing loaded from elsewhere');

    const state = JSON.parse((await fetchText(`${dashboard.url}api/state`)).body);
    assert.deepEqual(state.inspect.pools.map((p: { name: string }) => p.name), ['p', 'fragile']);
    assert.equal(state.health.ready, true);

    const stream = listen(`${dashboard.url}events`);
    await waitFor(() => stream.events.some((e) => e.event === 'state'), 5000, 'the first state');
    await pit.execute('sleep', { seconds: 0.3 }, { pool: 'p' });
    await waitFor(() => pit.inspect().pools[0].workers[0].state === 'ready', 5000, 'the worker to show ready again');
    const worker = pit.inspect().pools[0].workers[0];
    process.kill(worker.pid!, 'SIGKILL');
    await waitFor(() => pit.inspect().pools[0].workers[0].state === 'ready' && pit.inspect().pools[0].workers[0].pid !== worker.pid, 20_000, 'the restart');
    await sleep(100);
    const states = stream.events.filter((e) => e.event === 'lifecycle' && e.data.name === 'worker:state' && e.data.workerId === worker.id).map((e) => e.data.to);
    const path = states.join(' → ');
    assert.match(path, /busy → ready/, path);
    assert.match(path, /crashed → starting → ready/, path);
    assert.ok(stream.events.some((e) => e.event === 'lifecycle' && e.data.name === 'worker:crashed'));

    assert.equal((await fetchText(`${dashboard.url}healthz`)).status, 200);
    const fragile = pit.inspect().pools[1].workers[0];
    const statuses: { status: number; reason: string }[] = [];
    process.kill(fragile.pid!, 'SIGKILL'); // intensity 0: the pool fails, the root restarts it
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(10)) {
      const res = await fetchText(`${dashboard.url}healthz`);
      statuses.push({ status: res.status, reason: JSON.parse(res.body).reason });
      if (statuses.some((s) => s.status === 503) && res.status === 200) break;
    }
    const failed = statuses.find((s) => s.status === 503);
    assert.ok(failed, 'a 503 while the pool was failed');
    assert.match(failed.reason, /not ready: fragile/);
    assert.equal(statuses.at(-1)!.status, 200, 'healthy again after the root restarted the pool');
    assert.ok(stream.events.some((e) => e.data.name === 'pool:failed' && e.data.pool === 'fragile' && e.data.error?.message));

    const metrics = await fetchText(`${dashboard.url}metrics`);
    assert.match(metrics.type, /text\/plain; version=0\.0\.4/);
    assert.match(metrics.body, /snakepit_workers\{pool="p",state="ready"\} 1/);
    assert.equal((await fetchText(`${dashboard.url}nope`)).status, 404);
    assert.equal((await fetch(dashboard.url, { method: 'POST' })).status, 405);
    stream.stop();
  } finally {
    await dashboard.close();
  }
  const events = (pit as unknown as { events: { listenerCount(name: string): number } }).events;
  assert.equal(events.listenerCount('worker:state'), 0, 'close() removed its listeners');
});

test('npm run dashboard (examples/dashboard.ts) serves the demo with traffic until Ctrl-C, then leaves nothing running', async () => {
  const example = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'dashboard.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', example], { env: { ...process.env, DASHBOARD_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const url = await waitFor(() => /dashboard: (http:\/\/\S+)/.exec(output)?.[1], 60_000, `the dashboard URL\n${output}`);
    let state: any;
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(200)) {
      state = JSON.parse(await (await fetch(`${url}api/state`)).text());
      if (state.stats.find((s: { pool: string }) => s.pool === 'scrapers').completed > 5) break;
    }
    assert.ok(state.stats.find((s: { pool: string }) => s.pool === 'scrapers').completed > 5, 'traffic flows');
    assert.equal((await fetch(`${url}healthz`)).status, 200);
    const pids: number[] = state.inspect.pools.flatMap((p: { workers: { pid?: number }[] }) => p.workers.map((w) => w.pid)).filter(Boolean);
    child.kill('SIGINT');
    assert.equal(await exited, 0, output);
    await waitFor(() => pids.every((pid) => !isAlive(pid)), 10_000, 'every worker of the example to be gone');
  } finally {
    child.kill('SIGKILL');
  }
});
