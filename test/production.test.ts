// What a service needs around the pool: SIGTERM drains and exits 0 with no worker left, worker
// output reaches a logger by default, `await using` stops, and health() answers probes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { HealthReport, WorkerLogEntry } from '../src/index.js';
import { checkNoLeaks, createPit, errorOf, isAlive, startPit, waitFor, workerProcesses } from './helpers.js';

const serviceRuns: string[] = [];
checkNoLeaks(() => serviceRuns);

const SERVICE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'service.ts');

/** Runs the service, sends SIGTERM once its calls run, and returns what it printed and how it ended. */
async function terminateService(env: { SLEEP_S: string; STOP_TIMEOUT_MS: string }) {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVICE], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const ended = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines = () => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line));
  const started = await waitFor(() => lines().find((l) => l.runId), 60_000, `the service to run its calls (stderr: ${stderr})`);
  serviceRuns.push(started.runId);
  child.kill('SIGTERM');
  const code = await ended;
  return { code, started: started as { runId: string; pids: number[]; health: HealthReport }, calls: lines().filter((l) => 'call' in l), stderr };
}

test('SIGTERM with calls in flight: they complete, no worker is left, the exit code is 0', async () => {
  const { code, started, calls, stderr } = await terminateService({ SLEEP_S: '1.5', STOP_TIMEOUT_MS: '20000' });
  assert.equal(code, 0, stderr);
  assert.deepEqual(calls.sort((a, b) => a.call - b.call), [{ call: 0, ok: true }, { call: 1, ok: true }]);
  assert.deepEqual(workerProcesses([started.runId]), []);
  assert.ok(started.pids.every((pid) => !isAlive(pid)));
  // Busy with both calls: ready, but no place free.
  assert.deepEqual(started.health, { live: true, ready: true, pools: { svc: { ready: true, capacity: 2, available: 0 } } });
  // With no listener and no logger option, worker output still reaches the service's stderr.
  assert.match(stderr, /\[snakepit svc-\d stdout\] chatty says hello on stdout/);
  assert.match(stderr, /\[snakepit svc-\d stderr\] chatty says hello on stderr/);
});

test('SIGTERM with calls longer than the timeout: they fail SHUTTING_DOWN, no worker is left, the exit code is 0', async () => {
  const { code, started, calls, stderr } = await terminateService({ SLEEP_S: '60', STOP_TIMEOUT_MS: '300' });
  assert.equal(code, 0, stderr);
  assert.deepEqual(calls.sort((a, b) => a.call - b.call), [
    { call: 0, ok: false, code: 'SHUTTING_DOWN' },
    { call: 1, ok: false, code: 'SHUTTING_DOWN' },
  ]);
  assert.deepEqual(workerProcesses([started.runId]), []);
});

test('await using stops the pit at the end of its scope', async () => {
  let pids: number[];
  {
    await using pit = await startPit({ pools: [{ name: 'u', poolSize: 2, adapter: 'sample_adapters.Calc' }] });
    pids = pit.inspect().pools[0].workers.map((w) => w.pid!);
    assert.equal(await pit.execute('add', { a: 1, b: 2 }), 3);
  }
  assert.ok(pids.every((pid) => !isAlive(pid)), 'every worker is gone once the scope ends');
});

test('health(): not live before start, ready with free places, not ready while its only worker restarts, not live after stop', async () => {
  const pit = createPit({ pools: [{ name: 'h', poolSize: 1, adapter: 'sample_adapters.Calc', restart: { backoffMs: 1000 } }] });
  assert.deepEqual(pit.health(), { live: false, ready: false, pools: { h: { ready: false, capacity: 1, available: 0 } } });
  await pit.start();
  assert.deepEqual(pit.health(), { live: true, ready: true, pools: { h: { ready: true, capacity: 1, available: 1 } } });
  const held = pit.execute('sleep', { seconds: 0.5 });
  assert.equal(pit.health().pools.h.available, 0, 'the call holds the only place');
  await held;
  const [worker] = pit.inspect().pools[0].workers;
  process.kill(worker.pid!, 'SIGKILL');
  await waitFor(() => pit.inspect().pools[0].workers[0].state === 'crashed', 10_000, 'the crash to be seen');
  assert.deepEqual(pit.health(), { live: true, ready: false, pools: { h: { ready: false, capacity: 1, available: 0 } } });
  await waitFor(() => pit.health().ready, 20_000, 'ready again after the restart');
  await pit.stop();
  assert.equal(pit.health().live, false);
});

test('the logger option receives every line a worker prints; a bad logger is INVALID_CONFIG', async () => {
  const entries: WorkerLogEntry[] = [];
  const pit = await startPit({ logger: (entry) => entries.push(entry), pools: [{ name: 'l', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  await pit.execute('chatty', {});
  await waitFor(() => entries.length >= 2, 5000, 'both lines');
  const [worker] = pit.inspect().pools[0].workers;
  assert.deepEqual(
    entries.filter((e) => e.line.startsWith('chatty')).map(({ pool, workerId, pid, stream, line }) => ({ pool, workerId, pid, stream, line })).sort((a, b) => a.stream.localeCompare(b.stream)),
    [
      { pool: 'l', workerId: worker.id, pid: worker.pid, stream: 'stderr', line: 'chatty says hello on stderr' },
      { pool: 'l', workerId: worker.id, pid: worker.pid, stream: 'stdout', line: 'chatty says hello on stdout' },
    ],
  );
  const error = await errorOf((async () => createPit({ logger: 'yes' as never, pools: [{ name: 'x', adapter: 'a.B' }] }))());
  assert.equal(error.code, 'INVALID_CONFIG');
  assert.match(error.message, /logger/);
});
