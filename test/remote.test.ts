// Remote pools against real bridge servers (`python -m snakepit_bridge serve`) on loopback ports,
// with TLS from a CA the test makes and the servers' token: calls spread by capacity, a server
// killed and brought back, a server added to the resolver's answer, a server that drains on
// SIGTERM, and clients refused for a wrong token or CA.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import type { Snakepit } from '../src/index.js';
import { killServer, makePki, startServer } from './bridgeServers.js';
import { asError, checkNoLeaks, createPit, errorOf, isAlive, sleep, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const pki = makePki();

function remotePool(endpoints: () => string[], extra: Record<string, unknown> = {}) {
  return {
    name: 'remote',
    workerProfile: 'remote' as const,
    endpoints: async () => endpoints(),
    tls: { ca: pki.ca },
    token: pki.token,
    resolveIntervalMs: 200,
    heartbeat: { pingIntervalMs: 500, timeoutMs: 2000, maxMissedHeartbeats: 3 },
    restart: { intensity: 5, periodMs: 10_000, backoffMs: 100 },
    ...extra,
  };
}

const workersOf = (pit: Snakepit) => pit.inspect().pools.find((p) => p.name === 'remote')!.workers;
const workerAt = (pit: Snakepit, endpoint: string) => workersOf(pit).find((w) => w.endpoint === endpoint);

/** Runs `count` calls of `tool` with at most `inFlight` at once; returns how many each server pid answered. */
async function spread(pit: Snakepit, count: number, inFlight: number): Promise<Map<number, number>> {
  const byPid = new Map<number, number>();
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      const pid = await pit.execute<number>('pid', {}, { pool: 'remote' });
      byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return byPid;
}

test('1000 calls spread across three servers; a local pool beside them in the same instance', async () => {
  const servers = await Promise.all([startServer(pki), startServer(pki), startServer(pki)]);
  const endpoints = servers.map((s) => s.endpoint);
  const pit = createPit({
    pools: [remotePool(() => endpoints), { name: 'local', poolSize: 1, adapter: 'sample_adapters.Calc', transport: 'local' }],
  });
  const ready = new Promise<number>((resolve) => pit.on('pool:ready', (e) => e.pool === 'remote' && resolve(e.capacity)));
  await pit.start();
  assert.equal(await ready, 12, 'pool:ready states the capacity the servers state');
  const pool = pit.inspect().pools.find((p) => p.name === 'remote')!;
  assert.equal(pool.profile, 'remote');
  assert.equal(pool.capacity, 12, 'three servers of 4 threads each');
  assert.deepEqual(pool.workers.map((w) => w.endpoint).sort(), [...endpoints].sort());
  assert.deepEqual(pool.workers.map((w) => [w.state, w.capacity]), [['ready', 4], ['ready', 4], ['ready', 4]]);
  assert.deepEqual(pool.workers.map((w) => w.pid).sort(), servers.map((s) => s.pid).sort(), "each worker shows its server's pid");
  await pit.metrics(); // metrics count from the first scrape

  const [byPid, local] = await Promise.all([spread(pit, 1000, 24), pit.execute('add', { a: 2, b: 3 }, { pool: 'local' })]);
  assert.equal(local, 5);
  assert.equal([...byPid.values()].reduce((a, b) => a + b, 0), 1000);
  for (const server of servers) assert.ok((byPid.get(server.pid) ?? 0) >= 50, `server ${server.pid} took ${byPid.get(server.pid)} of 1000`);
  assert.match(await pit.metrics(), /snakepit_calls_total\{pool="remote",tool="pid",outcome="ok"\} 1000/);
  const sticky = new Set<number>();
  for (let i = 0; i < 12; i++) sticky.add(await pit.execute<number>('pid', {}, { pool: 'remote', sessionId: 'user-7' }));
  assert.equal(sticky.size, 1, "a session's calls stay on one server");
  await pit.stop();
});

test('a server killed with calls in flight: only its calls fail WORKER_CRASHED, it is marked unreachable, and it is reconnected when it comes back', async () => {
  const servers = await Promise.all([startServer(pki), startServer(pki)]);
  const endpoints = servers.map((s) => s.endpoint);
  const pit = await startPit({ pools: [remotePool(() => endpoints)] });
  const [victim, survivor] = servers;
  const calls = Array.from({ length: 8 }, () => pit.execute<number>('sleep', { seconds: 2 }, { pool: 'remote' }).then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error: asError(error) }),
  ));
  await waitFor(() => workersOf(pit).every((w) => w.inFlight === 4), 10_000, 'four calls on each server');
  await killServer(victim);
  const outcomes = await Promise.all(calls);
  const failed = outcomes.filter((o) => !o.ok);
  assert.equal(failed.length, 4, 'the four calls on the killed server fail');
  for (const f of failed) assert.equal((f as { error: { code: string } }).error.code, 'WORKER_CRASHED');
  assert.equal(outcomes.filter((o) => o.ok).length, 4, "the other server's calls complete");

  await waitFor(() => ['crashed', 'starting'].includes(workerAt(pit, victim.endpoint)?.state ?? ''), 10_000, 'the lost server marked down');
  // While it is down, every call goes to the other server and succeeds.
  const during = await spread(pit, 100, 8);
  assert.deepEqual([...during.keys()], [survivor.pid]);
  assert.equal(pit.inspect().pools[0].state, 'ready', 'an outage does not fail the pool');

  const back = await startServer(pki, { port: victim.port });
  await waitFor(() => workerAt(pit, victim.endpoint)?.state === 'ready', 20_000, 'the server reconnected');
  assert.equal(workerAt(pit, victim.endpoint)!.pid, back.pid);
  const after = await spread(pit, 200, 8);
  assert.ok((after.get(back.pid) ?? 0) > 0, 'the server that came back takes calls again');
  await pit.stop();
});

test('a frozen server (SIGSTOP): its calls fail WORKER_CRASHED once heartbeats stop, the other server takes the rest, and after SIGCONT it is reconnected', async () => {
  const servers = await Promise.all([startServer(pki), startServer(pki)]);
  const endpoints = servers.map((s) => s.endpoint);
  const pit = await startPit({ pools: [remotePool(() => endpoints, { startupTimeoutMs: 3000 })] });
  const [frozen, other] = servers;
  const onFrozen = Array.from({ length: 8 }, () => pit.execute('sleep', { seconds: 1 }, { pool: 'remote' }).then(() => 'ok', (e) => asError(e).code));
  await waitFor(() => workersOf(pit).every((w) => w.inFlight === 4), 10_000, 'four calls on each server');
  frozen.child.kill('SIGSTOP');
  try {
    const outcomes = (await Promise.all(onFrozen)).sort();
    assert.deepEqual(outcomes, ['WORKER_CRASHED', 'WORKER_CRASHED', 'WORKER_CRASHED', 'WORKER_CRASHED', 'ok', 'ok', 'ok', 'ok']);
    const during = await spread(pit, 50, 4);
    assert.deepEqual([...during.keys()], [other.pid]);
  } finally {
    frozen.child.kill('SIGCONT');
  }
  await waitFor(() => workerAt(pit, frozen.endpoint)?.state === 'ready', 30_000, 'the thawed server reconnected');
  const after = await spread(pit, 200, 8);
  assert.ok((after.get(frozen.pid) ?? 0) > 0, 'the thawed server takes calls again');
  await pit.stop();
});

test("a server added to the resolver's answer starts taking calls; one dropped from it is let go", async () => {
  const first = await startServer(pki);
  const endpoints = [first.endpoint];
  const pit = await startPit({ pools: [remotePool(() => endpoints)] });
  const added = await startServer(pki);
  const seen: string[][] = [];
  pit.on('pool:endpoints', (e) => seen.push(e.endpoints));
  endpoints.push(added.endpoint);
  await waitFor(() => workerAt(pit, added.endpoint)?.state === 'ready', 20_000, 'a worker for the added server');
  assert.equal(pit.inspect().pools[0].capacity, 8);
  const byPid = await spread(pit, 200, 8);
  assert.ok((byPid.get(added.pid) ?? 0) > 0, 'the added server takes calls');
  assert.deepEqual(seen[0], [...endpoints].sort());

  endpoints.splice(0, 1);
  await waitFor(() => workerAt(pit, first.endpoint) === undefined, 20_000, 'the dropped server let go');
  const after = await spread(pit, 50, 4);
  assert.deepEqual([...after.keys()], [added.pid]);
  await pit.stop();
});

test('SIGTERM to a server: its calls finish there or, not yet started, elsewhere; new calls go to the other server; nothing fails', async () => {
  const servers = await Promise.all([startServer(pki), startServer(pki)]);
  const endpoints = servers.map((s) => s.endpoint);
  const pit = await startPit({ pools: [remotePool(() => endpoints)] });
  const [draining, other] = servers;
  const failures: string[] = [];
  pit.on('request:failed', (e) => failures.push(`${e.tool}: ${e.code}`));
  const drained = new Promise<{ workerId: string; reason: string }>((resolve) => pit.on('worker:draining', resolve));
  const retiring: string[] = [];
  pit.on('worker:recycling', (e) => retiring.push(`recycling ${e.workerId} ${e.reason}`));
  pit.on('worker:draining', (e) => retiring.push(`draining ${e.workerId} ${e.reason}`));
  const slow = Array.from({ length: 8 }, () => pit.execute<{ pid: number }>('sleep', { seconds: 1.5 }, { pool: 'remote' }));
  await waitFor(() => workersOf(pit).every((w) => w.inFlight === 4), 10_000, 'four calls on each server');
  const drainingWorker = workerAt(pit, draining.endpoint)!.id;
  const crashed: string[] = [];
  pit.on('worker:crashed', (e) => crashed.push(e.workerId));
  draining.child.kill('SIGTERM');
  assert.deepEqual(await drained, { ...(await drained), workerId: drainingWorker, reason: 'server_draining' });
  const meanwhile = await spread(pit, 100, 8);
  assert.deepEqual([...meanwhile.keys()], [other.pid], 'new calls go to the other server');
  const results = await Promise.all(slow);
  assert.equal(results.length, 8, 'every call sent before the SIGTERM succeeded');
  assert.equal(await draining.exited, 0, 'the server exits 0 once drained');
  assert.deepEqual(failures, []);
  assert.ok(!crashed.includes(drainingWorker), 'a drained server is not a crash');
  await waitFor(() => !workersOf(pit).some((w) => w.id === drainingWorker), 10_000, 'the drained worker to leave');
  // worker:recycling comes once, as the worker is told to drain: not when its calls have ended.
  assert.deepEqual(retiring, [`recycling ${drainingWorker} server_draining`, `draining ${drainingWorker} server_draining`]);
  await pit.stop();
});

test('a wrong token, an untrusted CA, or no client certificate for an mTLS server fail start() with STARTUP_FAILED', async () => {
  const server = await startServer(pki);
  const mtls = await startServer(pki, { mtls: true });
  const startWith = (endpoint: string, extra: Record<string, unknown>) =>
    errorOf(startPit({ pools: [remotePool(() => [endpoint], { startupTimeoutMs: 10_000, ...extra })] }));

  const badToken = await startWith(server.endpoint, { token: 'not-the-token' });
  assert.equal(badToken.code, 'STARTUP_FAILED');
  assert.match(badToken.message, /refused the token/);

  const badCa = await startWith(server.endpoint, { tls: { ca: pki.otherCa } });
  assert.equal(badCa.code, 'STARTUP_FAILED');
  assert.match(badCa.message, /TLS with the bridge server/);

  const noCert = await startWith(mtls.endpoint, {});
  assert.equal(noCert.code, 'STARTUP_FAILED');

  const pit = await startPit({ pools: [remotePool(() => [mtls.endpoint], { tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } })] });
  assert.equal(typeof (await pit.execute('pid', {}, { pool: 'remote' })), 'number', 'with the client certificate it serves');
  await pit.stop();
});

test('a process-profile server: each call alone on one of its workers, with cancellation, progress, streams and calls into Node relayed; a killed worker fails only its call', async () => {
  const server = await startServer(pki, { adapter: 'context_adapters.Contextual', processWorkers: 2 });
  const workerPids = () => execFileSync('pgrep', ['-P', String(server.pid)]).toString().split(/\s+/).filter(Boolean).map(Number);
  await waitFor(() => workerPids().length === 2, 10_000, "the server's two workers");
  const pit = await startPit({ pools: [remotePool(() => [server.endpoint])] });
  pit.expose('double', ({ x }) => (x as number) * 2);
  const [worker] = workersOf(pit);
  assert.deepEqual([worker.capacity, worker.pid], [2, server.pid], 'the capacity is the number of worker processes');

  const pids = await Promise.all(Array.from({ length: 20 }, () => pit.execute<number>('pid', {}, { pool: 'remote' })));
  assert.deepEqual([...new Set(pids)].sort(), workerPids().sort(), 'calls ran on both worker processes');
  assert.equal(await pit.execute('ask_node', { name: 'double', x: 21 }, { pool: 'remote' }), 42, 'ctx.call reaches Node through the relay');
  const steps: number[] = [];
  assert.equal(await pit.execute('report', { n: 3 }, { pool: 'remote', onProgress: (p) => steps.push(p.done) }), 'done');
  assert.deepEqual(steps, [1, 2, 3, 0.5]);
  const chunks: unknown[] = [];
  for await (const chunk of pit.stream('report_stream', { n: 3 }, { pool: 'remote' })) chunks.push(chunk);
  assert.deepEqual(chunks, [0, 1, 2]);

  const timedOut = await errorOf(pit.execute('cooperative', { seconds: 5, label: 'relay' }, { pool: 'remote', timeoutMs: 300 }));
  assert.equal(asError(timedOut).code, 'TIMEOUT');
  const freed = Date.now();
  await Promise.all([0, 1].map(() => pit.execute('stubborn', { seconds: 0.2 }, { pool: 'remote' })));
  assert.ok(Date.now() - freed < 4000, 'the cancelled call let its worker go: both workers serve again');

  const [victim] = workerPids();
  const calls = [0, 1].map(() => pit.execute<number>('stubborn', { seconds: 1.5 }, { pool: 'remote' }).catch(asError));
  await waitFor(() => workersOf(pit)[0].inFlight === 2, 10_000, 'both workers busy');
  await sleep(300);
  process.kill(victim, 'SIGKILL');
  const outcomes = (await Promise.all(calls)).map((r) => (typeof r === 'number' ? 'ok' : r.code)).sort();
  assert.deepEqual(outcomes, ['WORKER_CRASHED', 'ok'], "only the killed worker's call failed");
  assert.equal(workersOf(pit)[0].state, 'ready', 'the server itself stays connected');
  await waitFor(() => workerPids().length === 2 && !workerPids().includes(victim), 20_000, 'the server starts the worker again');
  const after = await Promise.all(Array.from({ length: 8 }, () => pit.execute<number>('pid', {}, { pool: 'remote' })));
  assert.ok(after.every((pid) => workerPids().includes(pid)), 'calls after the restart run on the current workers');
  await pit.stop();
  const left = workerPids();
  await killServer(server);
  await waitFor(() => left.every((pid) => !isAlive(pid)), 10_000, "the server's workers end with it");
});

test('each endpoint is one worker: a broadcast reaches every server once, and a call with workerId runs on that server', async () => {
  const servers = await Promise.all([startServer(pki), startServer(pki)]);
  const pit = await startPit({ pools: [remotePool(() => servers.map((s) => s.endpoint))] });
  const workers = workersOf(pit);
  const results = await pit.broadcast<number>('pid', {}, { pool: 'remote' });
  assert.deepEqual(results, workers.map((w) => ({ workerId: w.id, ok: true, value: w.pid })), 'one entry per server, 4 threads each');
  assert.deepEqual(workers.map((w) => w.pid).sort(), servers.map((s) => s.pid).sort());
  for (const worker of workers) {
    const pids = await Promise.all(Array.from({ length: 8 }, () => pit.execute<number>('pid', {}, { pool: 'remote', workerId: worker.id })));
    assert.deepEqual(new Set(pids), new Set([worker.pid]));
  }
  await pit.stop();
});

test('remote pool options: what is missing or does not apply is INVALID_CONFIG naming the key', async () => {
  const invalid = (pool: Record<string, unknown>) => errorOf((async () => startPit({ pools: [{ name: 'r', workerProfile: 'remote', ...pool }] as never }))());
  const missing = await invalid({});
  assert.equal(missing.code, 'INVALID_CONFIG');
  for (const key of ['endpoints', 'token', 'tls']) assert.match(missing.message, new RegExp(`pools\\[0\\]\\.${key}: required`));
  const local = await invalid({ endpoints: ['127.0.0.1:1'], token: 't', tls: false, poolSize: 2, adapter: 'a.B' });
  assert.match(local.message, /pools\[0\]\.poolSize: does not apply/);
  assert.match(local.message, /pools\[0\]\.adapter: does not apply/);
  const badEndpoint = await invalid({ endpoints: 'http://x', token: 't', tls: false });
  assert.match(badEndpoint.message, /pools\[0\]\.endpoints/);
  const onLocal = await errorOf((async () => startPit({ pools: [{ name: 'l', adapter: 'a.B', transport: 'local', token: 't' }] }))());
  assert.match(onLocal.message, /pools\[0\]\.token: applies to workerProfile "remote" only/);
});

test('an endpoints function that never answers fails start() at startupTimeoutMs; stop() while it is asked ends that start with nothing made', async () => {
  const silent = { ...remotePool(() => []), endpoints: () => new Promise<string[]>(() => {}), startupTimeoutMs: 300 };
  const late = await errorOf((async () => startPit({ pools: [silent] }))());
  assert.equal(late.code, 'STARTUP_FAILED');
  assert.match(late.message, /Pool "remote": its endpoints cannot be resolved \(no answer within 300 ms, the pool's startupTimeoutMs\)/);

  let answer: (endpoints: string[]) => void = () => {};
  const pit = createPit({ pools: [{ ...remotePool(() => []), endpoints: () => new Promise<string[]>((resolve) => (answer = resolve)) }] });
  const starting = errorOf(pit.start());
  await sleep(50);
  await pit.stop(); // returns at once: nothing was made yet
  answer(['127.0.0.1:1']);
  assert.equal((await starting).code, 'SHUTTING_DOWN');
  assert.throws(() => pit.actor, /once start\(\) has been called/, 'no actor tree was made');
});
