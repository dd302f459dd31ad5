// Crashes are real kill -9s: the supervisor fails exactly the calls the dead worker held,
// restarts it, and gives up (instead of spinning) when crashes come too fast.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SnakepitError } from '../src/index.js';
import { asError, checkNoLeaks, errorOf, isAlive, sleep, startMarker, startPit, waitFor } from './helpers.js';

checkNoLeaks();

test('kill -9 mid-call: that call is WORKER_CRASHED, others succeed, a new worker serves within 5 s', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 3, adapter: 'sample_adapters.Calc' }] });
  const crashes: unknown[] = [];
  pit.on('worker:crashed', (e) => crashes.push(e));
  const marker = startMarker();
  const victimCall = pit.execute('sleep', { seconds: 3, started: marker.file }, { pool: 'p' });
  const others = [pit.execute('sleep', { seconds: 0.4 }, { pool: 'p' }), pit.execute('sleep', { seconds: 0.4 }, { pool: 'p' })];
  await marker.started();
  const victim = pit.inspect().pools[0].workers.find((w) => w.inFlight === 1 && w.id === 'p-1')!;
  assert.ok(victim, 'the first call went to the first worker');
  const killedAt = performance.now();
  process.kill(victim.pid!, 'SIGKILL');
  const error = await victimCall.then(() => assert.fail('should reject'), asError);
  const rejectMs = performance.now() - killedAt;
  assert.ok(error instanceof SnakepitError);
  assert.equal(error.code, 'WORKER_CRASHED');
  assert.equal((error as any).signal, 'SIGKILL');
  assert.ok(rejectMs < 2000, `rejected ${rejectMs.toFixed(0)} ms after the kill`);
  for (const result of await Promise.all(others)) assert.ok((result as any).pid);
  const replaced = await waitFor(() => {
    const w = pit.inspect().pools[0].workers.find((x) => x.id === victim.id);
    return w && w.state === 'ready' && w.pid !== victim.pid ? w : undefined;
  }, 5000, 'the crashed worker to be back');
  const readyMs = performance.now() - killedAt;
  console.log(`kill -9 -> WORKER_CRASHED in ${rejectMs.toFixed(0)} ms, -> replacement ready in ${readyMs.toFixed(0)} ms`);
  assert.equal(replaced.restarts, 1);
  assert.ok(!isAlive(victim.pid!));
  await waitFor(() => pit.inspect().pools[0].workers.filter((w) => w.state === 'ready').length === 3, 1000, 'full strength');
  const pids = new Set<number>();
  for (let i = 0; i < 30; i++) pids.add((await pit.execute('pid', {}, { pool: 'p' })) as number);
  assert.ok(pids.has(replaced.pid!), 'the new worker serves calls');
  assert.equal(crashes.length, 1);
  await pit.stop();
});

test('crashes faster than the restart intensity escalate: pool fails, calls get MAX_RESTARTS_EXCEEDED', async () => {
  const pit = await startPit({
    supervisor: { intensity: 0 }, // the root does not restart failed pools
    pools: [{ name: 'flaky', poolSize: 1, adapter: 'node_adapters.CrashesOnFirstCall', restart: { intensity: 2, periodMs: 5000, backoffMs: 0 } }],
  });
  const restarts: (string | undefined)[] = [];
  const escalations: { pool: string; level: string; error: Error }[] = [];
  pit.on('supervisor:restart', (e) => restarts.push(e.workerId));
  pit.on('supervisor:escalation', (e) => escalations.push(e));
  for (let i = 0; i < 3; i++) {
    await waitFor(() => pit.inspect().pools[0].workers[0]?.state === 'ready', 5000, 'worker ready');
    const error = await errorOf(pit.execute('die', {}, { pool: 'flaky' }));
    assert.equal(error.code, 'WORKER_CRASHED');
  }
  await waitFor(() => escalations.length === 2, 3000, 'escalation to the root');
  assert.equal(restarts.length, 2, 'two restarts allowed, the third crash escalates');
  assert.deepEqual(escalations.map((e) => [e.pool, e.level]), [['flaky', 'pool'], ['flaky', 'root']]);
  assert.match(escalations[0].error.message, /more than 2 times within 5000 ms/);
  const refused = await errorOf(pit.execute('ping', {}, { pool: 'flaky' }));
  assert.equal(refused.code, 'MAX_RESTARTS_EXCEEDED');
  assert.match(refused.message, /gave up/);
  await waitFor(() => pit.inspect().pools[0].workers.length === 0, 3000, 'the failed pool to stop its workers');
  await pit.stop();
});

test('the root supervisor restarts a pool that gave up, and queued calls are served by its new workers', async () => {
  const pit = await startPit({
    supervisor: { intensity: 3, periodMs: 10_000 },
    pools: [{ name: 'flaky', poolSize: 2, adapter: 'node_adapters.CrashesOnFirstCall', restart: { intensity: 0, periodMs: 5000, backoffMs: 0 } }],
  });
  const rootRestarts: string[] = [];
  pit.on('supervisor:restart', (e) => e.level === 'root' && rootRestarts.push(e.pool));
  const before = pit.inspect().pools[0].workers.map((w) => w.pid);
  assert.equal((await errorOf(pit.execute('die', {}, { pool: 'flaky' }))).code, 'WORKER_CRASHED');
  const queued = pit.execute('ping', {}, { pool: 'flaky' });
  assert.equal(await queued, 'pong');
  assert.deepEqual(rootRestarts, ['flaky']);
  const after = pit.inspect().pools[0];
  assert.equal(after.workers.length, 2);
  assert.ok(after.workers.every((w) => !before.includes(w.pid)), 'both workers are new processes');
  await pit.stop();
});

test('queued calls wait through a crash and run on the restarted worker', async () => {
  const pit = await startPit({ pools: [{ name: 'one', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const marker = startMarker();
  const held = pit.execute('sleep', { seconds: 2, started: marker.file }, { pool: 'one' });
  const queued = Array.from({ length: 5 }, (_, i) => pit.execute('add', { a: i, b: 1 }, { pool: 'one' }));
  await marker.started();
  process.kill(pit.inspect().pools[0].workers[0].pid!, 'SIGKILL');
  assert.equal((await errorOf(held)).code, 'WORKER_CRASHED');
  assert.deepEqual(await Promise.all(queued), [1, 2, 3, 4, 5]);
  await pit.stop();
});
