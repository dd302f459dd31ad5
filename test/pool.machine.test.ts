// The pool statechart alone, on a simulated clock with fake workers whose boots the test
// completes by hand: recycling is idempotent, it waits for the pool and for replacements still
// starting, and a replaced worker on its way out is never restarted or counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { PoolInput } from '../machines/pool.machine.js';
import { SIGKILLED, poolInput, readyPool, startPool } from './machineHarness.js';
import { checkNoLeaks } from './helpers.js';

checkNoLeaks();

const twoWorkers = (restart: Partial<PoolInput['restart']> = {}) => poolInput({ poolSize: 2, restart });

test('RECYCLE asked three times for one worker starts one replacement, and retires the worker once it is ready', async () => {
  const pool = await readyPool(twoWorkers());
  for (let i = 0; i < 3; i++) pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await pool.world.settle();
  assert.deepEqual(pool.world.pending(), ['p-3'], 'one replacement');
  await pool.world.bootOk('p-3');
  assert.deepEqual(pool.ids(), ['p-2', 'p-3'], 'the replaced worker drained and stopped');
  pool.stop();
});

test('RECYCLE of a worker that is already draining is ignored: no extra worker', async () => {
  const pool = await readyPool(twoWorkers());
  pool.world.calls('p-1', 1); // a call in flight keeps it draining
  pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await pool.world.settle();
  await pool.world.bootOk('p-3');
  assert.equal(pool.workerState('p-1'), '{"alive":"draining"}');
  for (let i = 0; i < 4; i++) pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'ttl' });
  await pool.world.settle();
  assert.deepEqual(pool.world.pending(), [], 'no replacement for a draining worker');
  assert.deepEqual(pool.ids(), ['p-1', 'p-2', 'p-3']);
  pool.world.calls('p-1', 0);
  await pool.world.settle();
  assert.deepEqual(pool.ids(), ['p-2', 'p-3']);
  pool.stop();
});

test('RECYCLE of a replacement still starting waits until it is ready, then replaces it', async () => {
  const pool = await readyPool(twoWorkers());
  pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await pool.world.settle();
  pool.send({ type: 'RECYCLE', id: 'p-3', reason: 'manual' });
  pool.send({ type: 'RECYCLE', id: 'p-3', reason: 'manual' });
  await pool.world.settle();
  assert.deepEqual(pool.world.pending(), ['p-3'], 'nothing more starts while p-3 boots');
  await pool.world.bootOk('p-3');
  assert.deepEqual(pool.world.pending(), ['p-4'], 'p-3 is replaced once ready');
  assert.ok(pool.ids().length <= 3);
  await pool.world.bootOk('p-4');
  assert.deepEqual(pool.ids(), ['p-2', 'p-4']);
  assert.equal(pool.overshoot(), 0);
  pool.stop();
});

test('RECYCLE while the pool starts is kept until the pool is ready', async () => {
  const pool = await startPool(twoWorkers());
  await pool.world.bootOk('p-1');
  pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'ttl' });
  await pool.world.settle();
  assert.deepEqual(pool.world.pending(), ['p-2']);
  await pool.world.bootOk('p-2');
  assert.equal(pool.state(), 'ready');
  assert.deepEqual(pool.world.pending(), ['p-3'], 'the deferred recycle ran');
  await pool.world.bootOk('p-3');
  assert.deepEqual(pool.ids(), ['p-2', 'p-3']);
  pool.stop();
});

test('a replaced worker that crashes while draining is not restarted and does not count as a restart', async () => {
  const pool = await readyPool(twoWorkers());
  pool.world.calls('p-1', 1);
  pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await pool.world.settle();
  await pool.world.bootOk('p-3');
  await pool.world.exit('p-1', SIGKILLED);
  assert.deepEqual(pool.world.pending(), [], 'no restart');
  assert.deepEqual(pool.ids(), ['p-2', 'p-3']);
  assert.deepEqual(pool.context().restartWindow, []);
  pool.stop();
});

test('one_for_all leaves a draining replaced worker out of the group restart', async () => {
  const pool = await readyPool(twoWorkers({ strategy: 'one_for_all' }));
  pool.world.calls('p-1', 1);
  pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await pool.world.settle();
  await pool.world.bootOk('p-3');
  await pool.world.exit('p-2', SIGKILLED);
  assert.deepEqual(pool.world.pending().sort(), ['p-2', 'p-3'], 'the group restarts, the draining worker is not part of it');
  assert.equal(pool.workerState('p-1'), '{"alive":"draining"}');
  pool.stop();
});

test('a replacement that boots while the worker it replaces is restarting still retires it', async () => {
  const pool = await readyPool(twoWorkers());
  pool.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await pool.world.settle();
  await pool.world.exit('p-1', SIGKILLED); // restarted: p-1 boots again
  assert.deepEqual(pool.world.pending().sort(), ['p-1', 'p-3']);
  await pool.world.bootOk('p-3');
  assert.equal(pool.workerState('p-1'), 'gone', 'DRAIN ends a worker that is still starting');
  assert.deepEqual(pool.ids(), ['p-2', 'p-3']);
  pool.stop();
});

/** A full collection, so heap figures compare live objects only. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

test('retired workers leave the actor tree: after 1,000 recycles the pool holds only its live workers and the heap stays flat', async () => {
  const pool = await readyPool(twoWorkers());
  const recycle = async () => {
    pool.send({ type: 'RECYCLE', id: pool.ids()[0], reason: 'manual' });
    await pool.world.settle();
    await pool.world.bootOk(...pool.world.pending());
  };
  for (let i = 0; i < 100; i++) await recycle();
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1000; i++) await recycle();
  collectGarbage();
  const grownMb = (process.memoryUsage().heapUsed - before) / 2 ** 20;
  assert.equal(pool.ids().length, 2);
  assert.deepEqual(pool.children().sort(), pool.ids().map((id) => `worker:${id}`).sort(), 'only live workers are children');
  console.log(`1,000 recycles: heap grew ${grownMb.toFixed(2)} MB`);
  assert.ok(grownMb < 2, `heap grew ${grownMb.toFixed(2)} MB over 1,000 recycles`);
  pool.stop();
});
