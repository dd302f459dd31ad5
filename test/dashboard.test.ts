// The dashboard over HTTP with real workers: the page, /api/state, /events (server-sent events
// of a worker going busy → ready and crashed → ready), /healthz (503 while a pool is failed,
// 200 after it recovers), /metrics, and close() releasing everything; the recent events replayed
// to a client that connects later (a bounded ring, in order); load as running / capacity with
// calls sent ahead apart; the icon and the worker machine's JSON; foreign Host headers and
// requests without the token refused; SSE clients that stop reading disconnected.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { get, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { serveDashboard } from '../src/dashboard/index.js';
import { EventRing } from '../src/dashboard/eventHistory.js';
import type { SnakepitError } from '../src/index.js';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkNoLeaks, isAlive, sleep, startMarker, startPit, waitFor } from './helpers.js';

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

    // A client that connects after the crash is sent it: the recent events, then the state.
    const late = listen(`${dashboard.url}events`);
    await waitFor(() => late.events.some((e) => e.event === 'state'), 5000, 'the late client\'s first state');
    const replayed = late.events.slice(0, late.events.findIndex((e) => e.event === 'state'));
    const crash = replayed.find((e) => e.data.name === 'worker:crashed' && e.data.workerId === worker.id);
    assert.ok(crash, `the crash replayed: ${replayed.map((e) => e.data.name).join(', ')}`);
    assert.equal(crash.data.signal, 'SIGKILL');
    assert.match(replayed.filter((e) => e.data.name === 'worker:state' && e.data.workerId === worker.id).map((e) => e.data.to).join(' → '), /crashed → starting → ready/);
    late.stop();
    const recent = JSON.parse((await fetchText(`${dashboard.url}api/state`)).body).recentEvents;
    assert.ok(recent.some((e: { name: string; workerId: string }) => e.name === 'worker:crashed' && e.workerId === worker.id), '/api/state has recentEvents');

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

/** A GET with the headers given (fetch cannot set Host); an event stream is cut after its headers and first chunk. */
function request(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      const done = () => resolve({ status: res.statusCode!, headers: res.headers, body });
      if (/event-stream/.test(res.headers['content-type'] ?? '')) {
        res.once('data', (chunk: string) => ((body = chunk), done(), res.destroy()));
        return;
      }
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', done);
    });
    req.on('error', reject);
  });
}

const PATHS = ['', 'api/state', 'events', 'metrics'];

test('the dashboard refuses foreign Host headers: a DNS-rebinding page cannot read /api/state, /events or /metrics', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const dashboard = await serveDashboard(pit, { allowedHosts: ['dash.internal'] });
  const { port } = new URL(dashboard.url);
  try {
    for (const path of PATHS) {
      for (const host of [`attacker.example:${port}`, 'attacker.example', `127.0.0.1.attacker.example:${port}`, `localhost.attacker.example:${port}`]) {
        const res = await request(`${dashboard.url}${path}`, { host });
        assert.equal(res.status, 403, `/${path} with Host ${host}`);
        assert.doesNotMatch(res.body, /"pools"|snakepit_/, 'nothing of the pit in the refusal');
      }
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, 'LOCALHOST', `dash.internal:${port}`, `10.1.2.3:${port}`]) {
        assert.equal((await request(`${dashboard.url}${path}`, { host })).status, 200, `/${path} with Host ${host}`);
      }
    }
  } finally {
    await dashboard.close();
  }
});

test('with a token, the dashboard refuses requests without it; Bearer, ?token= and the cookie the page sets are accepted; /healthz stays open', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  await assert.rejects(serveDashboard(pit, { token: '' }), { code: 'INVALID_CONFIG' });
  const token = 'dashboard-token-8f3a';
  const dashboard = await serveDashboard(pit, { token });
  try {
    for (const path of PATHS) {
      const none = await request(`${dashboard.url}${path}`);
      assert.equal(none.status, 401, `/${path} without the token`);
      assert.match(none.headers['www-authenticate'] ?? '', /^Bearer/);
      assert.doesNotMatch(none.body, /"pools"|snakepit_/);
      assert.equal((await request(`${dashboard.url}${path}`, { authorization: 'Bearer wrong-token' })).status, 401);
      assert.equal((await request(`${dashboard.url}${path}?token=wrong`)).status, 401);
      assert.equal((await request(`${dashboard.url}${path}`, { authorization: `Bearer ${token}` })).status, 200, `/${path} with Bearer`);
    }
    const events = await request(`${dashboard.url}events?token=${token}`);
    assert.equal(events.status, 200);
    assert.match(events.body, /^event: state/);

    // The browser's way: the printed /?token=… sets a cookie and drops the token from the address bar.
    const visit = await request(`${dashboard.url}?token=${token}`);
    assert.equal(visit.status, 303);
    assert.equal(visit.headers.location, './');
    const cookie = visit.headers['set-cookie']![0];
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Lax/);
    const jar = cookie.split(';')[0];
    assert.equal((await request(dashboard.url, { cookie: jar })).status, 200);
    assert.equal((await request(`${dashboard.url}events`, { cookie: jar })).status, 200);
    assert.equal((await request(`${dashboard.url}api/state`, { cookie: 'snakepit_dashboard=nope' })).status, 401);

    assert.equal((await request(`${dashboard.url}healthz`)).status, 200, 'probes need no token');
  } finally {
    await dashboard.close();
  }
});

test('nothing the dashboard serves holds an environment value', async () => {
  const secrets = { pool: 'pool-env-secret-51c2', python: 'python-env-secret-77d0', node: 'node-env-secret-0b9e' };
  process.env.SNAKEPIT_DASHBOARD_TEST_SECRET = secrets.node;
  try {
    const pit = await startPit({
      python: { env: { PYTHON_SIDE_SECRET: secrets.python } },
      pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc', adapterEnv: { POOL_SECRET: secrets.pool } }],
    });
    const dashboard = await serveDashboard(pit);
    const stream = listen(`${dashboard.url}events`);
    try {
      await pit.execute('fail', { message: 'boom' }).catch(() => undefined);
      process.kill(pit.inspect().pools[0].workers[0].pid!, 'SIGKILL');
      await waitFor(() => stream.events.some((e) => e.data.name === 'worker:restarted'), 20_000, 'the restart on the event stream');
      await waitFor(() => stream.events.filter((e) => e.event === 'state').length >= 2, 5000, 'a second state');
      const served = [JSON.stringify(stream.events)];
      // A late /events client is sent the replayed events; /api/state has them as recentEvents.
      for (const path of [...PATHS, 'healthz']) served.push((await request(`${dashboard.url}${path}`)).body);
      const all = served.join('\n');
      assert.match(all, /worker:crashed/, 'the events are in what was read');
      for (const secret of Object.values(secrets)) assert.ok(!all.includes(secret), `${secret} is served`);
      assert.ok(!all.includes(process.env.PATH!), 'the PATH is served');
    } finally {
      stream.stop();
      await dashboard.close();
    }
  } finally {
    delete process.env.SNAKEPIT_DASHBOARD_TEST_SECRET;
  }
});

test('the replay ring keeps the last events in order, within its count and bytes', () => {
  const ring = new EventRing(3, 100);
  const message = (text: string) => Buffer.from(text);
  for (const text of ['a', 'b', 'c', 'd', 'e']) ring.push(message(text));
  assert.deepEqual(ring.messages().map(String), ['c', 'd', 'e'], 'the last 3, oldest first');
  ring.push(message('x'.repeat(60)));
  ring.push(message('y'.repeat(30)));
  assert.deepEqual(ring.messages().map(String), ['e', 'x'.repeat(60), 'y'.repeat(30)]);
  ring.push(message('z'.repeat(20)));
  assert.deepEqual(ring.messages().map((m) => m.length), [30, 20], 'the oldest dropped until it fits in 100 bytes');
  ring.push(message('w'.repeat(101)));
  assert.equal(ring.size, 2, 'a message larger than the ring is not kept');
  const none = new EventRing(0);
  none.push(message('a'));
  assert.deepEqual(none.messages(), []);
});

test('a client that connects is sent the last `history` events in order, then the state; /api/state has them as recentEvents', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  await assert.rejects(serveDashboard(pit, { history: -1 }), { code: 'INVALID_CONFIG' });
  await assert.rejects(serveDashboard(pit, { history: 1.5 }), { code: 'INVALID_CONFIG' });
  const dashboard = await serveDashboard(pit, { history: 5 });
  try {
    for (let i = 0; i < 8; i++) await pit.execute('fail', { message: `failure ${i}` }).catch(() => undefined);
    const stream = listen(`${dashboard.url}events`);
    try {
      await waitFor(() => stream.events.some((e) => e.event === 'state'), 5000, 'the first state');
      const first = stream.events.findIndex((e) => e.event === 'state');
      const replayed = stream.events.slice(0, first).filter((e) => e.data.name === 'request:failed').map((e) => e.data.error.message);
      assert.deepEqual(replayed.map((m: string) => /failure \d/.exec(m)?.[0]), ['failure 3', 'failure 4', 'failure 5', 'failure 6', 'failure 7']);
      const recent = JSON.parse((await fetchText(`${dashboard.url}api/state`)).body).recentEvents;
      assert.deepEqual(recent.map((e: { name: string }) => e.name), Array(5).fill('request:failed'), 'ready ⇄ busy changes have their own ring');
      assert.deepEqual(recent.map((e: { error: { message: string } }) => /failure \d/.exec(e.error.message)?.[0]), ['failure 3', 'failure 4', 'failure 5', 'failure 6', 'failure 7']);

      // Live events follow, once each.
      await pit.execute('fail', { message: 'failure 8' }).catch(() => undefined);
      await waitFor(() => stream.events.some((e) => /failure 8/.test(e.data.error?.message)), 5000, 'the live event');
      await sleep(100);
      assert.equal(stream.events.filter((e) => /failure 8/.test(e.data.error?.message)).length, 1);
    } finally {
      stream.stop();
    }
  } finally {
    await dashboard.close();
  }
});

test('load is running / capacity with calls sent ahead apart, from the same read as the state', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, prefetch: 2, adapter: 'sample_adapters.Calc' }] });
  const dashboard = await serveDashboard(pit);
  const marker = startMarker();
  try {
    const id = pit.inspect().pools[0].workers[0].id;
    const calls = [pit.execute('sleep', { seconds: 1.5, started: marker.file }), pit.execute('sleep', { seconds: 0.1 }), pit.execute('sleep', { seconds: 0.1 })];
    await marker.started('the first call');
    // The machine hears the load within 10 ms of the dispatcher's count: wait for it to say busy.
    let state: any;
    for (const deadline = Date.now() + 5000; Date.now() < deadline && state?.inspect.pools[0].workers[0].state !== 'busy'; await sleep(5)) {
      state = JSON.parse((await fetchText(`${dashboard.url}api/state`)).body);
    }
    const worker = state.inspect.pools[0].workers[0];
    assert.equal(worker.state, 'busy');
    assert.equal(worker.inFlight, 3, 'one running, two sent ahead');
    assert.deepEqual(state.load[id], { running: 1, capacity: 1, ahead: 2 });
    await Promise.all(calls);
    await waitFor(() => pit.inspect().pools[0].workers[0].state === 'ready', 5000, 'the worker to be ready');
    const after = JSON.parse((await fetchText(`${dashboard.url}api/state`)).body);
    assert.deepEqual(after.load[id], { running: 0, capacity: 1, ahead: 0 });
    assert.equal(after.inspect.pools[0].workers[0].state, 'ready');
  } finally {
    await dashboard.close();
  }
});

test('the icon is served (no token needed), and the worker machine as machines/worker.json holds it', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const dashboard = await serveDashboard(pit, { token: 'icon-token-4e1a' });
  try {
    const icon = await request(`${dashboard.url}favicon.ico`);
    assert.equal(icon.status, 200);
    assert.equal(icon.headers['content-type'], 'image/svg+xml');
    assert.match(icon.body, /^<svg /);
    assert.equal((await request(`${dashboard.url}favicon.ico`, { host: 'attacker.example' })).status, 403, 'the Host check still holds');
    assert.equal((await request(`${dashboard.url}machines/worker.json`)).status, 401, 'the machine needs the token like the page');
    const served = await request(`${dashboard.url}machines/worker.json`, { authorization: 'Bearer icon-token-4e1a' });
    assert.equal(served.status, 200);
    const exported = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'machines', 'worker.json'), 'utf8');
    assert.deepEqual(JSON.parse(served.body), JSON.parse(exported));
  } finally {
    await dashboard.close();
  }
});

/** A client that reads /events and counts request:failed events (keeping only the first): it holds no more as the load grows. */
function countFailures(url: string) {
  const seen = { states: 0, failures: 0, first: undefined as any };
  let tail = '';
  const request = get(url, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      const blocks = (tail + chunk).split('\n\n');
      tail = blocks.pop()!;
      for (const block of blocks) {
        if (block.startsWith('event: state')) seen.states++;
        if (!block.includes('"name":"request:failed"')) continue;
        seen.failures++;
        seen.first ??= JSON.parse(block.slice(block.indexOf('data: ') + 6));
      }
    });
  });
  return { seen, stop: () => request.destroy() };
}

const venvPython = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.venv', 'bin', 'python');
const idleClients = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'idleEventClients.py');
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = () => {
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

// SNAKEPIT_SSE_CLIENTS / _CALLS set the load (the full figure: 500 clients, 20000 calls).
test('SSE clients that stop reading are disconnected and released: the heap stays bounded under many failing calls', async () => {
  const clients = Number(process.env.SNAKEPIT_SSE_CLIENTS ?? 60);
  const calls = Number(process.env.SNAKEPIT_SSE_CALLS ?? 3000);
  const pit = await startPit({ pools: [{ name: 'f', poolSize: 2, adapter: 'sample_adapters.Calc' }] });
  const dashboard = await serveDashboard(pit);
  const idle = spawn(venvPython, [idleClients, '127.0.0.1', new URL(dashboard.url).port, String(clients), '30'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  idle.stdout.on('data', (chunk) => (output += chunk));
  const live = countFailures(`${dashboard.url}events`);
  try {
    await waitFor(() => output.includes('connected'), 60_000, 'the idle clients to connect');
    await waitFor(() => live.seen.states > 0, 5000, 'the live client to get the state');
    const before = heapMb();
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed / 2 ** 20)), 20);
    const message = `failed on purpose ${'x'.repeat(2000)}`;
    const started = Date.now();
    for (let done = 0; done < calls; done += 100) {
      await Promise.all(Array.from({ length: Math.min(100, calls - done) }, () => pit.execute('fail', { message }, { pool: 'f' }).catch(() => undefined)));
    }
    const callsS = (Date.now() - started) / 1000;
    await sleep(1500); // the last events and a state go out
    clearInterval(sampler);
    const after = heapMb();
    assert.equal(live.seen.failures, calls, 'a client that reads gets every failure');

    idle.stdin.write('read\n');
    const exited = new Promise((resolve) => idle.once('exit', resolve));
    await waitFor(() => output.includes('"closed"'), 60_000, 'the idle clients to read what they were sent');
    await exited;
    const result = JSON.parse(output.slice(output.indexOf('{')));
    console.log(`# ${clients} idle SSE clients, ${calls} failing calls in ${callsS.toFixed(1)} s: heap ${before.toFixed(1)} MB before, peak ${peak.toFixed(1)} MB, ${after.toFixed(1)} MB after (rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB); idle clients closed by the server ${result.closed}/${clients}, ${(result.bytes / clients / 1024).toFixed(0)} KiB each on average`);
    assert.equal(result.closed, clients, 'every client that stopped reading was disconnected');
    assert.ok(peak < 100, `the heap reached ${peak.toFixed(1)} MB`);
    assert.ok(after - before < 20, `heap ${(after - before).toFixed(1)} MB above the start once the clients are gone`);
    assert.ok(live.seen.first.error.message.length < 1200, 'an event carries the start of an error message only');
  } finally {
    idle.kill('SIGKILL');
    live.stop();
    await dashboard.close();
  }
});

test('close() ends connections that sent nothing or half a request, instead of waiting on them', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const dashboard = await serveDashboard(pit);
  const port = Number(new URL(dashboard.url).port);
  const silent = connect(port, '127.0.0.1');
  const halfway = connect(port, '127.0.0.1');
  try {
    await Promise.all([silent, halfway].map((socket) => once(socket, 'connect')));
    halfway.write(`GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`); // no blank line: the request never ends
    await sleep(200);
    const outcome = await Promise.race([dashboard.close().then(() => 'closed'), sleep(10_000).then(() => 'still open after 10 s')]);
    assert.equal(outcome, 'closed');
  } finally {
    silent.destroy();
    halfway.destroy();
  }
});

test('a port already taken is an INVALID_CONFIG that says what to do, and leaves no listener on pit', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const first = await serveDashboard(pit);
  try {
    const events = (pit as unknown as { events: { listenerCount(name: string): number } }).events;
    const before = events.listenerCount('worker:state');
    await assert.rejects(serveDashboard(pit, { port: Number(new URL(first.url).port) }), (error: SnakepitError) => {
      assert.equal(error.code, 'INVALID_CONFIG');
      assert.match(error.message, /could not listen on 127\.0\.0\.1:\d+ .*EADDRINUSE.*choose another port, or 0/);
      return true;
    });
    assert.equal(events.listenerCount('worker:state'), before);
  } finally {
    await first.close();
  }
});
