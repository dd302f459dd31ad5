// Recycling: by request count, time to live, resident memory and by hand. The replacement
// starts first, nothing queued is lost, and recycling never counts as a crash.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Snakepit } from '../src/index.js';
import { checkNoLeaks, isAlive, startPit, waitFor } from './helpers.js';

checkNoLeaks();

function countRecycles(pit: Snakepit) {
  const reasons: string[] = [];
  pit.on('worker:recycling', (e) => reasons.push(e.reason));
  return reasons;
}

test('workerMaxRequests 5 under 200 concurrent calls on 3 workers: no failures, at least 30 recycles', async () => {
  const pit = await startPit({
    supervisor: { intensity: 0 },
    pools: [{ name: 'r', poolSize: 3, adapter: 'sample_adapters.Calc', workerMaxRequests: 5, restart: { intensity: 0 } }],
  });
  const recycles = countRecycles(pit);
  const crashes: unknown[] = [];
  pit.on('worker:crashed', (e) => crashes.push(e));
  const started = performance.now();
  const results = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => pit.execute('add', { a: i, b: 1 }, { pool: 'r' })));
  const ms = performance.now() - started;
  const failures = results.filter((r) => r.status === 'rejected');
  assert.deepEqual(failures, []);
  assert.deepEqual(results.map((r) => (r as PromiseFulfilledResult<number>).value), Array.from({ length: 200 }, (_, i) => i + 1));
  await waitFor(() => recycles.length >= 30, 5000, '30 recycles');
  console.log(`workerMaxRequests 5: 200 calls in ${ms.toFixed(0)} ms, ${recycles.length} recycles, 0 failures`);
  assert.ok(recycles.every((r) => r === 'max_requests'));
  assert.deepEqual(crashes, [], 'recycling is not crashing');
  assert.equal(pit.inspect().pools[0].supervisor.restartsInWindow, 0, 'recycling never counts toward intensity');
  await waitFor(() => pit.inspect().pools[0].workers.filter((w) => w.state === 'ready').length === 3, 5000, 'back to 3 workers');
  assert.equal(await pit.execute('ping', {}, { pool: 'r' }), 'pong');
  await pit.stop();
});

test('a TTL recycle starts the replacement first: capacity never dips, and a queued backlog loses nothing', async () => {
  const pit = await startPit({ pools: [{ name: 'r', poolSize: 2, adapter: 'sample_adapters.Calc', workerTtlMs: 700 }] });
  const recycles = countRecycles(pit);
  const first = pit.inspect().pools[0].workers.map((w) => w.pid);
  let minServing = Infinity;
  const watch = setInterval(() => {
    const serving = pit.inspect().pools[0].workers.filter((w) => w.state === 'ready' || w.state === 'busy').length;
    minServing = Math.min(minServing, serving);
  }, 5);
  const results = await Promise.all(Array.from({ length: 60 }, (_, i) => pit.execute('sleep', { seconds: 0.05 }, { pool: 'r' }).then(() => i)));
  clearInterval(watch);
  assert.deepEqual(results, Array.from({ length: 60 }, (_, i) => i));
  assert.ok(recycles.length >= 2 && recycles.every((r) => r === 'ttl'), `recycles: ${recycles}`);
  assert.ok(minServing >= 2, `serving workers dipped to ${minServing}`);
  const now = pit.inspect().pools[0].workers.map((w) => w.pid);
  assert.ok(first.every((pid) => !now.includes(pid) && !isAlive(pid!)), 'the first workers were retired');
  await pit.stop();
});

test('a tool that grows its process past workerMaxMemoryMb gets that worker recycled after the call', async () => {
  const pit = await startPit({ pools: [{ name: 'm', poolSize: 1, adapter: 'sample_adapters.Calc', workerMaxMemoryMb: 150 }] });
  const recycles = countRecycles(pit);
  const [before] = pit.inspect().pools[0].workers;
  assert.equal(await pit.execute('grow', { mb: 200 }, { pool: 'm' }), 200, 'the call itself completes');
  const after = await waitFor(() => {
    const workers = pit.inspect().pools[0].workers;
    return workers.length === 1 && workers[0].id !== before.id ? workers[0] : undefined;
  }, 5000, 'the grown worker to be replaced');
  assert.deepEqual(recycles, ['memory']);
  assert.notEqual(after.pid, before.pid);
  assert.ok(!isAlive(before.pid!));
  assert.equal(await pit.execute('ping', {}, { pool: 'm' }), 'pong');
  await pit.stop();
});

test('recycleWorker(id) replaces a worker by hand; its call in flight completes', async () => {
  const pit = await startPit({ pools: [{ name: 'm', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const recycles = countRecycles(pit);
  const [before] = pit.inspect().pools[0].workers;
  const inFlight = pit.execute('sleep', { seconds: 0.5 }, { pool: 'm' });
  await pit.recycleWorker(before.id);
  assert.equal(((await inFlight) as { pid: number }).pid, before.pid);
  assert.deepEqual(recycles, ['manual']);
  const [after] = pit.inspect().pools[0].workers;
  assert.notEqual(after.id, before.id);
  assert.ok(!isAlive(before.pid!));
  await pit.stop();
});
