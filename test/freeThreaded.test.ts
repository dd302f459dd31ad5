// The thread profile on free-threaded CPython 3.13t (scripts/build-free-threaded-python.mjs;
// `npm test` builds it first, so a missing one fails here): the GIL is off, the seed's three
// safety patterns hold with threads that really run at once, an adapter whose import enables
// the GIL is reported, and the bridge loses or repeats no reply under 16 threads and cancels.
// 3.13t has no grpcio: every pool here is on the local lane, whatever the suite's transport.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SnakepitError } from '../src/index.js';
import { WorkerConnection } from '../src/wire/workerConnection.js';
import { freeThreadedPython } from '../scripts/freeThreadedPython.js';
import { checkNoLeaks, createPit, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const here = path.dirname(fileURLToPath(import.meta.url));
const python = { executable: freeThreadedPython() };

type Warning = { kind: string; library?: string; message: string; workerId: string; pid?: number };

test('on 3.13t a thread worker runs without the GIL, and shared read-only, thread-local and locked state hold under 8 threads', async () => {
  const pit = await startPit({
    python,
    pools: [{ name: 'p', transport: 'local', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 8, adapter: 'free_threaded_adapters.Patterns' }],
  });
  const warnings: Warning[] = [];
  pit.on('worker:thread-safety-warning', (e) => warnings.push(e));
  assert.equal(pit.inspect().pools[0].workers[0].gilEnabled, false);
  assert.equal(await pit.execute('gil', {}, { pool: 'p' }), false, 'still off after calls');

  const CALLS = 4000;
  const results = (await Promise.all(Array.from({ length: CALLS }, (_, i) => pit.execute('work', { i }, { pool: 'p' })))) as { square: number; thread: number }[];
  results.forEach((r, i) => assert.equal(r.square, (i % 1000) ** 2, `call ${i} read the shared table`));
  assert.ok(new Set(results.map((r) => r.thread)).size > 1, 'the calls ran on several threads');
  const totals = (await pit.execute('totals', {}, { pool: 'p' })) as { counter: number; per_thread: number[] };
  assert.equal(totals.counter, CALLS, 'every locked increment counted once');
  assert.equal(totals.per_thread.reduce((a, b) => a + b, 0), CALLS, "each thread's own tally, summed, counts every call once");
  assert.deepEqual(warnings, []);
  await pit.stop();
});

/** Builds test/fixtures/needsGil/needs_gil.c for `interpreter` into a new folder, with gcc; once. */
let needsGilDir: string | undefined;
after(() => needsGilDir && rmSync(needsGilDir, { recursive: true, force: true }));
function buildNeedsGil(interpreter: string): string {
  if (needsGilDir) return needsGilDir;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'snakepit-needs-gil-'));
  const paths = spawnSync(interpreter, ['-c', 'import sysconfig; print(sysconfig.get_paths()["include"]); print(sysconfig.get_config_var("EXT_SUFFIX"))'], { encoding: 'utf8' });
  assert.equal(paths.status, 0, paths.stderr);
  const [include, suffix] = paths.stdout.trim().split('\n');
  const source = path.join(here, 'fixtures', 'needsGil', 'needs_gil.c');
  const cc = spawnSync('gcc', ['-shared', '-fPIC', `-I${include}`, '-o', path.join(dir, `needs_gil${suffix}`), source], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `gcc failed: ${cc.stderr}`);
  needsGilDir = dir;
  return dir;
}

test("an adapter whose import enables the GIL: the thread pool emits worker:thread-safety-warning naming the module; a process pool does not", async () => {
  const adapterEnv = { SNAKEPIT_TEST_NEEDS_GIL_DIR: buildNeedsGil(python.executable) };
  const warnings: Warning[] = [];
  const pit = createPit({
    python,
    pools: [
      { name: 't', transport: 'local', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 4, adapter: 'gil_adapters.NeedsGil', adapterEnv },
      { name: 'p', transport: 'local', workerProfile: 'process', poolSize: 1, adapter: 'gil_adapters.NeedsGil', adapterEnv },
    ],
  });
  pit.on('worker:thread-safety-warning', (e) => warnings.push(e));
  await pit.start();
  assert.equal(await pit.execute('answer', {}, { pool: 't' }), 42);
  assert.equal(await pit.execute('answer', {}, { pool: 'p' }), 42);
  const [thread, proc] = pit.inspect().pools;
  assert.equal(thread.workers[0].gilEnabled, true);
  assert.equal(proc.workers[0].gilEnabled, true);
  await waitFor(() => warnings.length > 0, 10_000, 'the warning');
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  const [warning] = warnings;
  assert.equal(warning.kind, 'gil_enabled');
  assert.equal(warning.library, 'needs_gil');
  assert.equal(warning.workerId, thread.workers[0].id);
  assert.equal(warning.pid, thread.workers[0].pid);
  assert.match(warning.message, /needs_gil.*without the GIL.*4 threads run Python one at a time/);
  await pit.stop();
});

test('with preload, a thread worker forked after the import that enabled the GIL emits the same warning', async () => {
  const adapterEnv = { SNAKEPIT_TEST_NEEDS_GIL_DIR: buildNeedsGil(python.executable) };
  const warnings: Warning[] = [];
  const pit = createPit({
    python,
    pools: [{ name: 'f', transport: 'local', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 4, adapter: 'gil_adapters.NeedsGil', adapterEnv, preload: true }],
  });
  pit.on('worker:thread-safety-warning', (e) => warnings.push(e));
  await pit.start();
  assert.equal(pit.inspect().pools[0].preload?.state, 'ready', 'the worker is a fork');
  assert.equal(await pit.execute('answer', {}, { pool: 'f' }), 42);
  await waitFor(() => warnings.length > 0, 10_000, 'the warning');
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.equal(warnings[0].library, 'needs_gil');
  assert.equal(warnings[0].workerId, pit.inspect().pools[0].workers[0].id);
  await pit.stop();
});

// A reply for a call Node no longer holds (answered, or never sent) is dropped by the
// connection without a trace; counting them here is how a duplicated reply shows.
function strayReplies(): { ids: number[]; restore: () => void } {
  const proto = WorkerConnection.prototype as unknown as { deliver(reply: { id: number }): void; pending: Map<number, unknown> };
  const deliver = proto.deliver;
  const ids: number[] = [];
  proto.deliver = function (this: typeof proto, reply: { id: number }) {
    if (!this.pending.has(reply.id)) ids.push(reply.id);
    deliver.call(this, reply);
  };
  return { ids, restore: () => { proto.deliver = deliver; } };
}

// 40,000 calls: about 4,000 cancels at random moments, 800 streams and 800 calls into Node, so
// every race (cancel before sending, while queued, while running, against the reply) is hit
// thousands of times. SNAKEPIT_HAMMER_CALLS=160000 is the longer run (about 50 s alone here).
const HAMMER_CALLS = Number(process.env.SNAKEPIT_HAMMER_CALLS || 40_000);

test(`16 threads × ${HAMMER_CALLS / 16} calls with random cancels on 3.13t: every call settles once, none runs twice, no reply is lost or repeated`, async () => {
  const THREADS = 16;
  const CALLS = HAMMER_CALLS;
  const pit = await startPit({
    python,
    pools: [{ name: 'h', transport: 'local', workerProfile: 'thread', poolSize: 1, threadsPerWorker: THREADS, adapter: 'free_threaded_adapters.Hammer' }],
  });
  pit.expose('twice', ({ x }) => 2 * (x as number));
  const strays = strayReplies();
  after(strays.restore);
  const pid = pit.inspect().pools[0].workers[0].pid;

  let next = 0;
  let resolved = 0;
  let aborted = 0;
  const started = performance.now();
  // One call of a random kind (unary, calling into Node, a stream under credit), one in ten
  // cancelled a random moment after it is made: before it is sent, while queued or running.
  const one = async (i: number) => {
    const roll = Math.random();
    const cancel = new AbortController();
    const cancelled = Math.random() < 0.1;
    if (cancelled) setTimeout(() => cancel.abort(), Math.random() * 20);
    const options = { pool: 'h', signal: cancel.signal };
    try {
      if (roll < 0.02) {
        const chunks: number[] = [];
        for await (const chunk of pit.stream('count', { i, n: 5 }, { ...options, highWaterMark: 2 })) chunks.push(chunk as number);
        assert.deepEqual(chunks, [0, 1, 2, 3, 4], `stream ${i}`);
      } else if (roll < 0.04) {
        assert.equal(await pit.execute('echo', { i, host: true }, options), 2 * i, `host call ${i}`);
      } else {
        // Mostly tiny calls, some long enough (≈ 1 ms) that cancels find them running.
        const spin = roll < 0.07 ? 20_000 : 20;
        assert.equal(await pit.execute('echo', { i, spin }, options), i, `call ${i}`);
      }
      resolved++;
    } catch (error) {
      if (!(cancelled && error instanceof SnakepitError && error.code === 'ABORTED')) throw error;
      aborted++;
    }
  };
  await Promise.all(Array.from({ length: 4 * THREADS }, async () => {
    while (next < CALLS) await one(next++);
  }));
  const seconds = (performance.now() - started) / 1000;
  console.log(`hammer on 3.13t: ${CALLS} calls (${aborted} aborted) on 1 worker × ${THREADS} threads in ${seconds.toFixed(1)} s`);

  assert.equal(resolved + aborted, CALLS);
  assert.ok(aborted > 0, 'some calls were cancelled');
  // A lost final reply would hold its slot for ever: every one comes back.
  await waitFor(() => pit.inspect().pools[0].workers[0].inFlight === 0, 30_000, 'every slot to be freed by its final reply');
  const ran = (await pit.execute('ran', {}, { pool: 'h' })) as { count: number; twice: number[] };
  assert.deepEqual(ran.twice, [], 'no call ran twice');
  assert.ok(ran.count >= resolved && ran.count <= CALLS, `${ran.count} calls ran, ${resolved} resolved`);
  assert.deepEqual(strays.ids, [], 'no reply for a call already answered');
  const worker = pit.inspect().pools[0].workers[0];
  assert.equal(worker.pid, pid, 'the same worker served every call');
  assert.equal(worker.restarts, 0);
  assert.equal(worker.gilEnabled, false);
  await pit.stop();
});

test('doctor on 3.13t: a free-threaded build with the GIL off; WARN naming the module when the adapter import enables it', async () => {
  const env = { ...process.env, SNAKEPIT_PYTHON: python.executable, SNAKEPIT_TEST_NEEDS_GIL_DIR: buildNeedsGil(python.executable) };
  const doctor = (args: string[]) =>
    new Promise<string>((resolve) => {
      execFile(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(here, '..', 'src', 'cli.ts'), 'doctor', ...args], { env, timeout: 60_000 }, (_error, stdout) => resolve(stdout));
    });
  const plain = await doctor(['--adapter', 'free_threaded_adapters.Patterns', '--python-path', path.join(here, 'adapters')]);
  assert.match(plain, /^ok +GIL +free-threaded build: the GIL is off after importing free_threaded_adapters.Patterns/m);
  const needsGil = await doctor(['--adapter', 'gil_adapters.NeedsGil', '--python-path', path.join(here, 'adapters')]);
  assert.match(needsGil, /^ok +adapter +gil_adapters.NeedsGil imports/m);
  assert.match(needsGil, /^WARN GIL +free-threaded build, but importing gil_adapters.NeedsGil enabled the GIL: needs_gil has not declared/m);
  assert.match(needsGil, /fix: use a build of needs_gil with free-threading support, or workerProfile 'process'/);
});
