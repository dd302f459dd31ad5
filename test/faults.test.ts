// Fault injection: a crash storm, native crashes, MemoryError, and a thread worker dying with
// calls in flight. Every call is accounted for: it succeeded or failed with a documented code.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SnakepitError } from '../src/index.js';
import { checkNoLeaks, errorOf, isAlive, sleep, startPit, waitFor } from './helpers.js';

checkNoLeaks();

test('crash storm: 2 random workers of 8 killed every 100 ms for 3 s while 500 calls run 16 at a time', async () => {
  const pit = await startPit({
    pools: [{ name: 'storm', poolSize: 8, adapter: 'sample_adapters.Calc', restart: { intensity: 1000, periodMs: 1000, backoffMs: 0 } }],
  });
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
  }, 10_000, '8 ready workers after the storm');
  const recoveredMs = performance.now() - stormEnded;
  const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
  console.log(`crash storm: ${killed.size} kills, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}, 8 ready ${recoveredMs.toFixed(0)} ms after`);
  assert.equal(total, 500, 'every call is accounted for');
  assert.deepEqual([...outcomes.keys()].filter((code) => code !== 'ok' && code !== 'WORKER_CRASHED'), []);
  assert.ok((outcomes.get('ok') ?? 0) > 0);
  assert.ok(killed.size >= 30);
  assert.deepEqual([...killed].filter(isAlive), [], 'killed PIDs are gone');
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
