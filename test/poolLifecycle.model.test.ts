// The pool's own lifecycle on a simulated clock with fake workers: start-up batches, the
// start-up deadline, and recycling — the replacement is started first and the old worker
// serves until it is ready, then drains and retires. No process runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EXIT_1, SIGKILLED, poolInput, readyPool, startPool } from './machineHarness.js';
import { checkNoLeaks } from './helpers.js';

checkNoLeaks();

test('batches: poolSize 5 in batches of 2 every 500 ms spawns 2, then 2 at 500, then 1 at 1000; ready only when all are', async () => {
  const pool = await startPool(poolInput({ poolSize: 5, startupBatchSize: 2, startupBatchDelayMs: 500 }));
  const { world } = pool;
  const spawnedAt = () => world.boots.map((b) => `${b.id}@${b.at}`);
  assert.deepEqual(spawnedAt(), ['p-1@0', 'p-2@0']);
  await world.bootOk('p-1', 'p-2'); // early readiness does not hurry the next batch
  await world.advance(499);
  assert.equal(world.boots.length, 2);
  await world.advance(1);
  assert.deepEqual(spawnedAt(), ['p-1@0', 'p-2@0', 'p-3@500', 'p-4@500']);
  await world.advance(499);
  assert.equal(world.boots.length, 4);
  await world.advance(1);
  assert.deepEqual(spawnedAt(), ['p-1@0', 'p-2@0', 'p-3@500', 'p-4@500', 'p-5@1000']);
  await world.advance(10_000);
  assert.equal(world.boots.length, 5, 'no sixth worker');
  assert.deepEqual(world.poolLog.filter((l) => l.what === 'batch').map((l) => l.at), [0, 500, 1000]);

  await world.bootOk('p-3', 'p-4');
  assert.equal(pool.state(), 'starting', 'four of five ready is not ready');
  assert.equal(pool.reports.length, 0, 'no report yet');
  await world.bootOk('p-5');
  assert.equal(pool.state(), 'ready');
  assert.deepEqual(pool.reports.map((r) => `${r.type}@${r.at}`), ['POOL_READY@11000']);
  pool.stop();
});

test('startup timeout: the pool fails with startup_timeout exactly at startupTimeoutMs, not before', async () => {
  const pool = await startPool(poolInput({ poolSize: 3, startupTimeoutMs: 3000 }));
  const { world } = pool;
  await world.bootOk('p-1', 'p-2');
  await world.advance(2999);
  assert.equal(pool.state(), 'starting');
  assert.equal(pool.reports.length, 0, 'no report yet');
  await world.advance(1);
  assert.deepEqual(pool.reports.map((r) => ({ type: r.type, at: r.at })), [{ type: 'POOL_FAILED', at: 3000 }]);
  assert.deepEqual((pool.reports[0] as any).failure, { reason: 'startup_timeout' });
  // Everything it started is ended: the hung boot is abandoned, the ready workers retired.
  assert.deepEqual(world.pending(), []);
  assert.deepEqual(world.retires.map((r) => `${r.id}:${r.reason}`).sort(), ['p-1:pool_failed', 'p-2:pool_failed']);
  assert.equal(pool.state(), 'down');
  pool.stop();
});

test('a pool that became ready is not failed by its start-up deadline later', async () => {
  const pool = await readyPool(poolInput({ startupTimeoutMs: 3000 }));
  await pool.world.advance(30_000);
  assert.equal(pool.state(), 'ready');
  assert.deepEqual(pool.reports.map((r) => r.type), ['POOL_READY']);
  pool.stop();
});

test('a boot failure during start fails the pool with startup_failed, naming the worker and the message', async () => {
  const pool = await startPool(poolInput({ poolSize: 3 }));
  const { world } = pool;
  await world.bootOk('p-1');
  await world.bootFails('p-2', "ModuleNotFoundError: No module named 'numpy'");
  assert.deepEqual(pool.reports.map((r) => r.type), ['POOL_FAILED']);
  assert.deepEqual((pool.reports[0] as any).failure, {
    reason: 'startup_failed', workerId: 'p-2', message: "ModuleNotFoundError: No module named 'numpy'",
  });
  assert.deepEqual(world.pending(), [], 'p-3 is abandoned');
  assert.equal(world.boots.length, 3, 'nothing is restarted during start');
  assert.equal(pool.state(), 'down');
  pool.stop();
});

test('a worker that dies after booting but before the pool is ready fails the start, described by its exit', async () => {
  for (const [exit, message] of [[EXIT_1, 'exit code 1'], [SIGKILLED, 'killed by SIGKILL']] as const) {
    const pool = await startPool(poolInput({ poolSize: 2 }));
    await pool.world.bootOk('p-1');
    await pool.world.exit('p-1', exit);
    assert.deepEqual((pool.reports[0] as any).failure, { reason: 'startup_failed', workerId: 'p-1', message });
    pool.stop();
  }
});

test('recycle-before-retire: the old worker serves until its replacement is ready, then drains and retires', async () => {
  const pool = await readyPool(poolInput());
  const { world } = pool;
  const mark = world.mark();
  pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'ttl' });
  await world.settle();
  assert.deepEqual(world.pending(), ['p-4'], 'the replacement starts first');
  assert.deepEqual(world.since(mark, 'poolLog').map((l) => `${l.what}:${l.workerId}`), ['recycle:p-1']);
  await world.advance(60_000);
  assert.equal(pool.workerState('p-1'), '{"alive":"ready"}', 'still serving while the replacement boots');
  assert.equal(world.retires.length, 0, 'nothing retired yet');
  await world.bootOk('p-4');
  assert.deepEqual(world.statesOf('p-1', mark), ['draining', 'recycling', 'stopped']);
  assert.deepEqual(world.retires.map((r) => `${r.id}:${r.reason}`), ['p-1:ttl']);
  assert.deepEqual(pool.ids(), ['p-2', 'p-3', 'p-4']);
  assert.equal(pool.state(), 'ready');
  assert.equal(pool.overshoot(), 0);
  pool.stop();
});

test('a call in flight keeps the replaced worker draining until LOAD reports none', async () => {
  const pool = await readyPool(poolInput());
  const { world } = pool;
  pool.world.calls('p-1', 1);
  pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'max_requests' });
  await world.settle();
  await world.bootOk('p-4');
  await world.advance(120_000);
  assert.equal(pool.workerState('p-1'), '{"alive":"draining"}');
  assert.equal(world.retires.length, 0, 'not retired with a call in flight');
  pool.world.calls('p-1', 0);
  await world.settle();
  assert.deepEqual(world.retires.map((r) => `${r.id}:${r.reason}`), ['p-1:max_requests']);
  assert.deepEqual(pool.ids(), ['p-2', 'p-3', 'p-4']);
  pool.stop();
});

test('RECYCLE repeated — before, during and after the replacement boots — makes one replacement', async () => {
  const pool = await readyPool(poolInput());
  const { world } = pool;
  pool.world.calls('p-1', 1);
  for (let i = 0; i < 5; i++) pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await world.settle();
  assert.deepEqual(world.pending(), ['p-4']);
  await world.bootOk('p-4');
  for (let i = 0; i < 5; i++) pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'memory' });
  await world.settle();
  assert.deepEqual(world.pending(), [], 'a draining worker is already on its way out');
  pool.world.calls('p-1', 0);
  await world.settle();
  assert.equal(world.boots.length, 4, 'three first workers and one replacement');
  assert.deepEqual(world.retires.map((r) => `${r.id}:${r.reason}`), ['p-1:manual']);
  assert.equal(world.poolLog.filter((l) => l.what === 'recycle').length, 1);
  pool.stop();
});

test('a temporary replacement that fails to start is not restarted, and the old worker still retires', async () => {
  const pool = await readyPool(poolInput({ restart: { type: 'temporary' } }));
  const { world } = pool;
  pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await world.settle();
  await world.bootFails('p-4', 'address already in use');
  assert.deepEqual(world.pending(), []);
  assert.deepEqual(world.retires.map((r) => `${r.id}:${r.reason}`), ['p-1:manual'], 'the recycle completes');
  assert.deepEqual(pool.ids(), ['p-2', 'p-3']);
  assert.equal(pool.state(), 'ready');
  assert.deepEqual(pool.context().replacing, {});
  assert.deepEqual(pool.context().restartWindow, []);
  pool.stop();
});

test('a transient replacement that fails to start is restarted (counted); the old worker serves until it is ready, then retires', async () => {
  const pool = await readyPool(poolInput({ restart: { type: 'transient' } }));
  const { world } = pool;
  pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await world.settle();
  await world.bootFails('p-4', 'address already in use');
  assert.equal(pool.context().restartWindow.length, 1, 'a failed start is an abnormal end');
  assert.deepEqual(world.pending(), ['p-4']);
  assert.equal(pool.workerState('p-1'), '{"alive":"ready"}');
  await world.bootOk('p-4');
  assert.deepEqual(world.retires.map((r) => `${r.id}:${r.reason}`), ['p-1:manual']);
  assert.deepEqual(pool.ids(), ['p-2', 'p-3', 'p-4']);
  pool.stop();
});

test('recycling every worker over and over never holds more than poolSize plus the replacements under way', async () => {
  const pool = await readyPool(poolInput({ poolSize: 3 }));
  const { world } = pool;
  let most = 0;
  for (let round = 0; round < 10; round++) {
    for (const id of pool.ids()) {
      pool.send({ type: 'RECYCLE', id, reason: 'manual' });
      pool.send({ type: 'RECYCLE', id, reason: 'ttl' });
    }
    // Replacements of replacements still booting wait until those are ready.
    for (const id of world.pending()) pool.send({ type: 'RECYCLE', id, reason: 'memory' });
    await world.settle();
    most = Math.max(most, pool.ids().length);
    await world.bootOk(world.pending()[0]);
    most = Math.max(most, pool.ids().length);
    await world.bootAll();
    await world.advance(1000);
  }
  assert.equal(pool.overshoot(), 0, 'never over poolSize + replacements under way');
  assert.ok(most <= 6, `at most every worker plus one replacement each (saw ${most})`);
  assert.equal(pool.ids().length, 3);
  assert.ok(pool.ids().every((id) => pool.workerState(id) === '{"alive":"ready"}'));
  assert.deepEqual(pool.context().restartWindow, [], 'recycling never counts as a restart');
  pool.stop();
});
