// What users inspect holds no secrets and no live handles: with the `inspect` option on and
// secrets in the environment, no inspection event or persisted snapshot carries them or a
// worker's token, everything is plain JSON, and a worker's snapshot stays small.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { Snakepit } from '../src/index.js';
import { checkNoLeaks, createPit, errorOf, startPit, waitFor, workerToken } from './helpers.js';

checkNoLeaks();

const SECRETS = ['hf_SECRET_python_env_7f3a', 'sk_SECRET_adapter_env_91b2'];

/** An inspection event as an inspector would send it on: its own data, with actors by id. */
function serialise(event: InspectionEvent): string {
  const { actorRef, sourceRef, ...rest } = event as InspectionEvent & { sourceRef?: { sessionId: string } };
  return JSON.stringify({ ...rest, actor: actorRef.sessionId, source: sourceRef?.sessionId });
}

test('inspection events and persisted snapshots carry no secrets, tokens or handles', async () => {
  const events: string[] = [];
  const pit = await startPit({
    python: { env: { HF_TOKEN: SECRETS[0] } },
    inspect: (event: InspectionEvent) => events.push(serialise(event)),
    pools: [{ name: 'default', poolSize: 2, adapter: 'sample_adapters.Calc', adapterEnv: { API_KEY: SECRETS[1] }, restart: { backoffMs: 0 } }],
  });
  const [first, second] = pit.inspect().pools[0].workers;
  const tokens = [workerToken(pit, first.id), workerToken(pit, second.id)];
  await pit.execute('ping', {});
  await pit.recycleWorker(first.id);
  process.kill(second.pid!, 'SIGKILL');
  await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.state === 'ready' && w.pid !== second.pid), 10_000, 'restart');
  tokens.push(...pit.inspect().pools[0].workers.map((w) => workerToken(pit, w.id)));
  assert.equal((await errorOf(pit.execute('fail', { message: 'x' }))).code, 'PYTHON_ERROR');

  const persisted = JSON.stringify(pit.actor.getPersistedSnapshot());
  const workerSnapshots = pit.inspect().pools[0].workers.map((w) => JSON.stringify(pit.actor.system.get(`worker:${w.id}`)!.getSnapshot()));
  await pit.stop();

  assert.ok(events.length > 20, `inspection events seen: ${events.length}`);
  for (const text of [...events, persisted, ...workerSnapshots]) {
    for (const secret of [...SECRETS, ...tokens]) assert.ok(!text.includes(secret), `a secret leaked into: ${text.slice(0, 300)}`);
  }
  const largest = Math.max(...workerSnapshots.map((s) => s.length));
  console.log(`inspection: ${events.length} events, persisted snapshot ${persisted.length} bytes, largest worker snapshot ${largest} bytes`);
  assert.ok(largest < 1000, `a worker snapshot is ${largest} bytes`);
});

/** Every fact inspect() shows about pools and workers, as the actors hold it right now. */
function fromActors(pit: Snakepit) {
  const leaf = (value: unknown): string => (typeof value === 'string' ? value : leaf(Object.values(value as object)[0]));
  return pit.config.pools.map(({ name }) => {
    const pool = pit.actor.system.get(`pool:${name}`)?.getSnapshot();
    return {
      name,
      state: pool ? (typeof pool.value === 'string' ? pool.value : Object.keys(pool.value)[0]) : 'stopped',
      restartsInWindow: pool?.context.restartWindow.length ?? 0,
      workers: ((pool?.context.workers ?? []) as { ref: AnyActorRef }[]).map(({ ref }) => {
        const { context, value } = ref.getSnapshot();
        return { id: context.id, pid: context.pid, state: leaf(value), restarts: context.restarts };
      }),
    };
  });
}

function fromInspect(pit: Snakepit) {
  return pit.inspect().pools.map((pool) => ({
    name: pool.name,
    state: pool.state,
    restartsInWindow: pool.supervisor.restartsInWindow,
    workers: pool.workers.map(({ id, pid, state, restarts }) => ({ id, pid, state, restarts })),
  }));
}

test('inspect() agrees with the actors at every worker transition, through recycles, crashes, restarts and a stop', async () => {
  const pit = createPit({
    supervisor: { strategy: 'one_for_one', intensity: 5, periodMs: 60_000 },
    pools: [{ name: 'p', poolSize: 2, adapter: 'sample_adapters.Calc', restart: { backoffMs: 0, intensity: 1, periodMs: 60_000 } }],
  });
  let checks = 0;
  const lastEvent = new Map<string, string>();
  // Checked inside the listener: what a user reads while handling an event is the actors' truth.
  pit.on('worker:state', ({ workerId, to }) => {
    lastEvent.set(workerId, to);
    assert.deepEqual(fromInspect(pit), fromActors(pit));
    const shown = fromInspect(pit)[0].workers.find((w) => w.id === workerId)?.state;
    // A worker with nothing in flight passes through draining in the same step, straight to
    // recycling; a stopped worker has already left its pool.
    const passedThrough = (to === 'draining' && shown === 'recycling') || (to === 'stopped' && shown === undefined);
    if (!passedThrough) assert.equal(shown, to, `inspect() while handling ${workerId} entering ${to}`);
    checks++;
  });
  await pit.start();
  const step = (what: string) => {
    assert.deepEqual(fromInspect(pit), fromActors(pit), `after ${what}`);
    for (const worker of fromInspect(pit)[0].workers) assert.equal(lastEvent.get(worker.id), worker.state, `${worker.id}'s last event after ${what}`);
  };
  step('start');
  const [first, second] = pit.inspect().pools[0].workers;
  await pit.recycleWorker(first.id);
  step('a recycle');
  process.kill(second.pid!, 'SIGKILL');
  await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.state === 'ready' && w.pid !== second.pid), 10_000, 'restart');
  step('a crash and restart');
  assert.equal(fromInspect(pit)[0].restartsInWindow, 1);
  // A second crash within the period exceeds the pool's intensity: the root restarts the pool.
  const poolRestarted = new Promise((resolve) => pit.once('pool:ready', resolve));
  process.kill(pit.inspect().pools[0].workers[0].pid!, 'SIGKILL');
  await poolRestarted;
  step('a pool restart');
  assert.equal(pit.inspect().supervisor.restartsInWindow, 1, 'the root counts the pool restart');
  assert.equal(pit.inspect().pools[0].workers.length, 2);
  await pit.stop();
  assert.deepEqual(fromInspect(pit), [{ name: 'p', state: 'stopped', restartsInWindow: 0, workers: [] }]);
  assert.ok(checks > 20, `compared at ${checks} transitions`);
});
