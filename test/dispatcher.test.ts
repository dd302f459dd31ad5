// The dispatcher on a simulated clock with fake workers (test/dispatchHarness.ts): the queue's
// order and fairness, prefetch, queue timeouts and back-pressure, deadlines and stuck calls,
// draining and closing. Each behaviour also has a test over real processes, named per test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueueTimeoutError, ShuttingDownError, SnakepitError, WorkerCrashedError } from '../src/errors.js';
import { heldBy, settle, simulatedPool } from './dispatchHarness.js';

// Real processes: fairness.test.ts, "a new call waits behind the queued ones even when a worker frees up in between".
test('FIFO: queued calls run in the order submitted, and a freed place goes to the longest-waiting call, never a newer one', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 2);
  const [w1, w2] = pool.workers;
  w2.leave('starting'); // one worker serves for now
  for (const tool of ['a', 'b', 'c', 'd']) pool.call(tool);
  assert.deepEqual(heldBy(pool), { 'p-1': ['a'], 'p-2': [] });
  assert.equal(pool.dispatcher.queued, 3);

  w1.connection.reply('a');
  pool.call('late'); // the worker has just freed up, and b took it at once
  assert.deepEqual(w1.connection.held(), ['b']);
  w2.ready(); // a second place frees up: the pump runs on the next tick ...
  pool.call('later'); // ... and a call made before then still queues behind c and d
  await settle();
  assert.deepEqual(heldBy(pool), { 'p-1': ['b'], 'p-2': ['c'] });
  for (const tool of ['b', 'c', 'd', 'late']) [w1, w2].find((w) => w.connection.held()[0] === tool)!.connection.reply(tool);
  await settle();
  assert.deepEqual(pool.outcomes, ['a ok', 'b ok', 'c ok', 'd ok', 'late ok']);
  assert.deepEqual(Object.values(heldBy(pool)).flat(), ['later']);
});

// Real processes: fairness.test.ts, "64 closed-loop callers on 2 workers for 8 s share them evenly".
test('fairness: 8 closed-loop callers on 2 workers, each call 5 ms, for 1 s: every caller makes the same number of calls', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 2);
  const until = 1000;
  const counts = Array.from({ length: 8 }, () => 0);
  const callers = counts.map(async (_, i) => {
    while (pool.now() < until) {
      await pool.call(`caller-${i}`);
      counts[i]++;
    }
  });
  while (pool.now() < until) {
    await pool.advance(5);
    for (const worker of pool.workers) worker.connection.reply(); // each worker ends its call
    await settle();
  }
  for (const worker of pool.workers) while (worker.connection.open.size) worker.connection.reply();
  await Promise.all(callers);
  assert.ok(counts.reduce((a, b) => a + b) >= 2 * (until / 5), `${counts}`);
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `per caller: ${counts}`);
});

// Real processes: prefetch.test.ts, "by default a process worker holds two calls behind the running one; the rest wait in the queue".
test('prefetch: a busy worker is sent at most `prefetch` calls behind the running one, in the order queued; the rest wait', async (t) => {
  const pool = simulatedPool(t, { prefetch: 2 }, 1);
  const [w1] = pool.workers;
  for (const tool of ['a', 'b', 'c', 'd', 'e']) pool.call(tool);
  assert.deepEqual(w1.connection.held(), ['a', 'b', 'c']);
  assert.equal(pool.dispatcher.queued, 2);
  assert.equal(pool.dispatcher.snapshot().utilisation, 1, 'calls sent ahead do not count as using a place');
  w1.connection.reply('a');
  assert.deepEqual(w1.connection.held(), ['b', 'c', 'd']);
  for (const tool of ['b', 'c', 'd', 'e']) w1.connection.reply(tool);
  await settle();
  assert.deepEqual(w1.connection.sent.map((c) => c.tool), ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(pool.outcomes, ['a ok', 'b ok', 'c ok', 'd ok', 'e ok']);
});

// Real processes: prefetch.test.ts, "least-loaded selection counts calls sent ahead: two workers hold two calls each".
test('prefetch: a worker with nothing to do is taken before a call is sent ahead to a busy one; load evens out', async (t) => {
  const pool = simulatedPool(t, { prefetch: 1 }, 3);
  const [w1, w2, w3] = pool.workers;
  for (const tool of ['a', 'b', 'c', 'd']) pool.call(tool);
  assert.deepEqual(heldBy(pool), { 'p-1': ['a', 'd'], 'p-2': ['b'], 'p-3': ['c'] });
  w2.connection.reply('b');
  pool.call('e'); // p-2 is idle again: it takes e rather than p-3 holding it behind c
  assert.deepEqual(heldBy(pool), { 'p-1': ['a', 'd'], 'p-2': ['e'], 'p-3': ['c'] });
  for (const tool of ['f', 'g', 'h']) pool.call(tool);
  assert.deepEqual(heldBy(pool), { 'p-1': ['a', 'd'], 'p-2': ['e', 'f'], 'p-3': ['c', 'g'] });
  assert.equal(pool.dispatcher.queued, 1);
  w3.connection.reply('c');
  assert.deepEqual(w3.connection.held(), ['g', 'h'], 'the freed place goes to the queue');
  assert.equal(w1.slot.inFlight + w2.slot.inFlight + w3.slot.inFlight, 6);
});

// Real processes: threadProfile.test.ts, "2 workers × 4 threads: 8 concurrent sleeps are spread 4 and 4" and
// "a thread worker with 3 of 8 calls in flight is ready; with 8 it is busy, and further calls queue".
test('thread profile: calls fill the workers\' threads evenly, and none is sent ahead of a free thread', async (t) => {
  const pool = simulatedPool(t, { workerProfile: 'thread', threadsPerWorker: 3 }, 2);
  const [w1, w2] = pool.workers;
  for (const tool of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) pool.call(tool);
  assert.deepEqual(heldBy(pool), { 'p-1': ['a', 'c', 'e'], 'p-2': ['b', 'd', 'f'] });
  assert.equal(pool.dispatcher.queued, 1);
  w2.connection.reply('d');
  assert.deepEqual(w2.connection.held(), ['b', 'f', 'g']);
  assert.deepEqual(w1.connection.held(), ['a', 'c', 'e']);
});

// Real processes: prefetch.test.ts, "when a worker is killed, the calls it held unstarted run on its replacement, in order; only the running call fails".
test('a dead worker\'s calls it never started go back to the head of the queue in their order; only the started one fails', async (t) => {
  const pool = simulatedPool(t, { prefetch: 2 }, 1);
  const [w1] = pool.workers;
  for (const tool of ['a', 'b', 'c', 'd']) pool.call(tool);
  assert.deepEqual(w1.connection.held(), ['a', 'b', 'c']);
  const first = w1.connection.sent[0].id;
  w1.connection.die(w1.id, first); // it had started a only
  w1.leave('crashed');
  await settle();
  assert.deepEqual(pool.outcomes, ['a WORKER_CRASHED']);
  assert.equal(pool.dispatcher.queued, 3);
  w1.ready(); // its replacement
  await settle();
  assert.deepEqual(w1.connection.held(), ['b', 'c', 'd']);
  for (const tool of ['b', 'c', 'd']) w1.connection.reply(tool);
  await settle();
  assert.deepEqual(pool.outcomes, ['a WORKER_CRASHED', 'b ok', 'c ok', 'd ok']);
});

// Real processes: execute.test.ts, "a full queue is POOL_SATURATED and a long wait is QUEUE_TIMEOUT".
test('queue timeout: a call queued queueTimeoutMs rejects QUEUE_TIMEOUT to the millisecond and gives up its place; nothing else is lost', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, queueTimeoutMs: 200, maxQueue: 2 }, 1);
  const [w1] = pool.workers;
  pool.call('a');
  const b = pool.call('b');
  await pool.advance(50);
  pool.call('c');
  await pool.advance(149);
  assert.deepEqual(pool.outcomes, [], 'b has waited 199 ms');
  await pool.advance(1);
  assert.deepEqual(pool.outcomes, ['b QUEUE_TIMEOUT']);
  const error = await b.catch((e: unknown) => e);
  assert.ok(error instanceof QueueTimeoutError && error instanceof SnakepitError);
  assert.match((error as Error).message, /waited 200 ms in the queue of pool "p"/);
  assert.equal(pool.dispatcher.queued, 1);
  pool.call('d'); // b's place is free again: d queues, no POOL_SATURATED
  assert.equal(pool.dispatcher.queued, 2);
  w1.connection.reply('a');
  assert.deepEqual(w1.connection.held(), ['c'], 'the timed-out call is not sent to the freed worker');
  await pool.advance(1000); // c runs and d waits longer than 200 ms: only d times out
  w1.connection.reply('c');
  await settle();
  assert.deepEqual(pool.outcomes, ['b QUEUE_TIMEOUT', 'a ok', 'd QUEUE_TIMEOUT', 'c ok']);
  assert.equal(pool.dispatcher.snapshot().queueTimeouts, 2);
  assert.equal(pool.dispatcher.queued, 0);
  assert.equal(w1.slot.inFlight, 0);
});

// Real processes: execute.test.ts, "a full queue is POOL_SATURATED and a long wait is QUEUE_TIMEOUT".
test('back-pressure: with maxQueue calls waiting, the next call is POOL_SATURATED at once and the waiting ones keep their places', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, maxQueue: 2 }, 1);
  const [w1] = pool.workers;
  for (const tool of ['a', 'b', 'c', 'd']) pool.call(tool);
  await settle();
  assert.deepEqual(pool.outcomes, ['d POOL_SATURATED']);
  assert.equal(pool.dispatcher.queued, 2);
  for (const tool of ['a', 'b', 'c']) w1.connection.reply(tool);
  await settle();
  assert.deepEqual(pool.outcomes, ['d POOL_SATURATED', 'a ok', 'b ok', 'c ok']);
});

// Real processes: callContext.test.ts, "process profile: a call that ignores its cancel is stuck after cancelGraceMs, and its worker is replaced".
test('deadline: the caller gets TIMEOUT at timeoutMs, the worker a cancel; its place stays held, and past cancelGraceMs the call is stuck', async (t) => {
  const pool = simulatedPool(t, { prefetch: 1, cancelGraceMs: 300 }, 1);
  const [w1] = pool.workers;
  pool.call('slow', { timeoutMs: 100 });
  pool.call('next');
  pool.call('queued', { timeoutMs: 50 });
  await pool.advance(49);
  assert.deepEqual(pool.outcomes, []);
  await pool.advance(1);
  assert.deepEqual(pool.outcomes, ['queued TIMEOUT'], 'a queued call leaves the queue at its deadline');
  assert.equal(pool.dispatcher.queued, 0);
  await pool.advance(50);
  assert.deepEqual(pool.outcomes, ['queued TIMEOUT', 'slow TIMEOUT']);
  assert.deepEqual(w1.connection.cancelled, [w1.connection.sent[0].id]);
  assert.equal(w1.slot.inFlight, 2, 'Python still runs it: the place is not given away');
  await pool.advance(299);
  assert.deepEqual(pool.recycles, []);
  await pool.advance(1);
  assert.deepEqual(pool.recycles, ['p-1 stuck_call @400'], 'stuck at cancelGraceMs: the worker is to be replaced');
  assert.deepEqual(w1.connection.reclaims, [w1.connection.sent[0].id], 'the call sent ahead behind it is asked back');
  pool.call('after');
  assert.deepEqual(w1.connection.held(), ['slow', 'next'], 'no call is routed to a worker with a stuck call');
  w1.connection.handBack('next'); // the worker never started it: it waits again, first in line
  await settle();
  assert.equal(pool.dispatcher.queued, 2);
  w1.connection.reply('slow'); // it ends after all: the worker takes calls again, the oldest first
  await settle();
  assert.deepEqual(w1.connection.held(), ['next', 'after']);
});

// Real processes: callContext.test.ts, "process profile: a call that ignores its cancel is stuck after cancelGraceMs, and its worker is replaced".
test('a draining worker whose only calls left are stuck is drained at once: a drain does not wait for calls that never end', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, cancelGraceMs: 300 }, 1);
  const [w1] = pool.workers;
  pool.call('slow', { timeoutMs: 100 });
  await pool.advance(100);
  await pool.advance(300);
  assert.deepEqual(pool.recycles, ['p-1 stuck_call @400']);
  w1.leave('draining'); // the replacement is ready: the stuck worker drains
  assert.equal(w1.drained, 1);
  assert.equal(w1.slot.inFlight, 1, 'the stuck call still holds its place until the worker is retired');
});

// Real processes: recycling.test.ts, "a TTL recycle starts the replacement first: capacity never dips, and a queued backlog loses nothing";
// shutdown.test.ts, "graceful stop: calls in flight complete, new calls are refused, workers stop in reverse start order".
test('draining: a draining worker is sent no new call but finishes those it holds; closeIntake reports drained once none is left', async (t) => {
  const pool = simulatedPool(t, { prefetch: 1 }, 2);
  const [w1, w2] = pool.workers;
  for (const tool of ['a', 'b', 'c']) pool.call(tool);
  assert.deepEqual(heldBy(pool), { 'p-1': ['a', 'c'], 'p-2': ['b'] });
  w1.leave('draining');
  for (const tool of ['d', 'e']) pool.call(tool);
  assert.deepEqual(heldBy(pool), { 'p-1': ['a', 'c'], 'p-2': ['b', 'd'] });
  assert.equal(pool.dispatcher.queued, 1);
  w1.connection.reply('a');
  assert.deepEqual(w1.connection.held(), ['c'], 'e stays queued though the draining worker has room');
  assert.equal(w1.drained, 0, 'its actor hears DRAINED only once no call is left on it');
  let drained = 0;
  pool.dispatcher.closeIntake(new ShuttingDownError(), () => drained++);
  pool.call('refused');
  w1.connection.reply('c');
  assert.equal(w1.drained, 1, 'its last call ended: the worker may retire');
  w2.connection.reply('b');
  w2.connection.reply('d');
  assert.equal(drained, 0, 'e is still to run');
  w2.connection.reply('e');
  assert.equal(drained, 1);
  await settle();
  assert.deepEqual(pool.outcomes, ['a ok', 'refused SHUTTING_DOWN', 'c ok', 'b ok', 'd ok', 'e ok']);
});

// Real processes: supervision.test.ts, "queued calls wait through a crash and run on the restarted worker"; shutdown.test.ts, graceful stop.
test('draining waits for queued calls too: one queued while no worker serves runs once one does, and only then is the pool drained', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 1);
  const [w1] = pool.workers;
  w1.leave('crashed');
  pool.call('a');
  let drained = 0;
  pool.dispatcher.closeIntake(new ShuttingDownError(), () => drained++);
  await pool.advance(1000);
  assert.equal(drained, 0);
  w1.ready();
  await settle();
  assert.deepEqual(w1.connection.held(), ['a']);
  w1.connection.reply('a');
  assert.equal(drained, 1);
});

// Real processes: shutdown.test.ts, "stop({ timeoutMs }) ends calls that outlive it with SHUTTING_DOWN".
test('close: queued calls are refused with the given error at once; calls in flight end as their worker answers', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 1);
  const [w1] = pool.workers;
  for (const tool of ['a', 'b', 'c']) pool.call(tool);
  pool.dispatcher.close();
  await settle();
  assert.deepEqual(pool.outcomes, ['b SHUTTING_DOWN', 'c SHUTTING_DOWN']);
  w1.connection.fail('a', new WorkerCrashedError(w1.id, w1.slot.pid, { exitCode: null, signal: 'SIGKILL' }));
  pool.call('d');
  await settle();
  assert.deepEqual(pool.outcomes, ['b SHUTTING_DOWN', 'c SHUTTING_DOWN', 'a WORKER_CRASHED', 'd SHUTTING_DOWN']);
  assert.equal(pool.dispatcher.queued + pool.dispatcher.inFlight, 0);
});
