// The pool as a supervisor, on a simulated clock with fake workers: which children each OTP
// strategy and restart type brings back, how the intensity window counts, backoff, and a
// heartbeat loss as a counted crash. No process runs; time moves only by the clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RestartStrategy, RestartType } from '../machines/restartPolicy.js';
import { EXIT_0, EXIT_1, type Exit, SIGKILLED, World, poolInput, readyPool } from './machineHarness.js';
import { checkNoLeaks } from './helpers.js';

checkNoLeaks();

const EXITS: [string, Exit][] = [['exit code 1', EXIT_1], ['exit code 0', EXIT_0], ['SIGKILL', SIGKILLED]];

// Written out rather than computed, so the machine is checked against OTP's table, not against itself.
const GROUP: Record<RestartStrategy, string[]> = {
  one_for_one: ['p-2'],
  one_for_all: ['p-1', 'p-2', 'p-3'],
  rest_for_one: ['p-2', 'p-3'],
};
const RESTARTS_AFTER: Record<RestartType, Record<string, boolean>> = {
  permanent: { 'exit code 1': true, 'exit code 0': true, SIGKILL: true },
  transient: { 'exit code 1': true, 'exit code 0': false, SIGKILL: true },
  temporary: { 'exit code 1': false, 'exit code 0': false, SIGKILL: false },
};

for (const strategy of ['one_for_one', 'one_for_all', 'rest_for_one'] as const) {
  for (const type of ['permanent', 'transient', 'temporary'] as const) {
    test(`${strategy} × ${type}: the middle of three workers exits with code 1, with code 0, by SIGKILL`, async () => {
      for (const [name, exit] of EXITS) {
        const pool = await readyPool(poolInput({ restart: { strategy, type } }));
        const { world } = pool;
        const mark = world.mark();
        await world.exit('p-2', exit);
        const restarts = RESTARTS_AFTER[type][name];
        const expected = restarts ? GROUP[strategy] : [];
        assert.deepEqual(world.bootedSince(mark), expected, `${name}: the children started again`);
        assert.equal(pool.context().restartWindow.length, restarts ? 1 : 0, `${name}: restarts counted toward intensity`);
        // Live siblings in the group are ended (retire reason `restart`) before they start again.
        const siblings = expected.filter((id) => id !== 'p-2');
        assert.deepEqual(world.since(mark, 'retires').map((r) => `${r.id}:${r.reason}`).sort(), siblings.map((id) => `${id}:restart`), name);
        for (const untouched of ['p-1', 'p-3'].filter((id) => !expected.includes(id))) {
          assert.deepEqual(world.statesOf(untouched, mark), [], `${name}: ${untouched} is left alone`);
        }
        await world.bootAll();
        assert.equal(pool.state(), 'ready', name);
        assert.deepEqual(pool.ids(), restarts ? ['p-1', 'p-2', 'p-3'] : ['p-1', 'p-3'], `${name}: a child not restarted is let go`);
        for (const id of pool.ids()) assert.deepEqual(pool.workerState(id), '{"alive":"ready"}', `${name}: ${id}`);
        assert.deepEqual(pool.reports.map((r) => r.type), ['POOL_READY'], `${name}: nothing escalates`);
        pool.stop();
      }
    });
  }
}

test('intensity 0: temporary exits and transient normal exits are never counted; one abnormal transient exit escalates', async () => {
  const temporary = await readyPool(poolInput({ restart: { type: 'temporary', intensity: 0 } }));
  await temporary.world.exit('p-1', EXIT_1);
  await temporary.world.exit('p-2', SIGKILLED);
  await temporary.world.exit('p-3', EXIT_0);
  assert.equal(temporary.state(), 'ready');
  assert.deepEqual(temporary.ids(), []);
  assert.deepEqual(temporary.context().restartWindow, []);
  assert.deepEqual(temporary.reports.map((r) => r.type), ['POOL_READY']);
  temporary.stop();

  const transient = await readyPool(poolInput({ restart: { type: 'transient', intensity: 0 } }));
  await transient.world.exit('p-1', EXIT_0);
  assert.equal(transient.state(), 'ready', 'a normal exit is not a restart');
  assert.deepEqual(transient.context().restartWindow, []);
  await transient.world.exit('p-2', EXIT_1);
  assert.deepEqual(transient.reports.map((r) => r.type), ['POOL_READY', 'POOL_FAILED']);
  assert.equal(transient.state(), 'down');
  transient.stop();
});

/** Intensity 3 in 10 000 ms, with p-1 crashed and restarted at 0, 1000 and 2000. */
async function threeRestartsInTenSeconds() {
  const pool = await readyPool(poolInput({ poolSize: 2, restart: { intensity: 3, periodMs: 10_000 } }));
  for (const at of [0, 1000, 2000]) {
    await pool.world.advance(at - pool.world.now());
    await pool.world.exit('p-1', EXIT_1);
    await pool.world.bootAll();
  }
  return pool;
}

test('exactly `intensity` restarts within periodMs survive; one more, 1 ms before the first leaves the window, escalates', async () => {
  const pool = await threeRestartsInTenSeconds();
  const { world } = pool;
  assert.equal(pool.state(), 'ready', 'three restarts in the window are allowed');
  assert.equal(pool.context().restartWindow.length, 3);
  assert.equal(pool.workerContext('p-1').restarts, 3);

  await world.advance(9_999 - world.now());
  const mark = world.mark();
  await world.exit('p-1', EXIT_1);
  assert.deepEqual(pool.reports.map((r) => ({ type: r.type, at: r.at })), [{ type: 'POOL_READY', at: 0 }, { type: 'POOL_FAILED', at: 9_999 }]);
  assert.deepEqual((pool.reports[1] as any).failure, { reason: 'max_restarts' });
  assert.deepEqual(world.bootedSince(mark), [], 'the fourth crash is not restarted');
  // The pool gives up: its other children are killed, then it waits for its parent.
  assert.deepEqual(world.since(mark, 'retires').map((r) => `${r.id}:${r.reason}`), ['p-2:pool_failed']);
  assert.deepEqual(pool.ids(), []);
  assert.equal(pool.state(), 'down');
  pool.stop();
});

test('at exactly periodMs after the first restart the window has moved on: the fourth restart survives', async () => {
  const pool = await threeRestartsInTenSeconds();
  const { world } = pool;
  await world.advance(10_000 - world.now());
  assert.equal(pool.context().restartWindow.length, 2, 'the restart at 0 left the window at 10 000');
  await world.exit('p-1', EXIT_1);
  await world.bootAll();
  assert.equal(pool.state(), 'ready');
  assert.equal(pool.context().restartWindow.length, 3);
  assert.deepEqual(pool.reports.map((r) => r.type), ['POOL_READY']);
  pool.stop();
});

test('crashes spread wider than the window allows survive indefinitely; the same crashes closer together escalate', async () => {
  // intensity 2 in 1000 ms: one crash every 600 ms keeps at most two restarts in any window.
  const spread = await readyPool(poolInput({ poolSize: 1, restart: { intensity: 2, periodMs: 1000 } }));
  for (let i = 0; i < 20; i++) {
    await spread.world.exit('p-1', SIGKILLED);
    await spread.world.bootAll();
    await spread.world.advance(600);
  }
  assert.equal(spread.state(), 'ready');
  assert.equal(spread.workerContext('p-1').restarts, 20);
  assert.deepEqual(spread.reports.map((r) => r.type), ['POOL_READY']);
  spread.stop();

  // Every 400 ms: the third crash (at 800) finds two restarts in the window.
  const close = await readyPool(poolInput({ poolSize: 1, restart: { intensity: 2, periodMs: 1000 } }));
  for (let i = 0; i < 3; i++) {
    await close.world.exit('p-1', SIGKILLED);
    await close.world.bootAll();
    if (i < 2) await close.world.advance(400);
  }
  assert.deepEqual(close.reports.map((r) => ({ type: r.type, at: r.at })), [{ type: 'POOL_READY', at: 0 }, { type: 'POOL_FAILED', at: 800 }]);
  close.stop();
});

test('intensity 0 escalates at the first crash', async () => {
  const pool = await readyPool(poolInput({ restart: { intensity: 0 } }));
  const mark = pool.world.mark();
  await pool.world.exit('p-3', SIGKILLED);
  assert.deepEqual(pool.reports.map((r) => r.type), ['POOL_READY', 'POOL_FAILED']);
  assert.deepEqual(pool.world.bootedSince(mark), []);
  // Reverse start order, as OTP shuts a supervisor's children down.
  assert.deepEqual(pool.world.since(mark, 'retires').map((r) => r.id), ['p-2', 'p-1']);
  assert.equal(pool.state(), 'down');
  pool.stop();
});

test('a restarted worker whose boot keeps failing counts each failure and escalates past the intensity', async () => {
  const pool = await readyPool(poolInput({ poolSize: 2, restart: { intensity: 2, periodMs: 60_000 } }));
  const { world } = pool;
  await world.exit('p-1', EXIT_1);
  await world.bootFails('p-1', 'ImportError: no module named torch');
  assert.equal(pool.state(), 'ready');
  assert.deepEqual(pool.world.pending(), ['p-1'], 'second restart under way');
  await world.bootFails('p-1', 'ImportError: no module named torch');
  assert.deepEqual(pool.reports.map((r) => r.type), ['POOL_READY', 'POOL_FAILED']);
  assert.deepEqual((pool.reports[1] as any).failure, { reason: 'max_restarts' });
  assert.deepEqual(world.pending(), []);
  pool.stop();
});

test('backoff: the crashed child starts again only after backoffMs; one_for_all siblings restart at once', async () => {
  const pool = await readyPool(poolInput({ restart: { strategy: 'one_for_all', backoffMs: 2000 } }));
  const { world } = pool;
  const mark = world.mark();
  await world.exit('p-2', EXIT_1);
  assert.deepEqual(world.bootedSince(mark), ['p-1', 'p-3'], 'live siblings start again with no delay');
  assert.ok(world.since(mark, 'boots').every((b) => b.at === 0));
  await world.bootOk('p-1', 'p-3');
  await world.advance(1999);
  assert.equal(pool.workerState('p-2'), '"crashed"', 'still waiting out its backoff');
  assert.deepEqual(world.pending(), []);
  await world.advance(1);
  assert.deepEqual(world.since(mark, 'boots').map((b) => `${b.id}@${b.at}`).sort(), ['p-1@0', 'p-2@2000', 'p-3@0']);
  await world.bootAll();
  assert.equal(pool.state(), 'ready');
  assert.deepEqual(pool.ids().map((id) => pool.workerState(id)), Array(3).fill('{"alive":"ready"}'));
  pool.stop();
});

test('backoff with one_for_one: only the crashed child waits, and it counts once', async () => {
  const pool = await readyPool(poolInput({ restart: { backoffMs: 5000 } }));
  const { world } = pool;
  const mark = world.mark();
  await world.exit('p-1', SIGKILLED);
  await world.advance(4999);
  assert.deepEqual(world.bootedSince(mark), []);
  await world.advance(1);
  assert.deepEqual(world.since(mark, 'boots').map((b) => `${b.id}@${b.at}`), ['p-1@5000']);
  assert.equal(pool.context().restartWindow.length, 1);
  pool.stop();
});

test('a child restarted early by a sibling’s group restart is not restarted again when its own backoff ends', async () => {
  const pool = await readyPool(poolInput({ restart: { strategy: 'one_for_all', backoffMs: 2000 } }));
  const { world } = pool;
  await world.exit('p-2', EXIT_1); // p-2 waits until 2000; p-1 and p-3 restart now
  await world.bootOk('p-1', 'p-3');
  await world.advance(500);
  await world.exit('p-1', EXIT_1); // the group restarts again: p-2 now, p-1 at 2500
  await world.bootOk('p-2', 'p-3');
  assert.equal(pool.workerState('p-2'), '{"alive":"ready"}');
  const mark = world.mark();
  await world.advance(1500); // t = 2000, when p-2's first backoff ends
  assert.deepEqual(world.statesOf('p-2', mark), [], 'p-2 is serving and is left alone');
  await world.advance(500);
  assert.deepEqual(world.bootedSince(mark), ['p-1'], 'only p-1 ends its backoff');
  pool.stop();
});

test('heartbeat loss: the worker is killed, and the exit that follows is a crash with reason heartbeat, counted toward intensity', async () => {
  const pool = await readyPool(poolInput({ poolSize: 2, restart: { intensity: 1, periodMs: 60_000 } }));
  const { world } = pool;
  await world.loseHeartbeat('p-1', 3);
  assert.deepEqual(world.kills.map((k) => k.id), ['p-1'], 'the kill action ran');
  assert.equal(pool.workerState('p-1'), '{"alive":"ready"}', 'down only once its exit arrives');
  assert.deepEqual(pool.context().restartWindow, [], 'not counted before the exit');

  const mark = world.mark();
  await world.exit('p-1', SIGKILLED);
  const crash = world.since(mark, 'states').find((s) => s.id === 'p-1' && s.state === 'crashed');
  assert.equal(crash?.crashReason, 'heartbeat');
  assert.equal(pool.context().restartWindow.length, 1, 'counted');
  assert.deepEqual(world.bootedSince(mark), ['p-1'], 'restarted');
  await world.bootAll();
  assert.equal(pool.workerContext('p-1').crashReason, undefined, 'a fresh start forgets the last crash');

  await world.loseHeartbeat('p-1', 3);
  await world.exit('p-1', SIGKILLED);
  assert.deepEqual(pool.reports.map((r) => r.type), ['POOL_READY', 'POOL_FAILED'], 'the second loss exceeds intensity 1');
  assert.deepEqual((pool.reports[1] as any).failure, { reason: 'max_restarts' });
  pool.stop();
});

test('the simulated clock alone drives the pool: a run of minutes of restarts needs no real time', async () => {
  const world = new World();
  const pool = await readyPool(poolInput({ poolSize: 2, restart: { intensity: 5, periodMs: 60_000, backoffMs: 1000 } }), world);
  for (let i = 0; i < 30; i++) {
    await world.exit(i % 2 === 0 ? 'p-1' : 'p-2', EXIT_1);
    await world.advance(1000);
    await world.bootAll();
    await world.advance(19_000);
  }
  assert.equal(world.now(), 30 * 20_000);
  assert.equal(pool.state(), 'ready');
  assert.equal(pool.workerContext('p-1').restarts + pool.workerContext('p-2').restarts, 30);
  pool.stop();
});

test('a pool stopping does not start a crashed child again when its backoff ends during the stop', async () => {
  const pool = await readyPool(poolInput({ poolSize: 2, restart: { backoffMs: 5000 } }));
  const { world } = pool;
  await world.exit('p-1', EXIT_1); // p-1 waits out its backoff until 5000
  pool.world.calls('p-2', 1);
  await world.advance(100);
  pool.send({ type: 'STOP' }); // p-2, last started, drains first; p-1 waits its turn
  const mark = world.mark();
  await world.advance(10_000);
  assert.deepEqual(world.bootedSince(mark), [], 'no worker starts while the pool stops');
  pool.world.calls('p-2', 0);
  await world.settle();
  assert.equal(pool.state(), 'stopped');
  assert.deepEqual(pool.reports.map((r) => r.type), ['POOL_READY', 'POOL_STOPPED']);
  pool.stop();
});
