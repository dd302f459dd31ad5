// The run registry trusts nothing it did not write: records and sockets live in a per-user
// private directory, unsafe ids and directories are refused, planted or malformed records
// are ignored, only our uid's orphaned workers of a dead run are killed, and what dead runs
// leave behind is cleared without touching anything else.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Snakepit, SnakepitError } from '../src/index.js';
import { WORKER_MAIN } from '../src/process/pythonProcess.js';
import { RunRegistry } from '../src/registry/runRegistry.js';
import { checkNoLeaks, createPit, isAlive, startPit, waitFor } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const NOBODY = 65534;
// Records, private directories and reaping do not depend on the transport; the socket-path tests
// below name grpc, the rest the local lane.
const calc = [{ name: 'calc', poolSize: 1, adapter: 'sample_adapters.Calc', transport: 'local' as const }];

// Every test of this file works in its own private runtime directory.
const scratch = mkdtempSync(path.join(os.tmpdir(), 'snakepit-registry-test-'));
const runtime = path.join(scratch, 'runtime');
mkdirSync(runtime, { mode: 0o700 });
process.env.XDG_RUNTIME_DIR = runtime;
const base = path.join(runtime, 'snakepit');
const runsDir = (instanceId: string) => path.join(base, 'runs', instanceId);
const recordFile = (instanceId: string, runId: string) => path.join(runsDir(instanceId), `${runId}.json`);
const socketDir = (runId: string) => path.join(base, 'sock', runId);

const newRunId = () => randomBytes(6).toString('hex');
const uniqueId = (name: string) => `${name}-${process.pid}-${randomBytes(2).toString('hex')}`;
/** The PID of a process that has exited and been reaped. */
const deadPid = () => spawnSync('true').pid!;

function plant(file: string, content: string | Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, content, { mode: 0o600 });
}

function plantRecord(instanceId: string, runId: string, record: unknown): void {
  plant(recordFile(instanceId, runId), JSON.stringify(record));
}

/** Files and their contents under `dir`, to show they were left exactly as they were. */
function snapshot(files: string[]): Record<string, string> {
  return Object.fromEntries(files.map((file) => [file, readFileSync(file, 'utf8')]));
}

// Processes that look like a worker of `runId` to /proc (command line and spawner), started by this file.
const decoys: ChildProcess[] = [];
function decoy(runId: string, owner: number, uid?: number): number {
  const child = spawn('/usr/bin/python3', ['-c', 'import time; time.sleep(300)', WORKER_MAIN, '--run-id', runId], {
    detached: true,
    stdio: 'ignore',
    cwd: '/',
    env: { PATH: process.env.PATH, SNAKEPIT_OWNER_PID: String(owner) },
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  decoys.push(child);
  return child.pid!;
}

const warningsDuring = async <T>(action: () => Promise<T>): Promise<{ result: T; warnings: (Error & { code?: string })[] }> => {
  const warnings: (Error & { code?: string })[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    const result = await action();
    await new Promise((resolve) => setImmediate(resolve)); // warnings arrive on the next tick
    return { result, warnings: warnings.filter((w) => w.code === 'SNAKEPIT_REGISTRY') };
  } finally {
    process.off('warning', onWarning);
  }
};

async function withEnv<T>(env: Record<string, string | undefined>, action: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(env);
  try {
    return await action();
  } finally {
    apply(saved);
  }
}

/** The error start() fails with; fails the test if it starts. Also checks no worker was left. */
async function startFailure(pit: Snakepit): Promise<SnakepitError> {
  const error = await pit.start().then(
    () => assert.fail('start() should have failed'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof SnakepitError, `a coded error, got ${String(error)}`);
  await pit.stop();
  return error;
}

test('an unsafe instanceId is refused with INVALID_CONFIG, by the configuration and by the registry itself', async () => {
  const foreign = path.join(runtime, 'app-state.json');
  writeFileSync(foreign, '{"precious":true}');
  const inBase = path.join(base, 'app-state.json');
  plant(inBase, '{"precious":true}');
  const before = snapshot([foreign, inBase]);
  for (const instanceId of ['..', '../x', '.', 'a/b', '', 'x'.repeat(65), 'a b', '..\\x']) {
    let error: unknown;
    try {
      await createPit({ instanceId, pools: calc }).start();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof SnakepitError && error.code === 'INVALID_CONFIG', `instanceId ${JSON.stringify(instanceId)}: ${String(error)}`);
    assert.throws(() => RunRegistry.open(instanceId, newRunId()), (e: SnakepitError) => {
      assert.equal(e.code, 'INVALID_CONFIG');
      assert.match(e.message, /instanceId .* is not allowed/);
      return true;
    });
  }
  assert.deepEqual(snapshot([foreign, inBase]), before);
  assert.deepEqual(readdirSync(runtime).sort(), ['app-state.json', 'snakepit']);
});

test('malformed records are ignored with one warning and left in place; start and stop succeed', async () => {
  const instanceId = uniqueId('malformed');
  const dir = runsDir(instanceId);
  const foreignTarget = path.join(scratch, 'linked-target.json');
  writeFileSync(foreignTarget, JSON.stringify({ runId: 'not ours', precious: true }));
  const bad: Record<string, string | Buffer> = {
    emptyObject: '{}',
    garbage: randomBytes(300),
    ownerAsString: JSON.stringify({ ownerPid: '12345', pids: [] }),
    pidsNotArray: JSON.stringify({ ownerPid: deadPid(), pids: 'x' }),
    fractionalPid: JSON.stringify({ ownerPid: deadPid(), pids: [1.5] }),
    negativePid: JSON.stringify({ ownerPid: deadPid(), pids: [-1] }),
    pidOne: JSON.stringify({ ownerPid: deadPid(), pids: [1] }),
    array: '[1,2,3]',
    nullRecord: 'null',
    otherRunId: JSON.stringify({ runId: newRunId(), ownerPid: deadPid(), pids: [] }),
    huge: JSON.stringify({ ownerPid: deadPid(), pids: [], pad: ' '.repeat(2 * 1024 * 1024) }),
  };
  const files: string[] = [];
  for (const content of Object.values(bad)) {
    const runId = newRunId();
    // Records that get the run id right, so only the broken field makes them malformed.
    const text = typeof content === 'string' && content.startsWith('{"ownerPid"') ? `{"runId":"${runId}",${content.slice(1)}` : content;
    plant(recordFile(instanceId, runId), text);
    files.push(recordFile(instanceId, runId));
  }
  const link = recordFile(instanceId, newRunId());
  symlinkSync(foreignTarget, link);
  const fifo = recordFile(instanceId, newRunId());
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const directory = recordFile(instanceId, newRunId());
  mkdirSync(directory);
  // Names that are not ours are not even read.
  const foreignNames = ['app-state.json', 'ABCDEF123456.json', 'abcdef123456.json.bak', 'notes.txt'].map((name) => path.join(dir, name));
  for (const file of foreignNames) plant(file, '{}');
  const contents = snapshot([...files, ...foreignNames, foreignTarget]);

  const { result: pit, warnings } = await warningsDuring(() => startPit({ instanceId, pools: calc }));
  assert.equal(await pit.execute('add', { a: 1, b: 2 }), 3);
  assert.equal(warnings.length, 1, warnings.map((w) => w.message).join('\n'));
  assert.match(warnings[0].message, new RegExp(`left ${files.length + 3} file\\(s\\) of its private directory alone`));
  assert.match(warnings[0].message, /and 4 more\.$/);
  assert.ok([...files, link, fifo, directory].filter((file) => warnings[0].message.includes(file)).length === 10, 'ten files are named');
  await pit.stop();
  // Left in place, they are not reported again by later starts.
  const again = await warningsDuring(() => startPit({ instanceId, pools: calc }));
  assert.deepEqual(again.warnings, []);
  await again.result.stop();

  assert.deepEqual(snapshot([...files, ...foreignNames, foreignTarget]), contents);
  assert.ok(lstatSync(link).isSymbolicLink() && lstatSync(fifo).isFIFO() && lstatSync(directory).isDirectory());
  assert.ok(!existsSync(recordFile(instanceId, pit.runId)), 'the run removes its own record at stop');
  // Keeps the rest of this file's output free of the warning about them.
  for (const file of [...files, link, fifo, directory]) rmSync(file, { recursive: true });
});

test("a planted record cannot make start kill a live instance's worker", async () => {
  const instanceId = uniqueId('live');
  const live = await startPit({ instanceId, pools: calc });
  const worker = live.inspect().pools[0].workers[0].pid!;
  // A dead run claiming the live worker: its command line carries another run id.
  const claimant = newRunId();
  plantRecord(instanceId, claimant, { runId: claimant, ownerPid: deadPid(), pids: [worker] });
  // The live run's own record rewritten to say its owner is dead (the run id is on the worker's command line).
  plantRecord(instanceId, live.runId, { runId: live.runId, ownerPid: deadPid(), pids: [worker] });

  for (let round = 0; round < 3; round++) {
    const second = await startPit({ instanceId, pools: calc });
    assert.deepEqual(second.survivorsKilled, []);
    assert.equal(await second.execute('add', { a: 2, b: 2 }), 4);
    await second.stop();
    assert.ok(isAlive(worker), 'the live worker was not touched');
    assert.equal(live.inspect().pools[0].workers[0].pid, worker);
    assert.equal(await live.execute('add', { a: 1, b: round }), 1 + round);
    assert.ok(existsSync(recordFile(instanceId, live.runId)), "the live run's record is kept");
    assert.ok(existsSync(socketDir(live.runId)), "the live run's socket directory is kept");
  }
  // A record of a dead run is cleared once nothing of that run lives.
  assert.ok(!existsSync(recordFile(instanceId, claimant)));
  await live.stop();
  assert.ok(!existsSync(recordFile(instanceId, live.runId)) && !existsSync(socketDir(live.runId)));
});

test('only our uid\'s orphaned workers of a dead run are killed: never another uid\'s, never one whose spawner lives', async () => {
  const instanceId = uniqueId('uid');
  const runId = newRunId();
  const gone = deadPid();
  const ours = decoy(runId, gone);
  const otherUid = decoy(runId, gone, NOBODY);
  const spawnerAlive = decoy(runId, process.pid);
  await waitFor(() => [ours, otherUid, spawnerAlive].every((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(runId)), 10_000, 'the decoys to start');
  assert.equal(readFileSync(`/proc/${otherUid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)?.[1], String(NOBODY));
  plantRecord(instanceId, runId, { runId, ownerPid: gone, pids: [ours, otherUid] });
  const spawnerRun = newRunId();
  plantRecord(instanceId, spawnerRun, { runId: spawnerRun, ownerPid: gone, pids: [spawnerAlive] });

  const pit = await startPit({ instanceId, pools: calc });
  assert.deepEqual(pit.survivorsKilled, [ours]);
  await waitFor(() => !isAlive(ours), 5000, 'our orphan to die');
  assert.ok(isAlive(otherUid), "another uid's process is never killed");
  assert.ok(isAlive(spawnerAlive), 'a process whose spawner lives is never killed');
  assert.ok(!existsSync(recordFile(instanceId, runId)), 'the dead run was settled');
  await pit.stop();
});

test('an unsafe private directory is refused with INVALID_CONFIG saying what is wrong and what to do', async () => {
  const cases: { name: string; make: (dir: string) => void; problem: RegExp }[] = [
    { name: 'mode 0777', make: (dir) => (mkdirSync(dir), chmodSync(dir, 0o777)), problem: /has mode 777, not 700/ },
    { name: 'mode 0750', make: (dir) => mkdirSync(dir, { mode: 0o750 }), problem: /has mode 750, not 700/ },
    { name: 'a symlink', make: (dir) => symlinkSync(mkdtempSync(path.join(scratch, 'elsewhere-')), dir), problem: /is a symbolic link/ },
    { name: 'another owner', make: (dir) => (mkdirSync(dir, { mode: 0o700 }), chownSync(dir, NOBODY, NOBODY)), problem: /is owned by uid 65534/ },
    { name: 'a file', make: (dir) => writeFileSync(dir, ''), problem: /is not a directory/ },
  ];
  for (const { name, make, problem } of cases) {
    const parent = mkdtempSync(path.join(scratch, 'xdg-'));
    const dir = path.join(parent, 'snakepit');
    make(dir);
    const before = lstatSync(dir);
    const pit = createPit({ pools: calc });
    const error = await withEnv({ XDG_RUNTIME_DIR: parent }, () => startFailure(pit));
    assert.equal(error.code, 'INVALID_CONFIG', name);
    assert.ok(error.message.includes(dir), `${name}: ${error.message}`);
    assert.match(error.message, problem);
    assert.match(error.message, /set TMPDIR \(or XDG_RUNTIME_DIR\)/);
    const now = lstatSync(dir);
    assert.deepEqual([now.mode, now.uid, now.ino], [before.mode, before.uid, before.ino], `${name}: left as it was`);
    if (now.isDirectory() && !now.isSymbolicLink()) assert.deepEqual(readdirSync(dir), [], `${name}: nothing written into it`);
  }

  // A directory inside the base is checked too.
  const parent = mkdtempSync(path.join(scratch, 'xdg-'));
  mkdirSync(path.join(parent, 'snakepit'), { mode: 0o700 });
  mkdirSync(path.join(parent, 'snakepit', 'runs'), { mode: 0o777 });
  chmodSync(path.join(parent, 'snakepit', 'runs'), 0o777);
  const error = await withEnv({ XDG_RUNTIME_DIR: parent }, () => startFailure(createPit({ pools: calc })));
  assert.ok(error.code === 'INVALID_CONFIG' && error.message.includes(path.join(parent, 'snakepit', 'runs')), error.message);
});

test('without a usable XDG_RUNTIME_DIR the base is <TMPDIR>/snakepit-<uid>, read at start and checked the same way', async () => {
  const tmp = mkdtempSync(path.join(scratch, 'tmp-'));
  const fallback = path.join(tmp, `snakepit-${process.getuid!()}`);
  const notPrivate = mkdtempSync(path.join(scratch, 'shared-runtime-'));
  chmodSync(notPrivate, 0o755);
  for (const xdg of [undefined, path.join(scratch, 'missing'), notPrivate, 'relative/dir']) {
    const pit = createPit({ pools: calc });
    await withEnv({ XDG_RUNTIME_DIR: xdg, TMPDIR: tmp }, () => pit.start());
    assert.equal((lstatSync(fallback).mode & 0o777).toString(8), '700');
    assert.ok(existsSync(path.join(fallback, 'sock', pit.runId)), `XDG_RUNTIME_DIR=${xdg}: sockets under ${fallback}`);
    assert.equal(await pit.execute('add', { a: 1, b: 1 }), 2);
    await pit.stop();
    assert.ok(!existsSync(path.join(fallback, 'sock', pit.runId)));
  }
  assert.deepEqual(readdirSync(notPrivate), [], 'a shared runtime directory is not written to');

  chmodSync(fallback, 0o777);
  const error = await withEnv({ XDG_RUNTIME_DIR: undefined, TMPDIR: tmp }, () => startFailure(createPit({ pools: calc })));
  assert.equal(error.code, 'INVALID_CONFIG');
  assert.ok(error.message.includes(`${fallback}: it has mode 777`), error.message);
});

test('a socket directory too long for Unix socket paths fails start with INVALID_CONFIG naming it', async () => {
  const deep = path.join(mkdtempSync(path.join(scratch, 'long-')), 'd'.repeat(60));
  mkdirSync(deep, { mode: 0o700 });
  const pit = createPit({ pools: calc });
  const error = await withEnv({ XDG_RUNTIME_DIR: undefined, TMPDIR: deep }, () => startFailure(pit));
  assert.equal(error.code, 'INVALID_CONFIG');
  assert.ok(error.message.includes(path.join(deep, `snakepit-${process.getuid!()}`, 'sock', pit.runId)), error.message);
  assert.match(error.message, /at most 107.*Set TMPDIR \(or XDG_RUNTIME_DIR\) to a shorter directory/);
  assert.deepEqual(readdirSync(deep), [], 'nothing was created');
});

test('socket paths that are already taken are skipped and left alone; long pool names keep paths short', async () => {
  // The socket names of this process count up; the next ones can be told from the last one.
  // Over gRPC the sockets stay for the workers' life (the local lane removes its socket once
  // Node is connected), so they can be looked at.
  const first = await startPit({ pools: [{ name: `a-very-long-pool-name-${'p'.repeat(80)}`, poolSize: 1, adapter: 'sample_adapters.Calc', transport: 'grpc' }] });
  const [name] = readdirSync(socketDir(first.runId));
  assert.match(name, /^[0-9a-z]+\.sock$/);
  const next = (k: number) => `${(parseInt(name, 36) + k).toString(36)}.sock`;

  const pit = createPit({ pools: [{ name: 'calc', poolSize: 2, adapter: 'sample_adapters.Calc', transport: 'grpc' }] });
  const dir = socketDir(pit.runId);
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(path.join(dir, next(1)), 'a regular file');
  const server = net.createServer((socket) => {
    connections++;
    socket.destroy();
  });
  let connections = 0;
  await new Promise<void>((resolve) => server.listen(path.join(dir, next(2)), resolve));
  const target = path.join(scratch, 'socket-link-target');
  writeFileSync(target, 'precious');
  symlinkSync(target, path.join(dir, next(3)));
  symlinkSync(path.join(scratch, 'nowhere'), path.join(dir, next(4)));
  try {
    await pit.start();
    assert.deepEqual(await Promise.all([1, 2, 3, 4].map((a) => pit.execute('add', { a, b: 0 }))), [1, 2, 3, 4]);
    assert.equal(readFileSync(path.join(dir, next(1)), 'utf8'), 'a regular file');
    assert.ok(lstatSync(path.join(dir, next(2))).isSocket(), 'the foreign socket is still there');
    assert.equal(readFileSync(target, 'utf8'), 'precious');
    assert.ok(lstatSync(path.join(dir, next(4))).isSymbolicLink());
    assert.equal(connections, 0, 'no worker took over the foreign socket');
    assert.ok(readdirSync(dir).length >= 6, 'the workers bound sockets of their own');
  } finally {
    server.close();
  }
  await Promise.all([pit.stop(), first.stop()]);
});

test('what dead runs left behind is removed on the next start, and nothing else', async () => {
  const instanceId = uniqueId('stale');
  const otherInstance = uniqueId('other');
  const emptyInstance = uniqueId('empty');
  const live = await startPit({ instanceId: uniqueId('bystander'), pools: calc });
  const staleSocketDir = (runId: string) => plant(path.join(socketDir(runId), '1.sock'), '');
  const dead = newRunId();
  plantRecord(instanceId, dead, { runId: dead, ownerPid: deadPid(), pids: [deadPid()] });
  staleSocketDir(dead);
  const deadOther = newRunId();
  plantRecord(otherInstance, deadOther, { runId: deadOther, ownerPid: deadPid(), pids: [] });
  staleSocketDir(deadOther);
  mkdirSync(runsDir(emptyInstance), { mode: 0o700 });
  const orphanedSocketDir = newRunId();
  staleSocketDir(orphanedSocketDir);
  // A dead run of another instance that still has an orphaned worker: left for that instance.
  const withOrphan = newRunId();
  const orphan = decoy(withOrphan, deadPid());
  await waitFor(() => isAlive(orphan) && readFileSync(`/proc/${orphan}/cmdline`, 'utf8').includes(withOrphan), 10_000, 'the orphan to start');
  const orphanInstance = uniqueId('orphan');
  plantRecord(orphanInstance, withOrphan, { runId: withOrphan, ownerPid: deadPid(), pids: [orphan] });
  staleSocketDir(withOrphan);
  const foreign = [
    path.join(base, 'app-state.json'),
    path.join(base, 'runs', 'app-state.json'),
    path.join(runsDir(instanceId), 'app-state.json'),
    path.join(base, 'sock', 'app-state.json'),
    path.join(base, 'sock', 'not-a-run', 'app-state.json'),
    path.join(base, 'sock', 'ABCDEF123456', 'app-state.json'),
  ];
  for (const file of foreign) plant(file, 'precious');

  const pit = await startPit({ instanceId, pools: calc });
  assert.deepEqual(pit.survivorsKilled, []);
  for (const runId of [dead, deadOther, orphanedSocketDir]) assert.ok(!existsSync(socketDir(runId)), `socket directory of ${runId} removed`);
  assert.ok(!existsSync(recordFile(instanceId, dead)) && !existsSync(recordFile(otherInstance, deadOther)));
  assert.ok(!existsSync(runsDir(otherInstance)) && !existsSync(runsDir(emptyInstance)), 'emptied instance directories removed');
  assert.ok(isAlive(orphan) && existsSync(recordFile(orphanInstance, withOrphan)) && existsSync(socketDir(withOrphan)));
  assert.ok(existsSync(recordFile(live.config.instanceId!, live.runId)) && existsSync(socketDir(live.runId)), 'a live run is kept');
  assert.equal(await live.execute('add', { a: 1, b: 1 }), 2);
  for (const file of foreign) assert.equal(readFileSync(file, 'utf8'), 'precious', `${file} untouched`);
  await pit.stop();

  // The orphan's own instance kills it and clears its run.
  const owner = await startPit({ instanceId: orphanInstance, pools: calc });
  assert.deepEqual(owner.survivorsKilled, [orphan]);
  await waitFor(() => !isAlive(orphan), 5000, 'the orphan to be killed');
  assert.ok(!existsSync(recordFile(orphanInstance, withOrphan)) && !existsSync(socketDir(withOrphan)));
  await Promise.all([owner.stop(), live.stop()]);
});

const fixtureRunIds: string[] = [];

/** A separate Node process running one instance; resolves once it is serving. */
async function runInFixture(instanceId: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'holdCalc.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env, SNAKEPIT_INSTANCE_ID: instanceId },
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    exited.then((code) => reject(new Error(`fixture exited with ${code} before it was serving`)));
  });
  const run = JSON.parse(line) as { runId: string; pids: number[] };
  fixtureRunIds.push(run.runId);
  return { ...run, child, exited };
}

test('a Node process that exits without stop() takes its workers, record and socket directory with it', async () => {
  const instanceId = uniqueId('exits');
  const { runId, pids, exited } = await runInFixture(instanceId, { EXIT_AFTER_START: '1' });
  assert.equal(await exited, 0);
  await waitFor(() => pids.every((pid) => !isAlive(pid)), 5000, 'the workers to be gone');
  assert.ok(!existsSync(recordFile(instanceId, runId)) && !existsSync(socketDir(runId)));
});

test('runs whose Node process was SIGKILLed leave nothing behind after the next start', async () => {
  const instanceId = uniqueId('killed');
  const runs = await Promise.all([1, 2, 3].map(() => runInFixture(instanceId)));
  // All are up before any dies (a start would otherwise clear an earlier one's run at once).
  for (const { child } of runs) child.kill('SIGKILL');
  // Their workers notice their parent died and exit on their own.
  const pids = runs.flatMap((run) => run.pids);
  await waitFor(() => pids.every((pid) => !isAlive(pid)), 15_000, 'the orphaned workers to exit');
  for (const { runId } of runs) assert.ok(existsSync(recordFile(instanceId, runId)) && existsSync(socketDir(runId)), 'left behind');

  const pit = await startPit({ instanceId, pools: calc });
  for (const { runId, child } of runs) {
    const record = existsSync(recordFile(instanceId, runId)) ? readFileSync(recordFile(instanceId, runId), 'utf8') : 'removed';
    const sockets = existsSync(socketDir(runId)) ? readdirSync(socketDir(runId)).join(', ') || 'empty' : 'removed';
    const state = (pid: number | undefined) => (pid && existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone');
    assert.ok(
      record === 'removed' && sockets === 'removed',
      `${runId} cleared: record ${record}; socket dir ${sockets}; owner ${child.pid} ${state(child.pid)}; workers ${runs.find((r) => r.runId === runId)!.pids.map((pid) => `${pid} ${state(pid)}`).join(', ')}`,
    );
  }
  assert.deepEqual(readdirSync(runsDir(instanceId)), [`${pit.runId}.json`]);
  await pit.stop();
  assert.deepEqual(readdirSync(runsDir(instanceId)), []);
});

after(() => {
  for (const child of decoys) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

checkNoLeaks(() => fixtureRunIds);
