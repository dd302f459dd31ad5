// What users inspect holds no secrets and no live handles: with the `inspect` option on and
// secrets in the environment, no inspection event or persisted snapshot carries them or a
// worker's token, everything is plain JSON, and a worker's snapshot stays small.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { InspectionEvent } from 'xstate';
import { checkNoLeaks, errorOf, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const SECRETS = ['hf_SECRET_python_env_7f3a', 'sk_SECRET_adapter_env_91b2'];

/** The worker's token, as the kernel still shows its starting environment. */
function tokenOf(pid: number): string {
  const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  return env.find((entry) => entry.startsWith('SNAKEPIT_TOKEN='))!.slice('SNAKEPIT_TOKEN='.length);
}

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
  const tokens = [tokenOf(first.pid!), tokenOf(second.pid!)];
  await pit.execute('ping', {});
  await pit.recycleWorker(first.id);
  process.kill(second.pid!, 'SIGKILL');
  await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.state === 'ready' && w.pid !== second.pid), 10_000, 'restart');
  tokens.push(...pit.inspect().pools[0].workers.map((w) => tokenOf(w.pid!)));
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

test('inspect() reads pool states from the pool actors, through a recycle, a crash and a stop', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, adapter: 'sample_adapters.Calc', restart: { backoffMs: 0 } }] });
  const agree = () => {
    const actor = pit.actor.system.get('pool:p');
    const value = actor?.getSnapshot().value;
    const actorState = value === undefined ? 'stopped' : typeof value === 'string' ? value : Object.keys(value)[0];
    assert.equal(pit.inspect().pools[0].state, actorState);
    return actorState;
  };
  assert.equal(agree(), 'ready');
  const [first, second] = pit.inspect().pools[0].workers;
  await pit.recycleWorker(first.id);
  assert.equal(agree(), 'ready');
  process.kill(second.pid!, 'SIGKILL');
  await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.state === 'ready' && w.pid !== second.pid), 10_000, 'restart');
  assert.equal(agree(), 'ready');
  await pit.stop();
  assert.equal(pit.inspect().pools[0].state, 'stopped');
});
