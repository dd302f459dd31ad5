// Recycling: by request count, time to live, resident memory and by hand. The replacement
// starts first, nothing queued is lost, recycling never counts as a crash, and it is
// idempotent: however often a worker's recycle is asked for, one replacement, one outcome.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Snakepit } from '../src/index.js';
import { checkNoLeaks, createPit, errorOf, isAlive, sleep, startMarker, startPit, waitFor } from './helpers.js';

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
  const children = Object.keys(pit.actor.system.get('pool:r')!.getSnapshot().children);
  assert.deepEqual(children.sort(), pit.inspect().pools[0].workers.map((w) => `worker:${w.id}`).sort(), 'retired worker actors are released');
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
  }, 5).unref();
  // Four callers, so two calls always wait in the queue, until two recycles have happened (however
  // long a replacement takes to start on a busy machine): every call must be answered.
  let sent = 0;
  let answered = 0;
  const until = Date.now() + 60_000;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while ((recycles.length < 2 || sent < 60) && Date.now() < until) {
      sent++;
      await pit.execute('sleep', { seconds: 0.05 }, { pool: 'r' });
      answered++;
    }
  }));
  clearInterval(watch);
  assert.equal(answered, sent, 'every call answered');
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

/** Fails the test if the pool ever holds more than `limit` workers; call the result to stop watching. */
function watchPoolSize(pit: Snakepit, limit: number): () => number {
  let most = 0;
  const check = () => (most = Math.max(most, pit.inspect().pools[0].supervisor.children.length));
  pit.on('worker:starting', check);
  const timer = setInterval(check, 5).unref(); // a failing test must not keep its file alive
  return () => {
    clearInterval(timer);
    pit.off('worker:starting', check);
    assert.ok(most <= limit, `the pool held ${most} workers, more than ${limit}`);
    return most;
  };
}

test('two recycleWorker(id) calls at once share one promise, one replacement and one outcome', async () => {
  const pit = await startPit({ pools: [{ name: 'r', poolSize: 2, adapter: 'sample_adapters.Calc' }] });
  const recycles = countRecycles(pit);
  const [target, other] = pit.inspect().pools[0].workers;
  const first = pit.recycleWorker(target.id);
  const second = pit.recycleWorker(target.id);
  assert.equal(first, second, 'the same promise');
  await Promise.all([first, second]);
  const workers = pit.inspect().pools[0].workers;
  assert.deepEqual(recycles, ['manual']);
  assert.equal(workers.length, 2);
  assert.ok(workers.some((w) => w.id === other.id) && !workers.some((w) => w.id === target.id));
  assert.ok(!isAlive(target.pid!));
  await pit.stop();
});

test('recycling a draining worker 4 rounds over never starts an extra worker', async () => {
  const pit = await startPit({ pools: [{ name: 'r', poolSize: 2, adapter: 'sample_adapters.Calc' }] });
  const started: string[] = [];
  pit.on('worker:starting', (e) => started.push(e.workerId));
  const stopWatching = watchPoolSize(pit, 3); // 2 workers plus the one replacement in progress
  for (let round = 0; round < 4; round++) {
    const target = pit.inspect().pools[0].workers.find((w) => w.state === 'ready')!;
    // A call keeps the worker draining for a while after its replacement is ready (which on a
    // loaded machine can take over a second).
    const held = pit.execute('sleep', { seconds: 2 }, { pool: 'r' });
    await waitFor(() => pit.inspect().pools[0].workers.some((w) => w.inFlight === 1), 2000, 'the call to start');
    const busy = pit.inspect().pools[0].workers.find((w) => w.inFlight === 1)!;
    const recycled = pit.recycleWorker(busy.id);
    await waitFor(() => pit.inspect().pools[0].workers.find((w) => w.id === busy.id)?.state === 'draining', 5000, 'draining');
    assert.equal(pit.recycleWorker(busy.id), recycled, 'asking again while it drains shares the recycle under way');
    await Promise.all([recycled, held]);
    assert.ok(target);
  }
  await sleep(300);
  const most = stopWatching();
  const pool = pit.inspect().pools[0];
  console.log(`4 rounds of recycling a draining worker: ${started.length} workers started, at most ${most} at once`);
  assert.equal(started.length, 4, 'one replacement per recycled worker');
  assert.equal(pool.workers.length, 2);
  assert.equal(pool.supervisor.children.length, 2, 'the supervisor holds no extra child');
  assert.equal(pool.capacity, 2);
  assert.deepEqual(await Promise.all([0, 1, 2, 3].map(() => pit.execute('ping', {}, { pool: 'r' }))), ['pong', 'pong', 'pong', 'pong']);
  await pit.stop();
});

test('an automatic recycle (max_requests) and recycleWorker(id) for the same worker are one recycle', async () => {
  const pit = await startPit({ pools: [{ name: 'r', poolSize: 1, adapter: 'sample_adapters.Calc', workerMaxRequests: 5 }] });
  const recycles = countRecycles(pit);
  const started: string[] = [];
  pit.on('worker:starting', (e) => started.push(e.workerId));
  const [before] = pit.inspect().pools[0].workers;
  // The fourth call starts the replacement (a fifth of the limit ahead); keep the worker busy meanwhile.
  for (let i = 0; i < 3; i++) await pit.execute('ping', {}, { pool: 'r' });
  const held = pit.execute('sleep', { seconds: 1 }, { pool: 'r' });
  await waitFor(() => started.length === 1, 5000, 'the automatic recycle to start a replacement');
  await pit.recycleWorker(before.id);
  await held;
  assert.deepEqual(started, ['r-2'], 'one replacement');
  assert.deepEqual(recycles, ['max_requests'], 'the manual request joined the automatic one');
  const workers = pit.inspect().pools[0].workers;
  assert.equal(workers.length, 1);
  assert.notEqual(workers[0].id, before.id);
  assert.ok(!isAlive(before.pid!));
  await pit.stop();
});

test('recycleWorker rejects at once, coded: unknown or stopped worker, not a string, before start, after stop', async () => {
  const unstarted = createPit({ pools: [{ name: 'r', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  assert.equal((await errorOf(unstarted.recycleWorker('r-1'))).code, 'INVALID_STATE');
  const pit = await startPit({ pools: [{ name: 'r', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const [worker] = pit.inspect().pools[0].workers;
  assert.equal((await errorOf(pit.recycleWorker('r-99'))).code, 'INVALID_ARGUMENT');
  assert.equal((await errorOf(pit.recycleWorker(42 as unknown as string))).code, 'INVALID_ARGUMENT');
  await pit.recycleWorker(worker.id);
  const stopped = await errorOf(pit.recycleWorker(worker.id));
  assert.equal(stopped.code, 'INVALID_ARGUMENT');
  assert.match(stopped.message, /inspect\(\)/);
  await pit.stop();
  assert.equal((await errorOf(pit.recycleWorker(pit.inspect().pools[0].workers[0]?.id ?? 'r-2'))).code, 'SHUTTING_DOWN');
});

test('recycling a replacement that is still starting waits for it to be ready, then replaces it once', async () => {
  const pit = await startPit({
    pools: [{ name: 'r', poolSize: 1, adapter: 'fault_adapters.Blockable', adapterEnv: { BOOT_DELAY_S: '0.5' } }],
  });
  const recycles = countRecycles(pit);
  const [original] = pit.inspect().pools[0].workers;
  const stopWatching = watchPoolSize(pit, 3);
  let second: Promise<void> | undefined;
  pit.once('worker:starting', (e) => (second = pit.recycleWorker(e.workerId)));
  const first = pit.recycleWorker(original.id);
  await first;
  assert.ok(second, 'recycleWorker was called on the starting replacement');
  await second;
  stopWatching();
  assert.deepEqual(recycles, ['manual', 'manual']);
  const workers = pit.inspect().pools[0].workers;
  assert.deepEqual(workers.map((w) => w.id), ['r-3']);
  await waitFor(() => pit.inspect().pools[0].workers[0].state === 'ready', 5000, 'the last replacement to be ready');
  assert.equal(await pit.execute('ping', {}, { pool: 'r' }), 'pong');
  await pit.stop();
});

test('a worker killed while it drains after being replaced is not restarted; its recycle completes', async () => {
  const pit = await startPit({ pools: [{ name: 'r', poolSize: 1, adapter: 'sample_adapters.Calc', restart: { backoffMs: 0 } }] });
  const [old] = pit.inspect().pools[0].workers;
  const marker = startMarker();
  const held = pit.execute('sleep', { seconds: 10, started: marker.file }, { pool: 'r' });
  await marker.started();
  const recycled = pit.recycleWorker(old.id);
  await waitFor(() => pit.inspect().pools[0].workers.find((w) => w.id === old.id)?.state === 'draining', 5000, 'draining');
  process.kill(old.pid!, 'SIGKILL');
  assert.equal((await errorOf(held)).code, 'WORKER_CRASHED');
  await recycled;
  await sleep(300);
  const pool = pit.inspect().pools[0];
  assert.deepEqual(pool.workers.map((w) => [w.id, w.state]), [['r-2', 'ready']]);
  assert.equal(pool.supervisor.restartsInWindow, 0, 'a replaced worker that dies is not a restart');
  await pit.stop();
});

test('a recycle whose replacement cannot start settles with the pool error; one started during stop() settles too', async () => {
  const blocker = path.join(mkdtempSync(path.join(os.tmpdir(), 'snakepit-test-')), 'blocked');
  const pit = await startPit({
    supervisor: { intensity: 0 },
    pools: [{
      name: 'r', poolSize: 1, adapter: 'fault_adapters.Blockable', adapterEnv: { BOOT_BLOCKER: blocker },
      restart: { intensity: 1, periodMs: 10_000, backoffMs: 0 },
    }],
  });
  const [worker] = pit.inspect().pools[0].workers;
  writeFileSync(blocker, '');
  const error = await errorOf(pit.recycleWorker(worker.id));
  assert.equal(error.code, 'MAX_RESTARTS_EXCEEDED');
  assert.equal((await errorOf(pit.execute('ping', {}, { pool: 'r' }))).code, 'MAX_RESTARTS_EXCEEDED');
  assert.equal((await errorOf(pit.recycleWorker(worker.id))).code, 'MAX_RESTARTS_EXCEEDED');
  await pit.stop();

  const other = await startPit({ pools: [{ name: 's', poolSize: 1, adapter: 'fault_adapters.Blockable', adapterEnv: { BOOT_DELAY_S: '1' } }] });
  const recycling = other.recycleWorker(other.inspect().pools[0].workers[0].id);
  const outcome = recycling.then(() => 'done', (e) => e.code);
  await other.stop();
  assert.ok(['done', 'SHUTTING_DOWN'].includes(await outcome), `recycle during stop settled with ${await outcome}`);
});

/** Every worker event of a pit in the order heard, each with the time it was heard. */
function timeline(pit: Snakepit) {
  const heard: { type: string; pool: string; workerId: string; reason?: string; ms: number }[] = [];
  for (const type of ['worker:ready', 'worker:recycling', 'worker:draining', 'worker:stopped'] as const) {
    pit.on(type, (e: { pool: string; workerId: string; reason?: string }) => heard.push({ type, pool: e.pool, workerId: e.workerId, reason: e.reason, ms: performance.now() }));
  }
  return heard;
}

/**
 * For the first worker of `pool`: its one `worker:recycling` (with `reason`) is heard before its
 * replacement is ready and before it drains (which it does as that replacement is ready). Returns
 * when it was heard.
 */
function decidedFirst(heard: ReturnType<typeof timeline>, pool: string, oldId: string, reason: string): number {
  const mine = heard.filter((e) => e.pool === pool);
  const recycling = mine.filter((e) => e.type === 'worker:recycling' && e.workerId === oldId);
  assert.deepEqual(recycling.map((e) => e.reason), [reason], `${pool}: one worker:recycling for ${oldId}`);
  const at = mine.indexOf(recycling[0]);
  const replacementReady = mine.findIndex((e) => e.type === 'worker:ready' && e.workerId !== oldId);
  const draining = mine.findIndex((e) => e.type === 'worker:draining' && e.workerId === oldId);
  const order = mine.map((e) => `${e.type} ${e.workerId}`).join(', ');
  assert.ok(replacementReady > at, `${pool}: worker:recycling before the replacement is ready (${order})`);
  assert.ok(draining > at, `${pool}: worker:recycling before the old worker drains (${order})`);
  return recycling[0].ms;
}

test('worker:recycling comes at the decision, before the replacement is ready: ttl, max_requests, memory, manual', async () => {
  const ttlMs = 1500;
  const pit = createPit({
    pools: [
      { name: 'ttl', poolSize: 1, adapter: 'sample_adapters.Calc', workerTtlMs: ttlMs },
      { name: 'calls', poolSize: 1, adapter: 'sample_adapters.Calc', workerMaxRequests: 3 },
      { name: 'memory', poolSize: 1, adapter: 'sample_adapters.Calc', workerMaxMemoryMb: 150 },
      { name: 'hand', poolSize: 1, adapter: 'sample_adapters.Calc' },
    ],
  });
  const heard = timeline(pit);
  await pit.start();
  const first = Object.fromEntries(pit.inspect().pools.map((p) => [p.name, p.workers[0].id]));
  const readyMs = heard.find((e) => e.type === 'worker:ready' && e.workerId === first.ttl)!.ms;
  for (let i = 0; i < 3; i++) await pit.execute('ping', {}, { pool: 'calls' });
  await pit.execute('grow', { mb: 200 }, { pool: 'memory' });
  await pit.recycleWorker(first.hand);
  const stopped = (pool: string) => heard.some((e) => e.type === 'worker:stopped' && e.workerId === first[pool]);
  await waitFor(() => ['ttl', 'calls', 'memory'].every(stopped), 20_000, 'the first worker of each pool to be retired');
  const ttlAt = decidedFirst(heard, 'ttl', first.ttl, 'ttl');
  decidedFirst(heard, 'calls', first.calls, 'max_requests');
  decidedFirst(heard, 'memory', first.memory, 'memory');
  decidedFirst(heard, 'hand', first.hand, 'manual');
  const afterReady = ttlAt - readyMs;
  assert.ok(afterReady >= ttlMs - 50 && afterReady < ttlMs + 5000, `the ttl recycle was announced ${afterReady.toFixed(0)} ms after its worker was ready`);
  await pit.stop();
});

test('worker:recycling for a stuck call comes as cancelGraceMs runs out, before the replacement is ready', async (t) => {
  const graceMs = 1000;
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, cancelGraceMs: graceMs, adapter: 'context_adapters.Contextual' }] });
  const heard = timeline(pit);
  const [old] = pit.inspect().pools[0].workers;
  const calledMs = performance.now();
  assert.equal((await errorOf(pit.execute('stubborn', { seconds: 30 }, { timeoutMs: 200 }))).code, 'TIMEOUT');
  await waitFor(() => heard.some((e) => e.type === 'worker:stopped' && e.workerId === old.id), 20_000, 'the stuck worker to be retired');
  const decidedMs = decidedFirst(heard, 'p', old.id, 'stuck_call') - calledMs;
  const replacementReadyMs = heard.find((e) => e.type === 'worker:ready' && e.workerId !== old.id)!.ms - calledMs;
  t.diagnostic(`call started at 0, timed out at 200 ms; worker:recycling at ${decidedMs.toFixed(0)} ms, replacement ready at ${replacementReadyMs.toFixed(0)} ms`);
  // Deadline 200 ms + grace 1000 ms: the decision comes then, give or take a busy machine.
  assert.ok(decidedMs >= 200 + graceMs - 50 && decidedMs < 200 + graceMs + 3000, `worker:recycling at ${decidedMs.toFixed(0)} ms`);
  await pit.stop();
});
