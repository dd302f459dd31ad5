// Start-up: batches, time to ready, and adapters that cannot start.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Snakepit, SnakepitError } from '../src/index.js';
import { PythonProcess } from '../src/process/pythonProcess.js';
import { ADAPTER_DIRS, checkNoLeaks, createPit, isAlive, workerProcesses } from './helpers.js';

checkNoLeaks();

test('time to ready for 1 and 8 workers', async () => {
  for (const poolSize of [1, 8]) {
    const pit = createPit({ pools: [{ name: 'p', poolSize, adapter: 'sample_adapters.Calc', startupBatchSize: 8 }] });
    const started = performance.now();
    await pit.start();
    const ms = performance.now() - started;
    console.log(`time to ready, ${poolSize} worker(s): ${ms.toFixed(0)} ms`);
    assert.equal(pit.inspect().pools[0].workers.filter((w) => w.state === 'ready').length, poolSize);
    await pit.stop();
  }
});

test('two start-up batches are startupBatchDelayMs apart', async () => {
  const pit = createPit({
    pools: [{ name: 'b', poolSize: 4, adapter: 'sample_adapters.Calc', startupBatchSize: 2, startupBatchDelayMs: 600 }],
  });
  const batches: { batch: number; at: number; workerIds: string[] }[] = [];
  const starting = new Map<string, number>();
  pit.on('pool:batch', (e) => batches.push({ batch: e.batch, at: performance.now(), workerIds: e.workerIds }));
  pit.on('worker:starting', (e) => starting.set(e.workerId, performance.now()));
  await pit.start();
  assert.deepEqual(batches.map((b) => b.workerIds), [['b-1', 'b-2'], ['b-3', 'b-4']]);
  const gap = batches[1].at - batches[0].at;
  assert.ok(gap >= 590 && gap < 900, `batches ${gap.toFixed(0)} ms apart`);
  const workerGap = starting.get('b-3')! - starting.get('b-2')!;
  assert.ok(workerGap >= 590, `second batch's workers started ${workerGap.toFixed(0)} ms later`);
  await pit.stop();
});

async function startFailure(adapter: string, workerProfile: 'process' | 'thread' = 'process') {
  const pit = createPit({ pools: [{ name: 'broken', poolSize: 3, adapter, workerProfile }] });
  const seen = new Set<number>();
  pit.on('worker:starting', () => undefined);
  pit.on('worker:log', (e) => e.pid && seen.add(e.pid));
  const started = Date.now();
  try {
    await pit.start();
  } catch (error) {
    assert.ok(error instanceof SnakepitError);
    assert.equal(error.code, 'STARTUP_FAILED');
    assert.ok(Date.now() - started < 5000, 'start rejects within seconds');
    assert.deepEqual(workerProcesses([pit.runId]).filter((p) => isAlive(p.pid)), [], 'no process left behind');
    return error;
  }
  assert.fail('start() should have rejected');
}

test('an adapter whose __init__ raises rejects start with STARTUP_FAILED and the Python error', async () => {
  const error = await startFailure('sample_adapters.BrokenInit');
  assert.match(error.message, /RuntimeError: model file missing/);
  assert.match((error as any).details.pythonTraceback, /Traceback/);
});

test('an import error, a missing module and a missing class reject start, each with the interpreter, the path and the fix', async () => {
  const imports = (await startFailure('broken_import.Anything')).message;
  assert.match(imports, /not_a_real_module_xyz/);
  assert.match(imports, /To fix: the adapter imports "not_a_real_module_xyz", which this interpreter does not have: install it/);
  const missing = (await startFailure('no_such_module.Adapter')).message;
  assert.match(missing, /Interpreter: \S+python \(the project's \.venv exists\)/); // run from this checkout
  assert.match(missing, new RegExp(`Python path: ${ADAPTER_DIRS.join(':')}`));
  assert.match(missing, /To fix: Python cannot find the adapter's module "no_such_module": add the directory that holds no_such_module to python.pythonPath \(relative entries are resolved against the working directory/);
  assert.match((await startFailure('sample_adapters.NoSuchClass')).message, /NoSuchClass[\s\S]*To fix: check the class name/);
});

test('a worker start given up before its process exists spawns nothing', async () => {
  // The actors stop a failed pool's boots; one that had not reached spawn() yet must not start a process.
  const spawned: PythonProcess[] = [];
  const given = new AbortController();
  given.abort();
  const options = {
    executable: 'python3', workerId: 'w-1', pool: 'w', adapter: 'sample_adapters.Calc', profile: 'process', transport: 'local',
    threads: 1, threadSafetyChecks: false, idlePollMicros: 0, env: {}, pythonPath: ADAPTER_DIRS, socketDir: tmpdir(),
    runId: 'given-up', startupTimeoutMs: 10_000, maxMessageBytes: 1 << 20, onLog: () => undefined, onControl: () => undefined,
    onSpawn: (python: PythonProcess) => spawned.push(python),
  } as const;
  await assert.rejects(PythonProcess.launch(options, given.signal), (e: SnakepitError) => e.code === 'STARTUP_FAILED' && /cancelled/.test(e.message));
  assert.deepEqual(spawned, []);
});

test('an interpreter with nothing installed serves the local lane; transport grpc on it, or no interpreter at all, fails start with the fix', async () => {
  // A fresh virtualenv has the standard library only.
  const bare = mkdtempSync(path.join(tmpdir(), 'snakepit-bare-'));
  after(() => rmSync(bare, { recursive: true, force: true }));
  assert.equal(spawnSync('python3', ['-m', 'venv', '--without-pip', bare]).status, 0);
  const barePython = path.join(bare, 'bin', 'python');
  const local = createPit({ python: { executable: barePython }, pools: [{ name: 'x', poolSize: 1, adapter: 'sample_adapters.Calc', transport: 'local' }] });
  try {
    await local.start();
    assert.equal(await local.execute('add', { a: 2, b: 3 }), 5);
  } finally {
    await local.stop();
  }
  for (const [executable, transport, fix] of [
    [barePython, 'grpc', /To fix: transport 'grpc' needs grpcio, which this interpreter lacks: run `npx snakepit setup --grpc`/],
    ['/nonexistent/bin/python', 'local', /To fix: there is no interpreter at \/nonexistent\/bin\/python: run `npx snakepit setup`/],
  ] as const) {
    const pit = createPit({ python: { executable }, pools: [{ name: 'x', poolSize: 1, adapter: 'sample_adapters.Calc', transport }] });
    const error = await pit.start().then(() => assert.fail('start() should have rejected'), (e: SnakepitError) => e);
    assert.equal(error.code, 'STARTUP_FAILED');
    assert.ok(error.message.includes(`Interpreter: ${executable} (python.executable is configured)`), error.message);
    assert.match(error.message, fix);
  }
});

test('invalid configuration is INVALID_CONFIG naming the bad key', () => {
  const attempt = (config: unknown) => {
    try {
      new Snakepit(config as any);
    } catch (error) {
      assert.ok(error instanceof SnakepitError);
      assert.equal(error.code, 'INVALID_CONFIG');
      return error.message;
    }
    assert.fail('expected INVALID_CONFIG');
  };
  assert.match(attempt({ pools: [{ name: 'p', poolSize: 0, adapter: 'a.B' }] }), /pools\[0\]\.poolSize/);
  assert.match(attempt({ pools: [{ name: 'p', adapter: 'a.B', poolSzie: 2 }] }), /poolSzie/);
  assert.match(attempt({ pools: [{ name: 'p' }] }), /pools\[0\]\.adapter/);
  assert.match(attempt({ pools: [{ name: 'p', adapter: 'a.B', workerProfile: 'fork' }] }), /workerProfile/);
  assert.match(attempt({ pools: [] }), /at least one pool/);
  assert.match(attempt({ pools: [{ name: 'p', adapter: 'a.B' }, { name: 'p', adapter: 'a.B' }] }), /duplicate pool name/);
  assert.match(attempt({ pools: [{ name: 'p', adapterArgs: ['--adapter'] }] }), /adapterArgs/);
});

test("the seed's adapterArgs form names the adapter", async () => {
  const pit = createPit({ pools: [{ name: 'seed', poolSize: 1, adapterArgs: ['--adapter', 'sample_adapters.Calc'] }] });
  await pit.start();
  assert.equal(await pit.execute('add', { a: 40, b: 2 }, { pool: 'seed' }), 42);
  await pit.stop();
});

test('a worker that never becomes ready fails start() with STARTUP_FAILED after startupTimeoutMs, leaving nothing alive', async () => {
  const pit = createPit({
    pools: [{ name: 'slow', poolSize: 2, adapter: 'fault_adapters.Blockable', adapterEnv: { BOOT_DELAY_S: '600' }, startupTimeoutMs: 1500 }],
  });
  const started = performance.now();
  const error = await pit.start().then(() => assert.fail('start() should have rejected'), (e) => e);
  const ms = performance.now() - started;
  console.log(`never ready: start() rejected ${ms.toFixed(0)} ms after it began (startupTimeoutMs 1500)`);
  assert.ok(error instanceof SnakepitError);
  assert.equal(error.code, 'STARTUP_FAILED');
  assert.match(error.message, /1500 ms/);
  assert.ok(ms >= 1400, 'not before the timeout');
  assert.ok(ms < 15_000, `rejected ${ms.toFixed(0)} ms after start`);
  assert.deepEqual(workerProcesses([pit.runId]).filter((p) => isAlive(p.pid)), [], 'no process left behind');
  await pit.stop();
});
