// Fault injection: a crash storm, native crashes, MemoryError, a thread worker dying with calls
// in flight, a kill during a restart, and a group restart whose workers cannot boot. Every call
// is accounted for: it succeeded or failed with a documented code.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { SnakepitError } from '../src/index.js';
import { checkNoLeaks, errorOf, isAlive, sleep, startPit, waitFor, workerProcesses } from './helpers.js';

checkNoLeaks();

test('crash storm: 2 random workers of 8 killed every 100 ms for 3 s while 500 calls run 16 at a time', async () => {
  const pit = await startPit({
    pools: [{ name: 'storm', poolSize: 8, adapter: 'sample_adapters.Calc', restart: { intensity: 1000, periodMs: 1000, backoffMs: 0 } }],
  });
  const crashedPids = new Set<number>();
  pit.on('worker:crashed', (e) => e.pid !== undefined && crashedPids.add(e.pid));
  const outcomes = new Map<string, number>();
  let next = 0;
  const runner = async () => {
    while (next < 500) {
      next++;
      const code = await pit.execute('sleep', { seconds: 0.08 }, { pool: 'storm' }).then(
        () => 'ok',
        (e) => (e instanceof SnakepitError ? e.code : String(e)),
      );
      outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
    }
  };
  const killed = new Set<number>();
  const storm = (async () => {
    const until = performance.now() + 3000;
    while (performance.now() < until) {
      const live = pit.inspect().pools[0].workers.filter((w) => w.pid !== undefined && w.state !== 'crashed');
      for (let i = 0; i < 2 && live.length > 0; i++) {
        const [victim] = live.splice(Math.floor(Math.random() * live.length), 1);
        try {
          process.kill(victim.pid!, 'SIGKILL');
          killed.add(victim.pid!);
        } catch {
          /* already gone */
        }
      }
      await sleep(100);
    }
  })();
  await Promise.all([storm, ...Array.from({ length: 16 }, runner)]);
  const stormEnded = performance.now();
  await waitFor(() => {
    const workers = pit.inspect().pools[0].workers;
    return workers.length === 8 && workers.every((w) => w.state === 'ready');
  }, 30_000, '8 ready workers after the storm');
  const recoveredMs = performance.now() - stormEnded;
  const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
  console.log(`crash storm: ${killed.size} kills, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}, 8 ready ${recoveredMs.toFixed(0)} ms after`);
  // Outcomes only: how many kills the harness manages depends on the machine's load.
  assert.equal(total, 500, 'every call is accounted for');
  assert.deepEqual([...outcomes.keys()].filter((code) => code !== 'ok' && code !== 'WORKER_CRASHED'), [], 'only documented codes');
  assert.ok((outcomes.get('ok') ?? 0) > 0, 'calls were served through the storm');
  assert.ok(killed.size > 0, 'the storm killed workers');
  assert.deepEqual([...killed].filter((pid) => !crashedPids.has(pid)), [], 'every kill was seen as a crash');
  assert.deepEqual([...killed].filter(isAlive), [], 'killed PIDs are gone');
  assert.equal(pit.inspect().pools[0].state, 'ready', 'the pool never gave up');
  assert.equal(await pit.execute('ping', {}, { pool: 'storm' }), 'pong');
  await pit.stop();
});

test('a native segfault is WORKER_CRASHED with signal SIGSEGV, and the worker is restarted', async () => {
  const pit = await startPit({ pools: [{ name: 'n', poolSize: 1, adapter: 'sample_adapters.Calc', restart: { backoffMs: 0 } }] });
  const [before] = pit.inspect().pools[0].workers;
  const error = await errorOf(pit.execute('segfault', {}));
  assert.equal(error.code, 'WORKER_CRASHED');
  assert.equal(error.signal, 'SIGSEGV');
  await waitFor(() => pit.inspect().pools[0].workers[0].state === 'ready' && pit.inspect().pools[0].workers[0].pid !== before.pid, 5000, 'restart');
  assert.equal(await pit.execute('ping', {}), 'pong');
  await pit.stop();
});

test('a Python MemoryError is PYTHON_ERROR and the worker keeps serving', async () => {
  const pit = await startPit({ pools: [{ name: 'n', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const [before] = pit.inspect().pools[0].workers;
  const error = await errorOf(pit.execute('memory_error', {}));
  assert.equal(error.code, 'PYTHON_ERROR');
  assert.equal(error.pythonType, 'MemoryError');
  assert.equal(await pit.execute('pid', {}), before.pid);
  await pit.stop();
});

test('a thread worker killed with N calls in flight fails exactly those N', async () => {
  const pit = await startPit({
    pools: [{ name: 't', workerProfile: 'thread', poolSize: 2, threadsPerWorker: 8, adapter: 'sample_adapters.Threaded' }],
  });
  const calls = Array.from({ length: 10 }, () => pit.execute('sleep', { seconds: 0.8 }, { pool: 't' }));
  await sleep(150);
  const [victim, other] = pit.inspect().pools[0].workers;
  assert.equal(victim.inFlight + other.inFlight, 10);
  const held = victim.inFlight;
  process.kill(victim.pid!, 'SIGKILL');
  const settled = await Promise.allSettled(calls);
  const failed = settled.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  assert.equal(failed.length, held);
  assert.ok(failed.every((r) => r.reason.code === 'WORKER_CRASHED'));
  const served = settled.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ pid: number }>[];
  assert.ok(served.every((r) => r.value.pid === other.pid));
  await pit.stop();
});

test('kill -9 of a worker while it restarts: it is restarted again, the pool ends ready, each crash counts once', async () => {
  const pit = await startPit({
    supervisor: { intensity: 0 },
    pools: [{
      name: 'k', poolSize: 1, adapter: 'fault_adapters.Blockable', adapterEnv: { BOOT_DELAY_S: '1' },
      restart: { intensity: 2, periodMs: 60_000, backoffMs: 0 },
    }],
  });
  const crashes: { reason: string; pid: number | undefined }[] = [];
  const escalations: string[] = [];
  pit.on('worker:crashed', (e) => crashes.push(e));
  pit.on('supervisor:escalation', (e) => escalations.push(e.level));
  const worker = () => pit.inspect().pools[0].workers[0];
  const first = worker().pid!;
  process.kill(first, 'SIGKILL');
  // The restarted process exists (booting, not yet ready): kill it too.
  const booting = await waitFor(() => {
    const found = workerProcesses([pit.runId]).find((p) => p.pid !== first && isAlive(p.pid));
    return found && worker().state === 'starting' ? found.pid : undefined;
  }, 10_000, 'the restarted process to be booting');
  process.kill(booting, 'SIGKILL');
  await waitFor(() => worker().state === 'ready' && worker().restarts === 2, 20_000, 'the worker restarted again');
  assert.deepEqual(crashes.map((c) => c.reason), ['exited', 'startup_failed']);
  assert.deepEqual(escalations, []);
  assert.equal(pit.inspect().pools[0].supervisor.restartsInWindow, 2, 'both crashes counted, once each');
  assert.equal(pit.inspect().pools[0].state, 'ready');
  assert.ok(![first, booting].includes(worker().pid!) && !isAlive(first) && !isAlive(booting));
  assert.equal(await pit.execute('ping', {}, { pool: 'k' }), 'pong');
  // A third crash within the period exceeds intensity 2: the count was exact.
  process.kill(worker().pid!, 'SIGKILL');
  await waitFor(() => escalations.length === 2, 10_000, 'escalation');
  assert.equal((await errorOf(pit.execute('ping', {}, { pool: 'k' }))).code, 'MAX_RESTARTS_EXCEEDED');
  await pit.stop();
  assert.deepEqual(workerProcesses([pit.runId]).filter((p) => isAlive(p.pid)), []);
});

test('a one_for_all group restart whose new workers cannot boot escalates coded; calls fail coded; stop() leaves nothing', async () => {
  const blocker = path.join(mkdtempSync(path.join(os.tmpdir(), 'snakepit-test-')), 'blocked');
  const pit = await startPit({
    supervisor: { intensity: 1, periodMs: 60_000 },
    pools: [{
      name: 'g', poolSize: 3, adapter: 'fault_adapters.Blockable', adapterEnv: { BOOT_BLOCKER: blocker },
      restart: { strategy: 'one_for_all', intensity: 2, periodMs: 60_000, backoffMs: 50 },
    }],
  });
  const escalations: { level: string; reason: string }[] = [];
  pit.on('supervisor:escalation', (e) => escalations.push(e));
  const codeOf = (call: Promise<unknown>) => call.then(() => 'ok', (e) => (e instanceof SnakepitError ? e.code : `raw ${e}`));
  const started = [0, 1, 2].map((i) => `${blocker}-started-${i}`);
  const running = started.map((file) => codeOf(pit.execute('sleep', { seconds: 30, started: file }, { pool: 'g' })));
  await waitFor(() => started.every((file) => existsSync(file)), 10_000, 'three calls running');
  const queued = Array.from({ length: 4 }, () => codeOf(pit.execute('ping', {}, { pool: 'g' })));
  const pids = pit.inspect().pools[0].workers.map((w) => w.pid!);
  writeFileSync(blocker, '');
  process.kill(pids[1], 'SIGKILL');
  assert.deepEqual(await Promise.all(running), ['WORKER_CRASHED', 'WORKER_CRASHED', 'WORKER_CRASHED']);
  assert.deepEqual(await Promise.all(queued), Array(4).fill('MAX_RESTARTS_EXCEEDED'));
  await waitFor(() => escalations.some((e) => e.level === 'root'), 20_000, 'escalation to the root');
  // The pool gave up, the root restarted it once, its workers still could not boot, the root gave up.
  assert.deepEqual(escalations.map((e) => [e.level, e.reason]), [['pool', 'max_restarts'], ['pool', 'startup_failed'], ['root', 'startup_failed']]);
  assert.equal((await errorOf(pit.execute('ping', {}, { pool: 'g' }))).code, 'MAX_RESTARTS_EXCEEDED');
  await pit.stop();
  assert.deepEqual(workerProcesses([pit.runId]).filter((p) => isAlive(p.pid)), [], 'nothing left alive');
  assert.ok(pids.every((pid) => !isAlive(pid)));
});
