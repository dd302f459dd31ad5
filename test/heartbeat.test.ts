// Heartbeats: a frozen worker (SIGSTOP) is found and replaced; a busy one is not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkNoLeaks, isAlive, startPit, waitFor } from './helpers.js';

checkNoLeaks();

test('a SIGSTOPped worker is replaced within pingIntervalMs × maxMissedHeartbeats + timeoutMs + 1 s', async () => {
  const heartbeat = { enabled: true, pingIntervalMs: 300, timeoutMs: 500, maxMissedHeartbeats: 2 };
  const pit = await startPit({ pools: [{ name: 'h', poolSize: 2, adapter: 'sample_adapters.Calc', heartbeat }] });
  const missed: number[] = [];
  const crashes: string[] = [];
  pit.on('worker:heartbeat-missed', (e) => missed.push(e.missed));
  pit.on('worker:crashed', (e) => crashes.push(e.reason));
  const frozen = pit.inspect().pools[0].workers[0];
  const stoppedAt = performance.now();
  process.kill(frozen.pid!, 'SIGSTOP');
  const replaced = await waitFor(() => {
    const w = pit.inspect().pools[0].workers.find((x) => x.id === frozen.id);
    return w && w.state === 'ready' && w.pid !== frozen.pid ? w : undefined;
  }, 5000, 'a replacement');
  const ms = performance.now() - stoppedAt;
  const bound = heartbeat.pingIntervalMs * heartbeat.maxMissedHeartbeats + heartbeat.timeoutMs + 1000;
  console.log(`SIGSTOP -> replaced in ${ms.toFixed(0)} ms (bound ${bound} ms)`);
  assert.ok(ms < bound, `replaced after ${ms.toFixed(0)} ms`);
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
