// Calls made for one worker (`workerId`) and broadcasts, in the dispatcher on a simulated clock
// with fake workers (test/dispatchHarness.ts): such a call runs on its worker or nowhere — after
// the calls already waiting for it, within its queue timeout and deadline — and fails with a
// coded error when its worker is unknown, retiring or goes down; a broadcast makes one such call
// per serving worker. Real processes: reachWorkers.test.ts.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import type { BroadcastResult } from '../src/calls/calls.js';
import { ShuttingDownError, WorkerCrashedError } from '../src/errors.js';
import { prng } from './chaos/schedule.js';
import { type FakeConnection, heldBy, settle, simulatedPool } from './dispatchHarness.js';

/** A broadcast's entries as `workerId ok` or `workerId CODE`. */
const summary = (results: BroadcastResult[]) => results.map((r) => `${r.workerId} ${r.ok ? `ok ${String(r.value)}` : r.error.code}`);

test('workerId: the call runs on that worker even when another is free; an unknown id is INVALID_ARGUMENT at once', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 3);
  pool.call('mine', { workerId: 'p-3' });
  assert.deepEqual(heldBy(pool), { 'p-1': [], 'p-2': [], 'p-3': ['mine'] });
  pool.call('nobody', { workerId: 'p-9' });
  await settle();
  assert.deepEqual(pool.outcomes, ['nobody INVALID_ARGUMENT']);
  assert.equal(pool.dispatcher.queued, 0);
});

test('a busy worker: calls made for it wait in FIFO order behind it and are not sent to a free worker; other calls go there', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 2);
  const [w1] = pool.workers;
  pool.call('a', { workerId: 'p-1' });
  pool.call('b', { workerId: 'p-1' });
  pool.call('c', { workerId: 'p-1' });
  pool.call('free'); // p-2 is free and takes it
  assert.deepEqual(heldBy(pool), { 'p-1': ['a'], 'p-2': ['free'] });
  assert.equal(pool.dispatcher.queued, 2);
  w1.connection.reply('a');
  assert.deepEqual(w1.connection.held(), ['b']);
  w1.connection.reply('b');
  assert.deepEqual(w1.connection.held(), ['c']);
  w1.connection.reply('c');
  await settle();
  assert.deepEqual(pool.outcomes, ['a ok', 'b ok', 'c ok']);
});

test('prefetch: a call made for a busy worker is sent ahead to it, as any call is; the rest wait for it', async (t) => {
  const pool = simulatedPool(t, { prefetch: 1 }, 2);
  for (const tool of ['a', 'b', 'c']) pool.call(tool, { workerId: 'p-2' });
  assert.deepEqual(heldBy(pool), { 'p-1': [], 'p-2': ['a', 'b'] });
  assert.equal(pool.dispatcher.queued, 1);
});

test('queue timeout: a call waiting for its busy worker fails QUEUE_TIMEOUT at queueTimeoutMs and leaves its line; the next one keeps its place', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, queueTimeoutMs: 300 }, 2);
  const [w1] = pool.workers;
  pool.call('long', { workerId: 'p-1' });
  pool.call('waits', { workerId: 'p-1' });
  await pool.advance(100);
  pool.call('later', { workerId: 'p-1' });
  await pool.advance(199);
  assert.deepEqual(pool.outcomes, []);
  await pool.advance(1);
  assert.deepEqual(pool.outcomes, ['waits QUEUE_TIMEOUT']);
  assert.equal(pool.dispatcher.queued, 1);
  w1.connection.reply('long');
  assert.deepEqual(w1.connection.held(), ['later']);
  w1.connection.reply('later');
  await settle();
  assert.deepEqual(pool.outcomes, ['waits QUEUE_TIMEOUT', 'long ok', 'later ok']);
});

test('deadline and abort: a waiting call made for one worker settles TIMEOUT / ABORTED and never reaches it', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 1);
  const [w1] = pool.workers;
  pool.call('long', { workerId: 'p-1' });
  pool.call('deadline', { workerId: 'p-1', timeoutMs: 50 });
  const abort = new AbortController();
  pool.call('aborted', { workerId: 'p-1', signal: abort.signal });
  abort.abort();
  await pool.advance(50);
  assert.deepEqual(pool.outcomes, ['aborted ABORTED', 'deadline TIMEOUT']);
  assert.equal(pool.dispatcher.queued, 0);
  w1.connection.reply('long');
  await settle();
  assert.deepEqual(w1.connection.sent.map((c) => c.tool), ['long']);
});

test('a worker that dies before it starts a call made for it: the call fails WORKER_CRASHED, waiting or sent ahead, and never runs elsewhere', async (t) => {
  const pool = simulatedPool(t, { prefetch: 1 }, 2);
  const [w1, w2] = pool.workers;
  pool.call('running', { workerId: 'p-1' });
  pool.call('ahead', { workerId: 'p-1' });
  const waiting = pool.call('waiting', { workerId: 'p-1' });
  pool.call('anyAhead'); // p-2 is free: it runs there
  assert.deepEqual(heldBy(pool), { 'p-1': ['running', 'ahead'], 'p-2': ['anyAhead'] });
  w1.connection.die(w1.id, w1.connection.sent[0].id); // it had started `running` only
  w1.leave('crashed');
  await settle();
  assert.deepEqual(pool.outcomes, ['ahead WORKER_CRASHED', 'running WORKER_CRASHED', 'waiting WORKER_CRASHED']);
  const lost = await waiting.catch((error: WorkerCrashedError) => error);
  assert.ok(lost instanceof WorkerCrashedError && lost.workerId === 'p-1', 'a WorkerCrashedError naming the worker');
  assert.equal(pool.dispatcher.queued, 0);
  w1.ready(); // restarted under the same id: nothing is left for it
  await settle();
  assert.deepEqual(heldBy(pool), { 'p-1': [], 'p-2': ['anyAhead'] });
  pool.call('afterRestart', { workerId: 'p-1' });
  assert.deepEqual(w1.connection.held(), ['afterRestart']);
  w2.connection.reply('anyAhead');
});

test('a crashed worker refuses calls made for it (WORKER_CRASHED); one that is starting keeps them until it is ready', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 2);
  const [w1] = pool.workers;
  w1.leave('crashed');
  pool.call('down', { workerId: 'p-1' });
  await settle();
  assert.deepEqual(pool.outcomes, ['down WORKER_CRASHED']);
  w1.leave('starting');
  pool.call('waits', { workerId: 'p-1' });
  await pool.advance(1000);
  assert.deepEqual(heldBy(pool), { 'p-1': [], 'p-2': [] });
  w1.ready();
  await settle();
  assert.deepEqual(w1.connection.held(), ['waits']);
});

test('a retiring worker: calls made for it are INVALID_ARGUMENT, at once or, if waiting, as it starts to drain; its calls in flight finish', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 2);
  const [w1] = pool.workers;
  pool.call('running', { workerId: 'p-1' });
  pool.call('waiting', { workerId: 'p-1' });
  w1.leave('draining');
  pool.call('late', { workerId: 'p-1' });
  await settle();
  assert.deepEqual(pool.outcomes, ['waiting INVALID_ARGUMENT', 'late INVALID_ARGUMENT']);
  w1.connection.reply('running');
  await settle();
  assert.deepEqual(pool.outcomes.at(-1), 'running ok');
  assert.equal(w1.drained, 1);
});

test('stop: a call waiting for its worker fails SHUTTING_DOWN as the worker drains, not INVALID_ARGUMENT; the running one finishes', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 1);
  const [w1] = pool.workers;
  pool.call('running', { workerId: 'p-1' });
  pool.call('waiting', { workerId: 'p-1' });
  let drained = false;
  pool.dispatcher.closeIntake(new ShuttingDownError(), () => (drained = true));
  w1.leave('draining');
  await settle();
  assert.deepEqual(pool.outcomes, ['waiting SHUTTING_DOWN']);
  w1.connection.reply('running');
  await settle();
  assert.deepEqual(pool.outcomes, ['waiting SHUTTING_DOWN', 'running ok']);
  assert.ok(drained);
});

test('workerId with sessionId: INVALID_ARGUMENT if the session is bound to another worker; else it runs there and binds the session', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 2);
  const [w1, w2] = pool.workers;
  pool.call('bind', { sessionId: 'chat', workerId: 'p-2' });
  assert.deepEqual(heldBy(pool), { 'p-1': [], 'p-2': ['bind'] });
  w2.connection.reply('bind');
  pool.call('same', { sessionId: 'chat', workerId: 'p-2' });
  pool.call('other', { sessionId: 'chat', workerId: 'p-1' });
  await settle();
  assert.deepEqual(pool.outcomes, ['bind ok', 'other INVALID_ARGUMENT']);
  w2.connection.reply('same');
  pool.call('follows', { sessionId: 'chat' }); // the session's own worker
  assert.deepEqual(heldBy(pool), { 'p-1': [], 'p-2': ['follows'] });
  assert.deepEqual(w1.connection.sent, []);
});

test('broadcast: one call per serving worker, busy ones after their waiting calls; starting and draining workers are left out', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 4);
  const [w1, w2, w3, w4] = pool.workers;
  pool.call('busy', { workerId: 'p-2' });
  w3.leave('starting');
  w4.leave('draining');
  const results = pool.dispatcher.broadcast('warm', {}, {});
  assert.deepEqual(heldBy(pool), { 'p-1': ['warm'], 'p-2': ['busy'], 'p-3': [], 'p-4': [] });
  w1.connection.reply('warm', 'one');
  w2.connection.reply('busy');
  assert.deepEqual(w2.connection.held(), ['warm']);
  w3.ready(); // ready after the broadcast was made: not reached
  w2.connection.reply('warm', 'two');
  assert.deepEqual(summary(await results), ['p-1 ok one', 'p-2 ok two']);
  assert.deepEqual(w3.connection.sent, []);
});

test('broadcast on the thread profile: one call per worker, not per thread; with no worker serving it resolves []', async (t) => {
  const pool = simulatedPool(t, { workerProfile: 'thread', threadsPerWorker: 4 }, 2);
  const [w1, w2] = pool.workers;
  const results = pool.dispatcher.broadcast('warm', {}, {});
  assert.deepEqual(heldBy(pool), { 'p-1': ['warm'], 'p-2': ['warm'] });
  w1.connection.reply('warm', 1);
  w2.connection.fail('warm', new (await import('../src/errors.js')).InvalidArgumentError('warm', 'no'));
  assert.deepEqual(summary(await results), ['p-1 ok 1', 'p-2 INVALID_ARGUMENT']);
  w1.leave('starting');
  w2.leave('crashed');
  assert.deepEqual(await pool.dispatcher.broadcast('warm', {}, {}), []);
});

test('broadcast: each call has its own deadline and waits for its own worker; one worker dying fails its entry alone', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 3);
  const [w1, w2, w3] = pool.workers;
  pool.call('long', { workerId: 'p-3' });
  const results = pool.dispatcher.broadcast('warm', {}, { timeoutMs: 100 });
  w2.connection.die(w2.id, w2.connection.sent[0].id);
  w2.leave('crashed');
  w1.connection.reply('warm', 'fine');
  await pool.advance(100); // p-3 never got to it
  assert.deepEqual(summary(await results), ['p-1 ok fine', 'p-2 WORKER_CRASHED', 'p-3 TIMEOUT']);
  w3.connection.reply('long');
  await settle();
  assert.deepEqual(w3.connection.sent.map((c) => c.tool), ['long']);
  assert.equal(pool.dispatcher.queued, 0);
  assert.equal(pool.dispatcher.inFlight, 0);
});

test('broadcast to 12 workers with one signal: it holds one listener on the signal (no MaxListenersExceededWarning); aborted midway, the unanswered calls are ABORTED with its reason and the listener goes', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0 }, 12);
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const controller = new AbortController();
  const results = pool.dispatcher.broadcast('warm', {}, { signal: controller.signal });
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
  for (const w of pool.workers.slice(0, 5)) w.connection.reply('warm', 'done');
  controller.abort('enough');
  const entries = await results;
  assert.deepEqual(summary(entries).filter((s) => s.endsWith('ok done')).length, 5);
  const aborted = entries.filter((e) => !e.ok);
  assert.equal(aborted.length, 7);
  for (const entry of aborted) assert.equal(!entry.ok && entry.error.code, 'ABORTED');
  assert.equal(!aborted[0].ok && aborted[0].error.cause, 'enough');
  await settle();
  assert.deepEqual(warnings, []);
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
  for (const w of pool.workers.slice(5)) assert.equal(w.connection.cancelled.length, 1); // each told to stop its call
});

test('a workerId of a megabyte: INVALID_ARGUMENT whose message quotes it cut short', async (t) => {
  const pool = simulatedPool(t, {}, 1);
  const huge = 'x'.repeat(1 << 20);
  await assert.rejects(pool.call('tool', { workerId: huge }), (error: Error & { code: string }) => {
    assert.equal(error.code, 'INVALID_ARGUMENT');
    assert.ok(error.message.length < 1000, `message of ${error.message.length} characters`);
    return true;
  });
});

// The invariant under a seeded random schedule, to the millisecond: calls made for one worker
// (some for an unknown one), broadcasts and plain calls, with deadlines and aborts, while workers
// answer, die (having started some of their calls), restart and drain. Real processes:
// reachWorkers.test.ts, "seeded schedule".
const SEED = process.env.SNAKEPIT_REACH_SEED ? Number(process.env.SNAKEPIT_REACH_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 32);

test(`seeded schedule (SNAKEPIT_REACH_SEED=${SEED}): every call settles once; one made for a worker is sent at most once, to that worker only`, async (t) => {
  const random = prng(SEED);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const pool = simulatedPool(t, { prefetch: 1, queueTimeoutMs: 400 }, 3);
  const owner = new Map<FakeConnection, string>(); // every connection a worker had → its id
  const note = () => pool.workers.forEach((w) => owner.set(w.connection, w.id));
  const settles = new Map<string, number>();
  const made = new Map<string, string | undefined>(); // tool → the worker it was made for
  const broadcasts: Promise<BroadcastResult[]>[] = [];
  const count = (tool: string) => () => void settles.set(tool, (settles.get(tool) ?? 0) + 1);
  const options = (workerId?: string) => {
    const roll = random();
    if (roll < 0.15) return { workerId, timeoutMs: 1 + Math.floor(random() * 300) };
    if (roll < 0.25) return { workerId, signal: AbortSignal.abort() };
    return { workerId };
  };
  note();
  for (let step = 0; step < 600; step++) {
    const tool = `c${step}`;
    const roll = random();
    const serving = pool.workers.filter((w) => w.slot.state === 'ready' || w.slot.state === 'busy');
    if (roll < 0.3) {
      const workerId = random() < 0.05 ? 'p-404' : pick(pool.workers).id;
      made.set(tool, workerId);
      pool.dispatcher.submit(tool, {}, options(workerId)).then(count(tool), count(tool));
    } else if (roll < 0.4) {
      made.set(tool, undefined);
      const results = pool.dispatcher.broadcast(tool, {}, options());
      results.then(count(tool), count(tool));
      broadcasts.push(results.catch(() => [])); // refused whole (an aborted signal): no entries
    } else if (roll < 0.5) {
      pool.dispatcher.submit(tool, {}, options()).then(count(tool), count(tool));
    } else if (roll < 0.85) {
      const busy = serving.filter((w) => w.connection.open.size > 0);
      if (busy.length) pick(busy).connection.reply();
    } else if (roll < 0.9 && serving.length) {
      const victim = pick(serving);
      const open = [...victim.connection.open.keys()];
      victim.connection.die(victim.id, open.length ? pick(open) : 0);
      victim.leave('crashed');
    } else if (roll < 0.95) {
      const down = pool.workers.filter((w) => w.slot.state === 'crashed' || w.slot.state === 'starting');
      if (down.length) pick(down).ready();
    } else if (roll < 0.97 && serving.length > 1) {
      const leaving = pick(serving);
      leaving.leave('draining');
      while (leaving.connection.open.size) leaving.connection.reply();
      leaving.leave('stopped');
      pool.dispatcher.removeSlot(leaving.slot); // its id stays in pool.workers: a call made for it now is INVALID_ARGUMENT
      pool.addWorker();
    }
    note();
    await pool.advance(Math.floor(random() * 20));
  }
  // Let everything end: every worker serves and answers what it holds, every timer runs out.
  for (const w of pool.workers) if (w.slot.state === 'crashed' || w.slot.state === 'starting') w.ready();
  note();
  for (let round = 0; round < 50 && pool.workers.some((w) => w.connection.open.size); round++) {
    for (const w of pool.workers) while (w.connection.open.size) w.connection.reply();
    await pool.advance(500);
  }
  await pool.advance(1000);
  const results = await Promise.all(broadcasts);

  const sent = new Map<string, string[]>(); // tool → the workers it was sent to, in order
  for (const [connection, workerId] of owner) for (const call of connection.sent) sent.set(call.tool, [...(sent.get(call.tool) ?? []), workerId]);
  const violations: string[] = [];
  for (let step = 0; step < 600; step++) {
    const tool = `c${step}`;
    const times = settles.get(tool);
    if (times === undefined && !(made.has(tool) || sent.has(tool))) continue; // a step that made no call
    if (times !== 1) violations.push(`${tool} settled ${times ?? 0} times`);
  }
  for (const [tool, workerId] of made) {
    const to = sent.get(tool) ?? [];
    if (workerId !== undefined && (to.length > 1 || to.some((id) => id !== workerId))) violations.push(`${tool} for ${workerId} sent to ${to.join(', ')}`);
    if (workerId === undefined && new Set(to).size !== to.length) violations.push(`broadcast ${tool} sent twice to one worker: ${to.join(', ')}`);
  }
  for (const entries of results) if (new Set(entries.map((e) => e.workerId)).size !== entries.length) violations.push(`a worker twice in ${JSON.stringify(entries)}`);
  assert.deepEqual(violations, [], `SNAKEPIT_REACH_SEED=${SEED}`);
  assert.equal(pool.dispatcher.queued, 0);
  assert.equal(pool.dispatcher.inFlight, 0);
});
