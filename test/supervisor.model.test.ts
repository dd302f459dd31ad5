// The root over its pools, on a simulated clock with fake workers: restarting failed pools by
// the root's strategy, giving up past its intensity, a failed start, and stopping — draining
// first, killing the pools when the drain outlasts its timeout. No process runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RestartStrategy } from '../machines/restartPolicy.js';
import type { SupervisorInput } from '../machines/supervisor.machine.js';
import { EXIT_1, poolInput, startSupervisor } from './machineHarness.js';
import { checkNoLeaks } from './helpers.js';

checkNoLeaks();

/** Three one-worker pools that give up at their first crash, so one crash escalates to the root. */
function supervisorInput(supervisor: Partial<SupervisorInput['supervisor']> = {}): SupervisorInput {
  return {
    pools: ['a', 'b', 'c'].map((name) => poolInput({ name, poolSize: 1, restart: { intensity: 0 } })),
    supervisor: { strategy: 'one_for_one', intensity: 5, periodMs: 60_000, ...supervisor },
  };
}

async function servingSupervisor(supervisor?: Partial<SupervisorInput['supervisor']>) {
  const rt = await startSupervisor(supervisorInput(supervisor));
  await rt.world.bootAll();
  assert.deepEqual(rt.state(), { serving: 'running' });
  return rt;
}

const RESTARTED: Record<RestartStrategy, string[]> = {
  one_for_one: ['b'],
  one_for_all: ['a', 'b', 'c'],
  rest_for_one: ['b', 'c'],
};

for (const strategy of ['one_for_one', 'one_for_all', 'rest_for_one'] as const) {
  test(`root ${strategy}: pool b failing while serving restarts ${RESTARTED[strategy].join(', ')}`, async () => {
    const rt = await servingSupervisor({ strategy });
    const { world } = rt;
    const mark = world.mark();
    await world.exit('b-1', EXIT_1);
    // The window count includes this restart, as the pool's own `restart` milestone does.
    assert.deepEqual(world.since(mark, 'rootLog'), [{
      what: 'pool_escalated', pool: 'b', failure: { reason: 'max_restarts' }, restarting: RESTARTED[strategy], restartsInWindow: 1, at: 0,
    }]);
    assert.deepEqual(rt.milestones('starting', mark), RESTARTED[strategy], 'pools started afresh');
    // A sibling restarted with b has its live worker ended for the pool restart.
    const siblings = RESTARTED[strategy].filter((p) => p !== 'b').map((p) => `${p}-1:pool_restart`);
    assert.deepEqual(world.since(mark, 'retires').map((r) => `${r.id}:${r.reason}`).sort(), siblings);
    assert.deepEqual(world.pending().sort(), RESTARTED[strategy].map((p) => `${p}-2`));
    await world.bootAll();
    assert.deepEqual(rt.poolNames().map(rt.poolState), ['ready', 'ready', 'ready']);
    assert.deepEqual(rt.state(), { serving: 'running' });
    rt.stop();
  });
}

test('root intensity exceeded: the root gives up, every pool stops, and the output says why', async () => {
  const rt = await servingSupervisor({ intensity: 1, periodMs: 60_000 });
  const { world } = rt;
  await world.exit('b-1', EXIT_1);
  await world.bootAll();
  await world.advance(59_999);
  const mark = world.mark();
  await world.exit('b-2', EXIT_1);
  assert.deepEqual(world.since(mark, 'rootLog'), [{ what: 'escalation', pool: 'b', failure: { reason: 'max_restarts' }, at: 59_999 }]);
  assert.deepEqual(world.since(mark, 'retires').map((r) => `${r.id}:${r.reason}`).sort(), ['a-1:shutdown', 'c-1:shutdown']);
  assert.deepEqual(world.pending(), []);
  assert.equal(rt.actor.getSnapshot().status, 'done');
  assert.deepEqual(rt.actor.getSnapshot().output, { startFailure: undefined, gaveUp: { pool: 'b', failure: { reason: 'max_restarts' } } });
  assert.deepEqual(rt.poolNames(), [], 'every pool reported stopped');
});

test('root intensity: once periodMs has passed since a pool restart, the next failure is restarted again', async () => {
  const rt = await servingSupervisor({ intensity: 1, periodMs: 60_000 });
  const { world } = rt;
  await world.exit('b-1', EXIT_1);
  await world.bootAll();
  await world.advance(60_000);
  await world.exit('b-2', EXIT_1);
  assert.deepEqual(world.rootLog.map((l) => `${l.what}@${l.at}`), ['pool_escalated@0', 'pool_escalated@60000']);
  await world.bootAll();
  assert.deepEqual(rt.state(), { serving: 'running' });
  rt.stop();
});

test('a pool failing during start fails the start: the others are ended and output.startFailure names it', async () => {
  const rt = await startSupervisor(supervisorInput());
  const { world } = rt;
  await world.bootOk('a-1');
  await world.bootFails('b-1', 'SyntaxError in adapter');
  assert.equal(rt.actor.getSnapshot().status, 'done');
  assert.deepEqual(rt.actor.getSnapshot().output, {
    startFailure: { pool: 'b', failure: { reason: 'startup_failed', workerId: 'b-1', message: 'SyntaxError in adapter' } },
    gaveUp: undefined,
  });
  assert.deepEqual(world.pending(), [], 'c-1 is abandoned');
  assert.deepEqual(world.retires.map((r) => r.id), ['a-1']);
  assert.deepEqual(world.rootLog, [], 'a failed start is not a restart');
});

test('a pool timing out during start fails the start at exactly its startupTimeoutMs', async () => {
  const input = supervisorInput();
  input.pools[2] = poolInput({ name: 'c', poolSize: 1, startupTimeoutMs: 8000 });
  const rt = await startSupervisor(input);
  const { world } = rt;
  await world.bootOk('a-1', 'b-1');
  await world.advance(7999);
  assert.equal(rt.state(), 'starting');
  await world.advance(1);
  assert.equal(rt.actor.getSnapshot().status, 'done');
  assert.deepEqual(rt.actor.getSnapshot().output, { startFailure: { pool: 'c', failure: { reason: 'startup_timeout' } }, gaveUp: undefined });
});

test('STOP drains first: pools are stopped only after DRAINED, gracefully, and the root ends', async () => {
  const rt = await servingSupervisor();
  const { world } = rt;
  rt.actor.send({ type: 'STOP', timeoutMs: 5000 });
  await world.advance(3000);
  assert.deepEqual(rt.state(), { serving: 'draining' });
  assert.deepEqual(rt.poolEvents.filter((e) => e.type === 'STOP' || e.type === 'KILL'), [], 'the pools keep serving while calls finish');
  rt.actor.send({ type: 'DRAINED' });
  await world.settle();
  // Reverse start order, each one STOP, no KILL.
  assert.deepEqual(rt.poolEvents.filter((e) => e.type === 'STOP' || e.type === 'KILL').map((e) => `${e.type}:${e.pool}@${e.at}`), [
    'STOP:c@3000', 'STOP:b@3000', 'STOP:a@3000',
  ]);
  assert.deepEqual(world.retires.map((r) => `${r.id}:${r.reason}`).sort(), ['a-1:shutdown', 'b-1:shutdown', 'c-1:shutdown']);
  assert.equal(rt.actor.getSnapshot().status, 'done');
  assert.deepEqual(rt.actor.getSnapshot().output, { startFailure: undefined, gaveUp: undefined });
  assert.deepEqual(world.rootLog, [], 'no drain_expired');
  await world.advance(10_000);
  assert.deepEqual(world.rootLog, [], 'the drain timer went with the drain');
});

test('STOP with a call that never finishes: exactly at timeoutMs drain_expired is announced and the pools are killed', async () => {
  const rt = await servingSupervisor();
  const { world } = rt;
  rt.world.calls('a-1', 1);
  rt.actor.send({ type: 'STOP', timeoutMs: 5000 });
  await world.advance(4999);
  assert.deepEqual(rt.state(), { serving: 'draining' });
  assert.deepEqual(world.rootLog, []);
  assert.deepEqual(rt.poolEvents.filter((e) => e.type === 'KILL'), []);
  const mark = world.mark();
  await world.advance(1);
  assert.deepEqual(world.rootLog, [{ what: 'drain_expired', at: 5000 }]);
  assert.deepEqual(rt.poolEvents.filter((e) => e.type === 'KILL').map((e) => `${e.pool}@${e.at}`), ['c@5000', 'b@5000', 'a@5000']);
  // The busy worker is ended where it stands, not drained.
  assert.deepEqual(world.statesOf('a-1', mark), ['recycling', 'stopped']);
  assert.equal(rt.actor.getSnapshot().status, 'done');
  assert.deepEqual(rt.actor.getSnapshot().output, { startFailure: undefined, gaveUp: undefined });
});

test('KILL while serving ends every pool at once, even with calls in flight', async () => {
  const rt = await servingSupervisor();
  const { world } = rt;
  rt.world.calls('b-1', 1);
  rt.actor.send({ type: 'KILL' });
  await world.settle();
  assert.deepEqual(world.retires.map((r) => `${r.id}:${r.reason}`), ['c-1:shutdown', 'b-1:shutdown', 'a-1:shutdown']);
  assert.equal(rt.actor.getSnapshot().status, 'done');
});
