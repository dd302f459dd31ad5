// The pool statechart alone, with fake workers whose boots the test completes by hand: recycling
// is idempotent and a pool never holds more than poolSize workers plus the replacements under way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AnyActorRef, createActor, fromCallback, fromPromise, setup } from 'xstate';
import { type PoolContext, type PoolInput, poolMachine } from '../machines/pool.machine.js';
import { workerMachine } from '../machines/worker.machine.js';
import { checkNoLeaks } from './helpers.js';

checkNoLeaks();

function harness(restart: Partial<PoolInput['restart']> = {}) {
  const boots = new Map<string, () => void>();
  let pid = 100;
  const worker = workerMachine.provide({
    actors: {
      boot: fromPromise(({ input }) => new Promise<{ pid: number }>((resolve) => {
        boots.set(input.id, () => resolve({ pid: ++pid }));
      })),
      watchExit: fromCallback(() => undefined),
      retire: fromPromise(async () => {}),
      heartbeat: fromCallback(() => undefined),
    },
    actions: { enter: () => undefined },
  });
  const pool = poolMachine.provide({ actors: { worker }, actions: { announce: () => undefined } });
  const input: PoolInput = {
    name: 'p', poolSize: 2, workerCapacity: 1, startupBatchSize: 8, startupBatchDelayMs: 0, startupTimeoutMs: 60_000,
    restart: { strategy: 'one_for_one', intensity: 10, periodMs: 60_000, type: 'permanent', backoffMs: 0, ...restart },
  };
  // A parent to hear the pool's reports.
  const root = createActor(setup({ actors: { pool } }).createMachine({ invoke: { id: 'pool', src: 'pool', input } }));
  root.start();
  const poolRef = root.getSnapshot().children.pool as AnyActorRef;
  const context = () => poolRef.getSnapshot().context as PoolContext;
  const state = () => poolRef.getSnapshot().value as string;
  const workerState = (id: string) => {
    const child = context().workers.find((w) => w.id === id);
    return child ? JSON.stringify(child.ref.getSnapshot().value) : 'gone';
  };
  const settle = () => new Promise((resolve) => setTimeout(resolve, 5));
  const boot = async (id: string) => {
    boots.get(id)!();
    boots.delete(id);
    await settle();
  };
  // A live worker's process exits (a kill -9, as its exit watcher would report it).
  const crash = async (id: string) => {
    context().workers.find((w) => w.id === id)!.ref.send({ type: 'EXITED', exitCode: null, signal: 'SIGKILL' });
    await settle();
  };
  return { root, poolRef, context, state, workerState, boot, crash, settle, pending: () => [...boots.keys()] };
}

async function readyPool(restart?: Partial<PoolInput['restart']>) {
  const h = harness(restart);
  await h.settle();
  for (const id of h.pending()) await h.boot(id);
  assert.equal(h.state(), 'ready');
  return h;
}

test('RECYCLE asked three times for one worker starts one replacement, and retires the worker once it is ready', async () => {
  const h = await readyPool();
  for (let i = 0; i < 3; i++) h.poolRef.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await h.settle();
  assert.deepEqual(h.pending(), ['p-3'], 'one replacement');
  await h.boot('p-3');
  assert.deepEqual(h.context().workers.map((w) => w.id), ['p-2', 'p-3'], 'the replaced worker drained and stopped');
  h.root.stop();
});

test('RECYCLE of a worker that is already draining is ignored: no extra worker', async () => {
  const h = await readyPool();
  const p1 = h.context().workers[0].ref;
  p1.send({ type: 'LOAD', inFlight: 1, requests: 0 }); // a call in flight keeps it draining
  h.poolRef.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await h.settle();
  await h.boot('p-3');
  assert.equal(h.workerState('p-1'), '{"alive":"draining"}');
  for (let i = 0; i < 4; i++) h.poolRef.send({ type: 'RECYCLE', id: 'p-1', reason: 'ttl' });
  await h.settle();
  assert.deepEqual(h.pending(), [], 'no replacement for a draining worker');
  assert.deepEqual(h.context().workers.map((w) => w.id), ['p-1', 'p-2', 'p-3']);
  p1.send({ type: 'LOAD', inFlight: 0, requests: 1 });
  await h.settle();
  assert.deepEqual(h.context().workers.map((w) => w.id), ['p-2', 'p-3']);
  h.root.stop();
});

test('RECYCLE of a replacement still starting waits until it is ready, then replaces it', async () => {
  const h = await readyPool();
  h.poolRef.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await h.settle();
  h.poolRef.send({ type: 'RECYCLE', id: 'p-3', reason: 'manual' });
  h.poolRef.send({ type: 'RECYCLE', id: 'p-3', reason: 'manual' });
  await h.settle();
  assert.deepEqual(h.pending(), ['p-3'], 'nothing more starts while p-3 boots');
  await h.boot('p-3');
  assert.deepEqual(h.pending(), ['p-4'], 'p-3 is replaced once ready');
  assert.ok(h.context().workers.length <= 3);
  await h.boot('p-4');
  assert.deepEqual(h.context().workers.map((w) => w.id), ['p-2', 'p-4']);
  h.root.stop();
});

test('RECYCLE while the pool starts is kept until the pool is ready', async () => {
  const h = harness();
  await h.settle();
  await h.boot('p-1');
  h.poolRef.send({ type: 'RECYCLE', id: 'p-1', reason: 'ttl' });
  await h.settle();
  assert.deepEqual(h.pending(), ['p-2']);
  await h.boot('p-2');
  assert.equal(h.state(), 'ready');
  assert.deepEqual(h.pending(), ['p-3'], 'the deferred recycle ran');
  await h.boot('p-3');
  assert.deepEqual(h.context().workers.map((w) => w.id), ['p-2', 'p-3']);
  h.root.stop();
});

test('a replaced worker that crashes while draining is not restarted and does not count as a restart', async () => {
  const h = await readyPool();
  h.context().workers[0].ref.send({ type: 'LOAD', inFlight: 1, requests: 0 });
  h.poolRef.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await h.settle();
  await h.boot('p-3');
  await h.crash('p-1');
  assert.deepEqual(h.pending(), [], 'no restart');
  assert.deepEqual(h.context().workers.map((w) => w.id), ['p-2', 'p-3']);
  assert.deepEqual(h.context().restartWindow, []);
  h.root.stop();
});

test('one_for_all leaves a draining replaced worker out of the group restart', async () => {
  const h = await readyPool({ strategy: 'one_for_all' });
  h.context().workers[0].ref.send({ type: 'LOAD', inFlight: 1, requests: 0 });
  h.poolRef.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await h.settle();
  await h.boot('p-3');
  await h.crash('p-2');
  assert.deepEqual(h.pending().sort(), ['p-2', 'p-3'], 'the group restarts, the draining worker is not part of it');
  assert.equal(h.workerState('p-1'), '{"alive":"draining"}');
  h.root.stop();
});

test('a replacement that boots while the worker it replaces is restarting still retires it', async () => {
  const h = await readyPool();
  h.poolRef.send({ type: 'RECYCLE', id: 'p-1', reason: 'manual' });
  await h.settle();
  await h.crash('p-1'); // restarted: p-1 boots again
  assert.deepEqual(h.pending().sort(), ['p-1', 'p-3']);
  await h.boot('p-3');
  assert.equal(h.workerState('p-1'), 'gone', 'DRAIN ends a worker that is still starting');
  assert.deepEqual(h.context().workers.map((w) => w.id), ['p-2', 'p-3']);
  h.root.stop();
});
