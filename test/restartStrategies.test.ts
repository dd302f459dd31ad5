// OTP's restart strategies, intensity window and restart types, with real kill -9s
// (after OTP's supervisor_SUITE).
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Snakepit } from '../src/index.js';
import { checkNoLeaks, errorOf, sleep, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const pids = (pit: Snakepit) => pit.inspect().pools[0].workers.map((w) => w.pid!);
const allReady = (pit: Snakepit, n: number) =>
  waitFor(() => {
    const workers = pit.inspect().pools[0].workers;
    return workers.length === n && workers.every((w) => w.state === 'ready' && w.pid !== undefined);
  }, 5000, `${n} ready workers`);

async function crashSecondOf(strategy: 'one_for_one' | 'one_for_all' | 'rest_for_one'): Promise<boolean[]> {
  const pit = await startPit({
    pools: [{ name: 's', poolSize: 4, adapter: 'sample_adapters.Calc', restart: { strategy, intensity: 5, periodMs: 5000, backoffMs: 0 } }],
  });
  const before = pids(pit);
  process.kill(before[1], 'SIGKILL');
  await sleep(300);
  await allReady(pit, 4);
  const after = pids(pit);
  await pit.stop();
  return before.map((pid, i) => pid !== after[i]);
}

test('one_for_one: only the crashed worker gets a new PID', async () => {
  assert.deepEqual(await crashSecondOf('one_for_one'), [false, true, false, false]);
});

test('one_for_all: every worker gets a new PID', async () => {
  assert.deepEqual(await crashSecondOf('one_for_all'), [true, true, true, true]);
});

test('rest_for_one: the crashed worker and those started after it get new PIDs', async () => {
  assert.deepEqual(await crashSecondOf('rest_for_one'), [false, true, true, true]);
});

test('crashes spread out (1 per 2 s with intensity 1 per 1 s) are survived', async () => {
  const pit = await startPit({
    pools: [{ name: 's', poolSize: 1, adapter: 'sample_adapters.Calc', restart: { intensity: 1, periodMs: 1000, backoffMs: 0 } }],
  });
  const escalations: unknown[] = [];
  pit.on('supervisor:escalation', (e) => escalations.push(e));
  for (let i = 0; i < 3; i++) {
    await allReady(pit, 1);
    process.kill(pids(pit)[0], 'SIGKILL');
    await sleep(2000);
  }
  await allReady(pit, 1);
  assert.deepEqual(escalations, []);
  assert.equal(pit.inspect().pools[0].workers[0].restarts, 3);
  assert.equal(await pit.execute('ping', {}), 'pong');
  await pit.stop();
});

test('a worker that crashes at boot is restarted after the backoff, not in a spin, then escalates', async () => {
  const marker = path.join(mkdtempSync(path.join(os.tmpdir(), 'snakepit-test-')), 'booted');
  const pit = await startPit({
    supervisor: { intensity: 0 },
    pools: [{
      name: 'b', poolSize: 1, adapter: 'node_adapters.FailsAfterFirstBoot', adapterEnv: { BOOT_MARKER: marker },
      restart: { intensity: 3, periodMs: 10_000, backoffMs: 300 },
    }],
  });
  const starts: number[] = [];
  let escalated = 0;
  pit.on('worker:starting', () => starts.push(performance.now()));
  pit.on('supervisor:escalation', (e) => e.level === 'root' && (escalated = performance.now()));
  process.kill(pids(pit)[0], 'SIGKILL');
  await waitFor(() => escalated, 5000, 'escalation');
  assert.equal(starts.length, 3, 'three restarts, then the pool gives up');
  for (let i = 1; i < starts.length; i++) assert.ok(starts[i] - starts[i - 1] >= 290, `restarts ${(starts[i] - starts[i - 1]).toFixed(0)} ms apart`);
  assert.equal((await errorOf(pit.execute('ping', {}))).code, 'MAX_RESTARTS_EXCEEDED');
  await pit.stop();
});

test('transient: a normal exit (os._exit(0)) is not restarted, an abnormal one is', async () => {
  const pit = await startPit({
    pools: [{ name: 't', poolSize: 2, adapter: 'sample_adapters.Calc', restart: { type: 'transient', backoffMs: 0 } }],
  });
  const [first, second] = pids(pit);
  await pit.execute('exit', { code: 0 }).catch(() => undefined);
  await waitFor(() => pit.inspect().pools[0].workers.length === 1, 3000, 'the normally exited worker to be gone');
  const survivor = pit.inspect().pools[0].workers[0];
  assert.equal(survivor.pid, second, 'the other worker keeps running');
  await pit.execute('exit', { code: 3 }).catch(() => undefined);
  await allReady(pit, 1);
  assert.notEqual(pids(pit)[0], second, 'the abnormal exit was restarted');
  assert.ok(![first, second].includes(pids(pit)[0]));
  await pit.stop();
});

test('temporary: never restarted, and its exits do not count toward the intensity', async () => {
  const pit = await startPit({
    supervisor: { intensity: 0 },
    pools: [{ name: 't', poolSize: 3, adapter: 'sample_adapters.Calc', restart: { type: 'temporary', intensity: 0 } }],
  });
  const escalations: unknown[] = [];
  pit.on('supervisor:escalation', (e) => escalations.push(e));
  const [a, b] = pids(pit);
  process.kill(a, 'SIGKILL');
  process.kill(b, 'SIGKILL');
  await waitFor(() => pit.inspect().pools[0].workers.length === 1, 3000, 'two temporary workers gone');
  await sleep(300);
  assert.deepEqual(escalations, []);
  assert.equal(await pit.execute('ping', {}), 'pong', 'the pool keeps serving with what is left');
  await pit.stop();
});

test('permanent (the default): restarted even after a normal exit', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc', restart: { backoffMs: 0 } }] });
  const [before] = pids(pit);
  await pit.execute('exit', { code: 0 }).catch(() => undefined);
  await sleep(200);
  await allReady(pit, 1);
  assert.notEqual(pids(pit)[0], before);
  assert.equal(pit.inspect().pools[0].supervisor.restartsInWindow, 1);
  await pit.stop();
});

test('the root supervisor with one_for_all restarts every pool when one gives up; its state is inspectable', async () => {
  const pit = await startPit({
    supervisor: { strategy: 'one_for_all', intensity: 3, periodMs: 10_000 },
    pools: [
      { name: 'steady', poolSize: 2, adapter: 'sample_adapters.Calc' },
      { name: 'flaky', poolSize: 1, adapter: 'node_adapters.CrashesOnFirstCall', restart: { intensity: 0 } },
    ],
  });
  const steadyBefore = pit.inspect().pools[0].workers.map((w) => w.pid);
  assert.deepEqual(pit.inspect().supervisor.children, ['steady', 'flaky']);
  assert.equal((await errorOf(pit.execute('die', {}, { pool: 'flaky' }))).code, 'WORKER_CRASHED');
  assert.equal(await pit.execute('ping', {}, { pool: 'flaky' }), 'pong', 'queued until the pool is back');
  await waitFor(() => {
    const steady = pit.inspect().pools[0].workers;
    return steady.length === 2 && steady.every((w) => w.state === 'ready' && !steadyBefore.includes(w.pid)) ? steady : undefined;
  }, 5000, 'the steady pool to be restarted too');
  const root = pit.inspect().supervisor;
  assert.equal(root.strategy, 'one_for_all');
  assert.equal(root.restartsInWindow, 1);
  await pit.stop();
});
