// Heartbeats: a frozen worker (SIGSTOP) is found and replaced; a busy one is not. They are on
// by default, so a frozen worker's call fails within a known bound with no option given.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asError, checkNoLeaks, isAlive, sleep, startMarker, startPit, waitFor } from './helpers.js';

checkNoLeaks();

test('a SIGSTOPped worker is found within pingIntervalMs × maxMissedHeartbeats + timeoutMs (+ 1 s of margin) and replaced', async () => {
  const heartbeat = { enabled: true, pingIntervalMs: 300, timeoutMs: 500, maxMissedHeartbeats: 2 };
  const pit = await startPit({ pools: [{ name: 'h', poolSize: 2, adapter: 'sample_adapters.Calc', heartbeat }] });
  const missed: number[] = [];
  const crashes: string[] = [];
  pit.on('worker:heartbeat-missed', (e) => missed.push(e.missed));
  let foundAt = 0;
  pit.on('worker:crashed', (e) => {
    crashes.push(e.reason);
    foundAt ||= performance.now();
  });
  const frozen = pit.inspect().pools[0].workers[0];
  const stoppedAt = performance.now();
  process.kill(frozen.pid!, 'SIGSTOP');
  // The bound is the heartbeat's to keep; the replacement's cold start is the machine's, so it only has to come.
  const replaced = await waitFor(() => {
    const w = pit.inspect().pools[0].workers.find((x) => x.id === frozen.id);
    return w && w.state === 'ready' && w.pid !== frozen.pid ? w : undefined;
  }, 20_000, 'a replacement');
  const ms = foundAt - stoppedAt;
  const bound = heartbeat.pingIntervalMs * heartbeat.maxMissedHeartbeats + heartbeat.timeoutMs + 1000;
  console.log(`SIGSTOP -> found in ${ms.toFixed(0)} ms (bound ${bound} ms), replaced in ${(performance.now() - stoppedAt).toFixed(0)} ms`);
  assert.ok(ms < bound, `found after ${ms.toFixed(0)} ms`);
  assert.deepEqual(missed.slice(0, 2), [1, 2]);
  assert.deepEqual(crashes, ['heartbeat']);
  assert.ok(!isAlive(frozen.pid!), 'the frozen process was killed');
  assert.ok(replaced.pid);
  assert.equal(await pit.execute('ping', {}, { pool: 'h' }), 'pong');
  await pit.stop();
});

test('a 3 s CPU-bound call on a worker with a 1 s heartbeat timeout completes', async () => {
  const heartbeat = { enabled: true, pingIntervalMs: 200, timeoutMs: 1000, maxMissedHeartbeats: 1 };
  const pit = await startPit({ pools: [{ name: 'h', poolSize: 1, adapter: 'sample_adapters.Calc', heartbeat }] });
  const missed: unknown[] = [];
  pit.on('worker:heartbeat-missed', (e) => missed.push(e));
  const pid = pit.inspect().pools[0].workers[0].pid;
  const iterations = await pit.execute('spin', { seconds: 3 }, { pool: 'h' });
  assert.ok((iterations as number) > 0);
  assert.deepEqual(missed, []);
  assert.equal(pit.inspect().pools[0].workers[0].pid, pid, 'the same worker, never replaced');
  await pit.stop();
});

test('a thread worker answers heartbeats while every one of its threads is busy', async () => {
  const heartbeat = { enabled: true, pingIntervalMs: 200, timeoutMs: 1000, maxMissedHeartbeats: 1 };
  const pit = await startPit({
    pools: [{ name: 't', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 4, adapter: 'sample_adapters.Threaded', heartbeat }],
  });
  const missed: unknown[] = [];
  pit.on('worker:heartbeat-missed', (e) => missed.push(e));
  const pid = pit.inspect().pools[0].workers[0].pid;
  await Promise.all(Array.from({ length: 4 }, () => pit.execute('sleep', { seconds: 2 }, { pool: 't' })));
  assert.deepEqual(missed, []);
  assert.equal(pit.inspect().pools[0].workers[0].pid, pid);
  await pit.stop();
});

test('default configuration: a SIGSTOPped busy worker\'s call fails WORKER_CRASHED within 16 s and the worker is replaced; a 12 s CPU-bound call is spared', async () => {
  const pit = await startPit({ pools: [{ name: 'd', poolSize: 2, adapter: 'sample_adapters.Calc' }] });
  const heartbeat = pit.config.pools[0].heartbeat;
  assert.deepEqual(heartbeat, { enabled: true, pingIntervalMs: 2000, timeoutMs: 10_000, maxMissedHeartbeats: 3 });
  const bound = heartbeat.pingIntervalMs * heartbeat.maxMissedHeartbeats + heartbeat.timeoutMs; // 16 s, as documented
  const crashes: { workerId: string; reason: string }[] = [];
  const missed: string[] = [];
  pit.on('worker:crashed', (e) => crashes.push(e));
  pit.on('worker:heartbeat-missed', (e) => missed.push(e.workerId));
  // Both run at once: the spinning call on the first worker, the call to be frozen on the second.
  const spinning = pit.execute('spin', { seconds: 12 }, { pool: 'd' });
  const marker = startMarker();
  const frozenCall = pit.execute('sleep', { seconds: 120, started: marker.file }, { pool: 'd' }).then(() => assert.fail('the frozen call resolved'), asError);
  await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.inFlight === 1), 5000, 'both calls to be sent');
  await marker.started();
  const [spinner, frozen] = pit.inspect().pools[0].workers;
  const stoppedAt = performance.now();
  process.kill(frozen.pid!, 'SIGSTOP');
  const error = await frozenCall;
  const failedMs = performance.now() - stoppedAt;
  assert.equal(error.code, 'WORKER_CRASHED');
  assert.equal(error.signal, 'SIGKILL');
  const replaced = await waitFor(() => {
    const w = pit.inspect().pools[0].workers.find((x) => x.id === frozen.id);
    return w && w.state === 'ready' && w.pid !== frozen.pid ? w : undefined;
  }, 10_000, 'the frozen worker to be replaced');
  const iterations = await spinning;
  console.log(`default heartbeat: SIGSTOP -> WORKER_CRASHED in ${failedMs.toFixed(0)} ms (documented bound ${bound} ms); 12 s spin completed`);
  assert.ok(failedMs < bound + 14_000, `failed ${failedMs.toFixed(0)} ms after SIGSTOP`);
  assert.ok(!isAlive(frozen.pid!), 'the frozen process was killed');
  assert.deepEqual(crashes.map((c) => [c.workerId, c.reason]), [[frozen.id, 'heartbeat']]);
  assert.ok((iterations as number) > 0);
  assert.ok(!missed.includes(spinner.id), 'the spinning worker answered every heartbeat');
  assert.equal(pit.inspect().pools[0].workers.find((w) => w.id === spinner.id)!.pid, spinner.pid, 'the spinning worker was never replaced');
  assert.equal(replaced.restarts, 1);
  assert.equal(await pit.execute('ping', {}, { pool: 'd' }), 'pong');
  await pit.stop();
});

test('no timer stays armed after stop(): heartbeats, TTLs and recycles through crashes, freezes and recycles', async () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  await sleep(100); // earlier tests' short-lived timers run out
  const before = timers();
  const heartbeat = { enabled: true, pingIntervalMs: 100, timeoutMs: 300, maxMissedHeartbeats: 2 };
  const pit = await startPit({
    pools: [{ name: 't', poolSize: 2, adapter: 'sample_adapters.Calc', heartbeat, workerTtlMs: 60_000, restart: { backoffMs: 0 } }],
  });
  const workers = () => pit.inspect().pools[0].workers;
  const allReady = () => waitFor(() => workers().length === 2 && workers().every((w) => w.state === 'ready'), 10_000, '2 ready workers');
  process.kill(workers()[0].pid!, 'SIGKILL'); // crash → restart
  await sleep(200);
  await allReady();
  process.kill(workers()[1].pid!, 'SIGSTOP'); // frozen → killed by the heartbeat → restart
  await waitFor(() => workers()[1].restarts === 1 && workers()[1].state === 'ready', 10_000, 'the frozen worker replaced');
  await pit.recycleWorker(workers()[0].id); // replaced by a new worker
  await allReady();
  assert.ok(timers() > before, 'heartbeat and TTL timers are armed while the pool runs');
  await pit.stop();
  await sleep(100);
  assert.equal(timers(), before, 'timers left armed after stop()');
});
