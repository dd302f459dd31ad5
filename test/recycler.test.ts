// When the recycler asks for a worker's replacement, on a simulated clock with fake workers
// (test/dispatchHarness.ts): a call limit with headroom, a time to live, a memory limit, each
// staggered by the jitter, and once per worker. What the pool then does with the request is the
// pool machine's (poolLifecycle.model.test.ts). Each behaviour also has a test over real
// processes, named per test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { heldBy, settle, simulatedPool } from './dispatchHarness.js';

// Real processes: recycling.test.ts, "workerMaxRequests 5 under 200 concurrent calls on 3 workers: no failures, at least 30 recycles".
test('workerMaxRequests 5: the replacement is asked for as the 4th call starts, once; the 5th is the last call the process is sent', async (t) => {
  const pool = simulatedPool(t, { prefetch: 2, workerMaxRequests: 5 }, 1);
  const [w1] = pool.workers;
  for (const tool of ['c1', 'c2', 'c3']) pool.call(tool);
  assert.deepEqual(pool.recycles, []);
  pool.call('c4');
  assert.deepEqual(pool.recycles, [], 'c4 waits in the queue: it has not started');
  w1.connection.reply('c1');
  assert.deepEqual(pool.recycles, ['p-1 max_requests @0'], 'asked for with 20% headroom, so the replacement is ready in time');
  for (const tool of ['c5', 'c6']) pool.call(tool);
  assert.deepEqual(w1.connection.held(), ['c2', 'c3', 'c4'], 'one running, two sent ahead');
  w1.connection.reply('c2');
  assert.deepEqual(w1.connection.held(), ['c3', 'c4', 'c5']);
  w1.connection.reply('c3');
  assert.deepEqual(w1.connection.held(), ['c4', 'c5'], 'past its limit it is sent nothing more');
  pool.addWorker(); // the replacement
  await settle();
  assert.deepEqual(heldBy(pool), { 'p-1': ['c4', 'c5'], 'p-2': ['c6'] });
  assert.deepEqual(pool.recycles, ['p-1 max_requests @0'], 'asked for once');
});

// Real processes: recycling.test.ts, "workerMaxRequests 5 under 200 concurrent calls ..." (its workers restart and serve on).
test('a worker restarted as a new process starts counting its calls afresh', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, workerMaxRequests: 2 }, 1);
  const [w1] = pool.workers;
  for (const tool of ['a', 'b', 'c']) pool.call(tool);
  w1.connection.reply('a');
  w1.connection.reply('b');
  assert.deepEqual(w1.connection.held(), []);
  assert.deepEqual(pool.recycles, ['p-1 max_requests @0']);
  w1.leave('starting');
  w1.ready();
  await settle();
  assert.deepEqual(w1.connection.held(), ['c']);
});

// Real processes: recycling.test.ts, "a TTL recycle starts the replacement first: capacity never dips, and a queued backlog loses nothing".
test('workerTtlMs: each worker is due at its TTL shortened by the jitter, to the millisecond; a gone worker\'s TTL is disarmed', async (t) => {
  const randoms = [0, 0.5, 1];
  t.mock.method(Math, 'random', () => randoms.shift() ?? 0);
  const pool = simulatedPool(t, { workerTtlMs: 1000, workerRecycleJitter: 0.4 }, 3);
  await pool.advance(599);
  assert.deepEqual(pool.recycles, []);
  await pool.advance(1);
  assert.deepEqual(pool.recycles, ['p-3 ttl @600']);
  pool.workers[0].leave('crashed'); // p-1's TTL goes with it
  await pool.advance(199);
  assert.deepEqual(pool.recycles, ['p-3 ttl @600']);
  await pool.advance(1);
  assert.deepEqual(pool.recycles, ['p-3 ttl @600', 'p-2 ttl @800']);
  await pool.advance(10_000);
  assert.equal(pool.recycles.length, 2);
  pool.workers[0].ready(); // restarted at 10,800 ms: its TTL starts over
  await pool.advance(999);
  assert.equal(pool.recycles.length, 2);
  await pool.advance(1);
  assert.deepEqual(pool.recycles.at(-1), 'p-1 ttl @11800');
});

// Real processes: recycling.test.ts, "workerMaxRequests 5 under 200 concurrent calls ..." (jitter is set there too).
test('workerMaxRequests with jitter: each process\'s limit is shortened by its own random fraction, to at least 1', async (t) => {
  const randoms = [1, 0];
  t.mock.method(Math, 'random', () => randoms.shift() ?? 0);
  const pool = simulatedPool(t, { workerMaxRequests: 10, workerRecycleJitter: 0.5 }, 2);
  assert.deepEqual(pool.workers.map((w) => w.slot.callLimit), [5, 10]);
});

test('a call limit shortened below one call is one call', async (t) => {
  t.mock.method(Math, 'random', () => 1);
  const pool = simulatedPool(t, { workerMaxRequests: 1, workerRecycleJitter: 0.9 }, 1);
  assert.equal(pool.workers[0].slot.callLimit, 1);
});

// Real processes: recycling.test.ts, "a tool that grows its process past workerMaxMemoryMb gets that worker recycled after the call".
test('workerMaxMemoryMb: a worker whose process is past the limit when a call ends is due; under it, or with no process, it is not', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, workerMaxMemoryMb: 1 }, 2);
  const [w1, w2] = pool.workers;
  w1.ready(process.pid); // this Node process: well past 1 MiB
  w2.ready(null);
  pool.call('a');
  pool.call('b');
  assert.deepEqual(pool.recycles, [], 'memory is read as calls end');
  w1.connection.reply('a');
  w2.connection.reply('b');
  assert.deepEqual(pool.recycles, ['p-1 memory @0']);
  pool.call('c');
  pool.workers[0].connection.reply('c');
  assert.deepEqual(pool.recycles, ['p-1 memory @0'], 'asked for once');
});

test('workerMaxMemoryMb: a process under the limit is not due', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, workerMaxMemoryMb: 1_000_000 }, 1);
  pool.workers[0].ready(process.pid);
  pool.call('a');
  pool.workers[0].connection.reply('a');
  assert.deepEqual(pool.recycles, []);
});


// Real processes: recycling.test.ts, "workerMaxRequests 5 under 200 concurrent calls ..." (no failures: replacements are ready in time).
test('the headroom is a fifth of the limit: with workerMaxRequests 10 the replacement is asked for as the 8th call starts', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, workerMaxRequests: 10 }, 1);
  const [w1] = pool.workers;
  for (let i = 1; i <= 8; i++) {
    assert.deepEqual(pool.recycles, [], `before call ${i}`);
    pool.call(`c${i}`);
    w1.connection.reply(`c${i}`);
  }
  assert.deepEqual(pool.recycles, ['p-1 max_requests @0']);
});
