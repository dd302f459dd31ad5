// Stopping: graceful with calls in flight, in reverse start order, escalating to SIGKILL for
// a worker that ignores SIGTERM, taking grandchildren along; and survivors of an earlier run
// of the same instance are killed at start.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkNoLeaks, createPit, errorOf, isAlive, startPit, waitFor } from './helpers.js';

const orphanRunIds: string[] = [];
checkNoLeaks(() => orphanRunIds);

test('graceful stop: calls in flight complete, new calls are refused, workers stop in reverse start order', async () => {
  const pit = await startPit({ pools: [{ name: 'g', poolSize: 3, adapter: 'sample_adapters.Calc' }] });
  const order: string[] = [];
  pit.on('worker:stopped', (e) => order.push(e.workerId));
  const inFlight = [1, 2, 3].map(() => pit.execute('sleep', { seconds: 0.4 }, { pool: 'g' }));
  await new Promise((r) => setTimeout(r, 50));
  const stopping = pit.stop({ timeoutMs: 5000 });
  assert.equal((await errorOf(pit.execute('ping', {}, { pool: 'g' }))).code, 'SHUTTING_DOWN');
  const results = await Promise.allSettled(inFlight);
  assert.ok(results.every((r) => r.status === 'fulfilled'), 'in-flight calls completed');
  await stopping;
  assert.deepEqual(order, ['g-3', 'g-2', 'g-1']);
});

test('stop({ timeoutMs }) ends calls that outlive it with SHUTTING_DOWN', async () => {
  const pit = await startPit({ pools: [{ name: 'g', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const long = errorOf(pit.execute('sleep', { seconds: 5 }, { pool: 'g' }));
  await new Promise((r) => setTimeout(r, 50));
  const started = performance.now();
  await pit.stop({ timeoutMs: 300 });
  assert.ok(performance.now() - started < 2000);
  assert.equal((await long).code, 'SHUTTING_DOWN');
});

test('a worker ignoring SIGTERM is SIGKILLed after the grace period', async () => {
  const pit = await startPit({ shutdownGraceMs: 500, pools: [{ name: 'i', poolSize: 1, adapter: 'sample_adapters.IgnoresSigterm' }] });
  const [worker] = pit.inspect().pools[0].workers;
  const started = performance.now();
  await pit.stop();
  const ms = performance.now() - started;
  assert.ok(ms >= 480 && ms < 2000, `stop took ${ms.toFixed(0)} ms`);
  assert.ok(!isAlive(worker.pid!));
});

test('stopping a worker that spawned a grandchild leaves no grandchild behind', async () => {
  const pit = await startPit({ pools: [{ name: 'c', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const grandchild = (await pit.execute('spawn_child', {})) as number;
  assert.ok(isAlive(grandchild));
  await pit.stop();
  await waitFor(() => !isAlive(grandchild), 2000, 'the grandchild to be gone');
});

test('survivors of an earlier run of the same instance are killed at start, after checking their command line', async () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const instanceId = `survivor-test-${process.pid}`;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'holdPools.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SNAKEPIT_INSTANCE_ID: instanceId },
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`fixture exited early with ${code}`)));
  });
  const { runId, pids } = JSON.parse(line) as { runId: string; pids: number[] };
  orphanRunIds.push(runId);
  // A frozen worker cannot notice that its parent died.
  process.kill(pids[0], 'SIGSTOP');
  const fixtureGone = once(child, 'exit');
  child.kill('SIGKILL');
  // Its workers see their socket close while the kernel is still tearing it down; only once it
  // is reaped is the run dead for certain.
  await fixtureGone;
  await waitFor(() => pids.slice(1).every((pid) => !isAlive(pid)), 5000, 'the other workers to exit');
  assert.ok(isAlive(pids[0]), 'the frozen worker survived its parent');
  const pit = createPit({ instanceId, pools: [{ name: 'a', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  await pit.start();
  assert.ok(pit.survivorsKilled.includes(pids[0]));
  await waitFor(() => !isAlive(pids[0]), 2000, 'the survivor to be killed');
  await pit.stop();
});

test('two live instances with the same instanceId leave each other alone', async () => {
  const instanceId = `shared-${process.pid}`;
  const first = await startPit({ instanceId, pools: [{ name: 'a', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const second = await startPit({ instanceId, pools: [{ name: 'a', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  assert.deepEqual(second.survivorsKilled, []);
  assert.equal(await first.execute('ping', {}), 'pong');
  await Promise.all([first.stop(), second.stop()]);
});
