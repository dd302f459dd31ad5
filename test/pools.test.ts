// Whole-pool behaviour: the seed's hammer test, hybrid routing, and the parent's death.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AnyActorRef } from 'xstate';
import { checkNoLeaks, errorOf, isAlive, startPit, waitFor } from './helpers.js';

const orphanRunIds: string[] = [];
checkNoLeaks(() => orphanRunIds);

test("the seed's hammer test: 1000 concurrent calls on 4 workers all succeed with the right results", async () => {
  const pit = await startPit({ pools: [{ name: 'default', poolSize: 4, adapter: 'sample_adapters.Calc' }] });
  const started = performance.now();
  const results = await Promise.allSettled(Array.from({ length: 1000 }, (_, i) => pit.execute('add', { a: i, b: i })));
  const ms = performance.now() - started;
  console.log(`hammer: 1000 concurrent calls on 4 process workers in ${ms.toFixed(0)} ms`);
  assert.ok(results.every((r) => r.status === 'fulfilled'), 'every call succeeded');
  assert.deepEqual(results.map((r) => (r as PromiseFulfilledResult<unknown>).value), Array.from({ length: 1000 }, (_, i) => 2 * i));
  const requests = pit.inspect().pools[0].workers.map((w) => w.requests);
  assert.equal(requests.reduce((a, b) => a + b, 0), 1000);
  assert.ok(requests.every((n) => n > 0), `every worker took calls: ${requests}`);
  await pit.stop();
});

test('several pools at once, routed by pool name', async () => {
  const pit = await startPit({
    pools: [
      { name: 'default', poolSize: 2, adapter: 'sample_adapters.Calc' },
      { name: 'env', poolSize: 1, adapter: 'node_adapters.EnvProbe', adapterEnv: { OMP_NUM_THREADS: '2' } },
    ],
  });
  assert.equal(await pit.execute('add', { a: 1, b: 1 }), 2, 'no pool option: the "default" pool');
  assert.equal(((await pit.execute('env', {}, { pool: 'env' })) as any).OMP_NUM_THREADS, '2');
  assert.equal((await errorOf(pit.execute('env', {}, { pool: 'default' }))).code, 'TOOL_NOT_FOUND');
  const snapshot = pit.inspect();
  assert.deepEqual(snapshot.pools.map((p) => [p.name, p.profile, p.capacity, p.workers.length]), [
    ['default', 'process', 2, 2],
    ['env', 'process', 1, 1],
  ]);
  const worker = snapshot.pools[0].workers[0];
  assert.deepEqual(Object.keys(worker).slice(0, 7), ['id', 'pid', 'state', 'inFlight', 'capacity', 'requests', 'restarts']);
  assert.equal(pit.actor.system.get('pool:env')?.getSnapshot().value, 'ready');
  assert.ok(pit.actor.system.get('worker:default-1'));
  await pit.stop();
});

test('when the Node parent is SIGKILLed, its workers and their children exit within 5 s', async () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'holdPools.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`fixture exited early with ${code}`)));
  });
  const { runId, pids, grandchild } = JSON.parse(line) as { runId: string; pids: number[]; grandchild: number };
  orphanRunIds.push(runId);
  assert.equal(pids.length, 3);
  assert.ok([...pids, grandchild].every(isAlive));
  const killedAt = performance.now();
  child.kill('SIGKILL');
  await waitFor(() => [...pids, grandchild].every((pid) => !isAlive(pid)), 5000, 'orphaned workers to exit');
  console.log(`parent SIGKILL -> all workers and a grandchild gone in ${(performance.now() - killedAt).toFixed(0)} ms`);
});

test('the inspect option receives the actor system\'s inspection events', async () => {
  const actors = new Set<string>();
  const pit = await startPit({
    inspect: (event) => {
      if (event.type === '@xstate.snapshot') actors.add((event.actorRef as AnyActorRef).id);
    },
    pools: [{ name: 'seen', poolSize: 1, adapter: 'sample_adapters.Calc' }],
  });
  assert.ok(actors.has('pool:seen') && actors.has('worker:seen-1'), [...actors].join(', '));
  await pit.stop();
});
