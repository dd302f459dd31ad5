// The thread profile: real concurrency inside one process, capacity and least-loaded dispatch,
// the thread-safe adapter API, and the optional thread-safety checks.
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { nativeThreads } from '../src/config.js';
import { SnakepitError } from '../src/index.js';
import { asError, checkNoLeaks, createPit, sleep, startPit, waitFor } from './helpers.js';

checkNoLeaks();

type Served = { pid: number; thread: number };

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

test('one worker with 8 threads: 8 concurrent 0.5 s sleeps finish in under 1 s on 8 distinct threads', async () => {
  const pit = await startPit({ pools: [{ name: 't', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 8, adapter: 'sample_adapters.Threaded' }] });
  const { value, ms } = await timed(() => Promise.all(Array.from({ length: 8 }, () => pit.execute('sleep', { seconds: 0.5 }, { pool: 't' }))));
  console.log(`8 × 0.5 s sleeps on 1 worker × 8 threads: ${ms.toFixed(0)} ms`);
  assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
  const served = value as Served[];
  assert.equal(new Set(served.map((s) => s.pid)).size, 1);
  assert.equal(new Set(served.map((s) => s.thread)).size, 8);
  await pit.stop();
});

test('4 workers × 16 threads: 64 concurrent 0.5 s sleeps finish in under 1.5 s', async () => {
  const pit = await startPit({ pools: [{ name: 't', workerProfile: 'thread', poolSize: 4, threadsPerWorker: 16, adapter: 'sample_adapters.Threaded' }] });
  assert.equal(pit.inspect().pools[0].capacity, 64);
  const { value, ms } = await timed(() => Promise.all(Array.from({ length: 64 }, () => pit.execute('sleep', { seconds: 0.5 }, { pool: 't' }))));
  console.log(`64 × 0.5 s sleeps on 4 workers × 16 threads: ${ms.toFixed(0)} ms`);
  assert.ok(ms < 1500, `took ${ms.toFixed(0)} ms`);
  const perPid = new Map<number, number>();
  for (const s of value as Served[]) perPid.set(s.pid, (perPid.get(s.pid) ?? 0) + 1);
  assert.deepEqual([...perPid.values()], [16, 16, 16, 16]);
  await pit.stop();
});

test('2 workers × 4 threads: 8 concurrent sleeps are spread 4 and 4', async () => {
  const pit = await startPit({ pools: [{ name: 't', workerProfile: 'thread', poolSize: 2, threadsPerWorker: 4, adapter: 'sample_adapters.Threaded' }] });
  const served = (await Promise.all(Array.from({ length: 8 }, () => pit.execute('sleep', { seconds: 0.2 }, { pool: 't' })))) as Served[];
  const perPid = new Map<number, number>();
  for (const s of served) perPid.set(s.pid, (perPid.get(s.pid) ?? 0) + 1);
  assert.deepEqual([...perPid.values()], [4, 4]);
  await pit.stop();
});

test('while one thread runs a long call, short calls sent one after another run beside it, not after it', async () => {
  const pit = await startPit({ pools: [{ name: 't', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 2, adapter: 'sample_adapters.Threaded' }] });
  const long = pit.execute('sleep', { seconds: 2 }, { pool: 't' }) as Promise<Served>;
  let longDone = false;
  void long.then(() => (longDone = true));
  await sleep(100);
  const { value, ms } = await timed(async () => {
    const served: Served[] = [];
    for (let i = 0; i < 20; i++) served.push((await pit.execute('sleep', { seconds: 0 }, { pool: 't' })) as Served);
    return served;
  });
  console.log(`20 short calls beside a 2 s call: ${ms.toFixed(0)} ms`);
  assert.equal(longDone, false, `the short calls waited for the long one (${ms.toFixed(0)} ms)`);
  const longThread = (await long).thread;
  assert.ok(value.every((s) => s.thread !== longThread), 'no short call ran on the busy thread');
  await pit.stop();
});

test('a thread worker with 3 of 8 calls in flight is ready; with 8 it is busy, and further calls queue', async () => {
  const pit = await startPit({ pools: [{ name: 't', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 8, adapter: 'sample_adapters.Threaded' }] });
  const worker = () => pit.inspect().pools[0].workers[0];
  const first = Array.from({ length: 3 }, () => pit.execute('sleep', { seconds: 0.6 }, { pool: 't' }));
  await sleep(50);
  assert.equal(worker().inFlight, 3);
  assert.equal(worker().state, 'ready');
  const more = Array.from({ length: 6 }, () => pit.execute('sleep', { seconds: 0.3 }, { pool: 't' }));
  await sleep(50);
  assert.equal(worker().inFlight, 8);
  assert.equal(worker().state, 'busy');
  assert.equal(pit.stats('t').queued, 1, 'the ninth call waits');
  await Promise.all([...first, ...more]);
  await waitFor(() => worker().state === 'ready', 1000, 'idle again');
  await pit.stop();
});

test("the seed's hammer test against a ThreadSafeAdapter: 1000 calls, counter updated under acquire_lock() equals 1000", async () => {
  const pit = await startPit({ pools: [{ name: 'ml', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 16, adapter: 'sample_adapters.Threaded' }] });
  const { value, ms } = await timed(() => Promise.allSettled(Array.from({ length: 1000 }, () => pit.execute('bump', {}, { pool: 'ml' }))));
  console.log(`hammer: 1000 concurrent calls on 1 worker × 16 threads in ${ms.toFixed(0)} ms`);
  assert.ok(value.every((r) => r.status === 'fulfilled'));
  const returned = value.map((r) => (r as PromiseFulfilledResult<number>).value).sort((a, b) => a - b);
  assert.deepEqual(returned, Array.from({ length: 1000 }, (_, i) => i + 1), 'every increment was seen exactly once');
  assert.equal(await pit.execute('counter_value', {}, { pool: 'ml' }), 1000);
  await pit.stop();
});

test('an adapter without __thread_safe__ is refused by the thread profile with a clear message', async () => {
  const pit = createPit({ pools: [{ name: 'ml', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 4, adapter: 'sample_adapters.NotThreadSafe' }] });
  const error = await pit.start().then(() => assert.fail('start should reject'), asError);
  assert.ok(error instanceof SnakepitError);
  assert.equal(error.code, 'STARTUP_FAILED');
  assert.match(error.message, /NotThreadSafe/);
  assert.match(error.message, /__thread_safe__ = True/);
});

test('threadSafetyChecks reports a non-thread-safe tool and pandas used from several threads at once; off, nothing is reported', async () => {
  const pools = (checks: boolean) => [
    { name: 't', workerProfile: 'thread' as const, poolSize: 1, threadsPerWorker: 4, adapter: 'sample_adapters.Threaded', threadSafetyChecks: checks },
  ];
  for (const checks of [true, false]) {
    const pit = await startPit({ pools: pools(checks) });
    const warnings: { kind: string; tool?: string; library?: string; threadIds: number[] }[] = [];
    pit.on('worker:thread-safety-warning', (e) => warnings.push(e));
    await Promise.all([1, 2, 3].map(() => pit.execute('unsafe_sleep', { seconds: 0.3 }, { pool: 't' })));
    await Promise.all([1, 2].map(() => pit.execute('pandas_work', { seconds: 0.5 }, { pool: 't' })));
    await Promise.all([1, 2, 3].map(() => pit.execute('sleep', { seconds: 0.2 }, { pool: 't' })));
    await sleep(100);
    if (checks) {
      const tool = warnings.find((w) => w.kind === 'unsafe_concurrent_tool');
      assert.equal(tool?.tool, 'unsafe_sleep');
      assert.ok(tool!.threadIds.length >= 2);
      assert.ok(warnings.some((w) => w.kind === 'unsafe_library' && w.library === 'pandas'), JSON.stringify(warnings));
      assert.ok(!warnings.some((w) => w.tool === 'sleep'), 'a @thread_safe_method tool is not reported');
    } else {
      assert.deepEqual(warnings, []);
    }
    await pit.stop();
  }
});

test('the thread profile sets the thread variables to its share of the cores, at most threadsPerWorker, unless adapterEnv overrides them; inspect() shows the GIL', async () => {
  const cores = os.availableParallelism();
  const pit = await startPit({
    pools: [
      { name: 'e', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 6, adapter: 'node_adapters.ThreadEnvProbe', adapterEnv: { MKL_NUM_THREADS: '2' } },
      { name: 'pair', workerProfile: 'thread', poolSize: 2, threadsPerWorker: 8, adapter: 'node_adapters.ThreadEnvProbe' },
    ],
  });
  const one = String(Math.min(6, cores));
  const env = (await pit.execute('env', {}, { pool: 'e' })) as Record<string, string>;
  assert.deepEqual(env, { OPENBLAS_NUM_THREADS: one, MKL_NUM_THREADS: '2', OMP_NUM_THREADS: one, NUMEXPR_NUM_THREADS: one, VECLIB_MAXIMUM_THREADS: one });
  // Two workers share the cores: each gets half of them (at least 1), whatever threadsPerWorker says.
  const half = String(Math.max(1, Math.floor(cores / 2)));
  const pair = (await pit.execute('env', {}, { pool: 'pair' })) as Record<string, string>;
  assert.deepEqual(new Set(Object.values(pair)), new Set([half]), JSON.stringify(pair));
  assert.ok(Number(pair.OMP_NUM_THREADS) <= cores && Number(env.OMP_NUM_THREADS) <= cores, `never more threads per call than the ${cores} cores`);
  const worker = pit.inspect().pools[0].workers[0];
  assert.equal(worker.capacity, 6);
  assert.equal(worker.gilEnabled, true, 'CPython 3.11 has the GIL');
  await pit.stop();
});

test('nativeThreads: a worker’s share of the cores, at most threadsPerWorker, at least 1', () => {
  // [threadsPerWorker, poolSize, cores] → threads
  const cases: [number, number, number, number][] = [
    [8, 1, 2, 2], [8, 4, 2, 1], [16, 4, 64, 16], [4, 3, 8, 2], [8, 1, 64, 8], [1, 1, 2, 1],
  ];
  for (const [threadsPerWorker, poolSize, cores, threads] of cases) {
    assert.equal(nativeThreads(threadsPerWorker, poolSize, cores), threads, `${poolSize} × ${threadsPerWorker} on ${cores} cores`);
  }
});
