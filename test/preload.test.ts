// Pool option `preload`: a fork server per pool imports the adapter's module once and forks the
// pool's workers from it. Real processes throughout: what the forks share and do not share, the
// refusal of a module that starts threads at import, the fork server's death and restart, and
// that neither it nor its forks outlive stop() or Node's SIGKILL.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Snakepit } from '../src/index.js';
import type { LiveWorkers } from '../src/supervision/liveWorkers.js';
import type { WorkerHandle } from '../src/process/workerHandle.js';
import { checkNoLeaks, createPit, isAlive, sleep, startPit, waitFor, workerProcesses, workerToken } from './helpers.js';

const orphanRunIds: string[] = [];
checkNoLeaks(() => orphanRunIds);

interface Info {
  pid: number;
  loaded_in: number;
  preloaded_in: number;
  preload_calls: number;
  bumps: number;
}

type PreloadEvent = Parameters<Parameters<Snakepit['on']>[1]>[0] & { state?: string; pid?: number; restarts?: number; message?: string };

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function forkServerPid(pit: Snakepit, pool: string): number {
  const pid = pit.inspect().pools.find((p) => p.name === pool)?.preload?.pid;
  assert.ok(pid !== undefined, `pool ${pool} has a running fork server`);
  return pid;
}

function workerAddress(pit: Snakepit, pool: string, workerId: string): string {
  const live = (pit as unknown as { live: LiveWorkers }).live;
  return (live.get(pool, workerId) as WorkerHandle).ready.address;
}

function preloadEvents(pit: Snakepit): PreloadEvent[] {
  const seen: PreloadEvent[] = [];
  pit.on('pool:preload', (e) => seen.push(e));
  return seen;
}

test('preload is a boolean, off by default, and refused for a remote pool', () => {
  const refused = (pool: object, message: RegExp) =>
    assert.throws(
      () => new Snakepit({ pools: [{ name: 'x', ...pool }] }),
      (e: Error & { code?: string }) => e.code === 'INVALID_CONFIG' && message.test(e.message),
    );
  refused({ adapter: 'a.B', preload: 'yes' }, /pools\[0\]\.preload/);
  refused({ workerProfile: 'remote', preload: true, endpoints: ['127.0.0.1:1'], token: 't', tls: false }, /preload: does not apply to workerProfile "remote"/);
  assert.equal(new Snakepit({ pools: [{ name: 'x', adapter: 'a.B' }] }).config.pools[0].preload, false);
});

test('workers forked from the fork server share what it loaded, and not their sockets, tokens or module state', async () => {
  for (const [profile, adapter] of [['process', 'preload_adapters.Preloaded'], ['thread', 'preload_adapters.ThreadedPreloaded']] as const) {
    const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, adapter, workerProfile: profile, threadsPerWorker: 1, preload: true }] });
    const server = forkServerPid(pit, 'p');
    assert.equal(pit.inspect().pools[0].preload?.state, 'ready');
    const workers = pit.inspect().pools[0].workers;
    for (const worker of workers) {
      assert.equal(parentOf(worker.pid!), server, `${profile}: worker ${worker.id} is a fork of the fork server`);
    }
    // Two calls at once run one on each worker (each runs one call at a time).
    const both = <T>(tool: string) => Promise.all([0, 1].map(() => pit.execute<T>(tool, { hold: 0.3 })));
    const bumped = await both<{ pid: number; bumps: number }>('bump');
    assert.equal(new Set(bumped.map((b) => b.pid)).size, 2, `${profile}: the two bumps ran on both workers`);
    // Module state written in one worker is not seen in the other.
    assert.deepEqual(bumped.map((b) => b.bumps), [1, 1], `${profile}: each worker counts its own bumps`);
    const infos = await both<Info>('info');
    assert.equal(new Set(infos.map((i) => i.pid)).size, 2);
    for (const info of infos) {
      assert.equal(info.bumps, 1, `${profile}: worker ${info.pid} saw its own bump only`);
      assert.equal(info.loaded_in, server, `${profile}: the module was imported in the fork server`);
      assert.equal(info.preloaded_in, server, `${profile}: preload() ran in the fork server`);
      assert.equal(info.preload_calls, 1, `${profile}: preload() ran once`);
    }
    const tokens = workers.map((w) => workerToken(pit, w.id));
    assert.notEqual(tokens[0], tokens[1]);
    const addresses = workers.map((w) => workerAddress(pit, 'p', w.id));
    assert.notEqual(addresses[0], addresses[1]);
    for (const worker of workers) {
      const args = readFileSync(`/proc/${worker.pid}/cmdline`, 'utf8');
      for (const token of tokens) assert.ok(!args.includes(token), 'no token on a command line');
    }
    await pit.stop();
  }
});

test('a recycle and a restart are forks of the same fork server; preload() does not run again', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'preload_adapters.Preloaded', preload: true }] });
  const server = forkServerPid(pit, 'p');
  const first = pit.inspect().pools[0].workers[0];
  // A fork's output is its own, on its own links: attributed to it, not to the fork server.
  const logs: string[] = [];
  pit.on('worker:log', (e) => logs.push(`${e.workerId} ${e.pid} ${e.stream} ${e.line}`));
  const said = await pit.execute<number>('say', { text: 'hello' });
  await waitFor(() => logs.length >= 2, 5000, 'both lines');
  assert.deepEqual(logs.sort(), [`${first.id} ${said} stderr err: hello`, `${first.id} ${said} stdout out: hello`]);
  await pit.recycleWorker(first.id);
  const recycled = await pit.execute<Info>('info', {});
  assert.notEqual(recycled.pid, first.pid);
  assert.equal(parentOf(recycled.pid), server);
  assert.equal(recycled.preload_calls, 1);
  const restarted = once(pit as never, 'worker:ready');
  process.kill(recycled.pid, 'SIGKILL');
  await restarted;
  const info = await pit.execute<Info>('info', {});
  assert.notEqual(info.pid, recycled.pid);
  assert.equal(parentOf(info.pid), server);
  assert.equal(info.preload_calls, 1);
  await pit.stop();
});

test('a frozen forked worker is found by its heartbeats, killed and replaced by a fork', async () => {
  const heartbeat = { enabled: true, pingIntervalMs: 300, timeoutMs: 500, maxMissedHeartbeats: 2 };
  const pit = createPit({ pools: [{ name: 'p', poolSize: 2, adapter: 'preload_adapters.Preloaded', preload: true, heartbeat }] });
  const crashes: { reason: string; signal: string | null }[] = [];
  pit.on('worker:crashed', (e) => crashes.push({ reason: e.reason, signal: e.signal }));
  await pit.start();
  const server = forkServerPid(pit, 'p');
  const frozen = pit.inspect().pools[0].workers[0];
  process.kill(frozen.pid!, 'SIGSTOP');
  const replaced = await waitFor(() => {
    const w = pit.inspect().pools[0].workers.find((x) => x.id === frozen.id);
    return w && w.state === 'ready' && w.pid !== frozen.pid ? w : undefined;
  }, 15_000, 'a replacement');
  assert.deepEqual(crashes, [{ reason: 'heartbeat', signal: 'SIGKILL' }], 'its exit status came from the fork server');
  assert.ok(!isAlive(frozen.pid!));
  assert.equal(parentOf(replaced.pid!), server);
  await pit.stop();
});

test('a module that starts a thread at import is refused for preloading with one event, and the pool serves by spawning', async () => {
  const pit = createPit({ pools: [{ name: 'p', poolSize: 2, adapter: 'threads_at_import_adapters.ThreadsAtImport', preload: true }] });
  const events = preloadEvents(pit);
  await pit.start();
  assert.equal(events.length, 1, JSON.stringify(events));
  const [refused] = events;
  assert.equal(refused.state, 'refused');
  assert.match(refused.message!, /importing adapter threads_at_import_adapters\.ThreadsAtImport left 1 other thread\(s\) running \(started-at-import\)/);
  assert.match(refused.message!, /Start threads in the adapter's __init__/);
  assert.match(refused.message!, /preload: false/);
  const preload = pit.inspect().pools[0].preload!;
  assert.equal(preload.state, 'refused');
  assert.equal(preload.pid, undefined);
  const pids = await Promise.all([0, 1, 2, 3].map(() => pit.execute<number>('pid', {})));
  for (const pid of pids) assert.equal(parentOf(pid), process.pid, 'the worker was spawned by Node');
  await pit.stop();
  assert.equal(events.length, 1, 'a refused fork server stays refused: no further event');
});

test('the fork server killed with SIGKILL while workers serve loses no call, and comes back', async () => {
  const pit = createPit({ pools: [{ name: 'p', poolSize: 2, adapter: 'preload_adapters.Preloaded', preload: true }] });
  const events = preloadEvents(pit);
  await pit.start();
  const server = forkServerPid(pit, 'p');
  const before = pit.inspect().pools[0].workers.map((w) => w.pid!);
  let stop = false;
  const served: number[] = [];
  const caller = (async () => {
    while (!stop) served.push(await pit.execute<number>('sleep', { seconds: 0.01 }));
  })();
  const calls = Promise.all([caller, (async () => {
    while (!stop) served.push(await pit.execute<number>('sleep', { seconds: 0.01 }));
  })()]);
  await waitFor(() => served.length >= 4, 10_000, 'calls to be served');
  process.kill(server, 'SIGKILL');
  const back = await waitFor(() => events.find((e) => e.state === 'ready' && e.restarts === 1), 15_000, 'the fork server to come back');
  assert.ok(events.some((e) => e.state === 'restarting'));
  assert.notEqual(back.pid, server);
  const servedAtReturn = served.length;
  await waitFor(() => served.length >= servedAtReturn + 4, 10_000, 'calls to go on being served');
  stop = true;
  await calls; // any call that failed would have rejected here
  assert.deepEqual(pit.inspect().pools[0].workers.map((w) => w.pid), before, 'no worker was lost with the fork server');
  assert.equal(pit.inspect().pools[0].preload?.restarts, 1);
  // A worker of the old fork server still dies like any other, and its replacement is a fork of the new one.
  const replaced = once(pit as never, 'worker:ready');
  process.kill(before[0], 'SIGKILL');
  await replaced;
  const now = pit.inspect().pools[0].workers.map((w) => w.pid!);
  const fresh = now.find((pid) => !before.includes(pid))!;
  assert.equal(parentOf(fresh), back.pid);
  await pit.stop();
  for (const pid of [back.pid!, ...now]) await waitFor(() => !isAlive(pid), 5000, `process ${pid} to be gone after stop()`);
});

test("Node's SIGKILL leaves neither the fork servers nor their forks; frozen ones are killed by the next start", async () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const instanceId = `preload-survivor-${process.pid}`;
  const start = () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'holdPools.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, SNAKEPIT_INSTANCE_ID: instanceId, SNAKEPIT_PRELOAD: '1' },
    });
    const line = new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`fixture exited early with ${code}`)));
    });
    return { child, line };
  };
  const killed = async (child: ReturnType<typeof start>['child']) => {
    const gone = once(child, 'exit');
    child.kill('SIGKILL');
    await gone;
  };

  const plain = start();
  const first = JSON.parse(await plain.line) as { runId: string; pids: number[]; grandchild: number; forkServers: number[] };
  orphanRunIds.push(first.runId);
  assert.equal(first.forkServers.length, 2);
  for (const pid of first.pids) assert.ok(first.forkServers.includes(parentOf(pid)), 'each worker is a fork');
  await killed(plain.child);
  const everything = [...first.pids, first.grandchild, ...first.forkServers];
  await waitFor(() => everything.every((pid) => !isAlive(pid)), 5000, 'workers, fork servers and a tool\'s child to be gone');
  assert.deepEqual(workerProcesses([first.runId]).filter((p) => isAlive(p.pid)), []);

  // Frozen, neither a fork server nor a fork can notice; the run's record names both.
  const frozen = start();
  const second = JSON.parse(await frozen.line) as { runId: string; pids: number[]; forkServers: number[] };
  orphanRunIds.push(second.runId);
  const [server] = second.forkServers;
  const worker = second.pids.find((pid) => parentOf(pid) === server)!;
  process.kill(server, 'SIGSTOP');
  process.kill(worker, 'SIGSTOP');
  await killed(frozen.child);
  await waitFor(() => second.pids.filter((pid) => pid !== worker).every((pid) => !isAlive(pid)), 5000, 'the other workers to exit');
  assert.ok(isAlive(server) && isAlive(worker), 'the frozen ones survived their Node process');
  const pit = createPit({ instanceId, pools: [{ name: 'a', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  await pit.start();
  assert.ok(pit.survivorsKilled.includes(server), 'the fork server was killed');
  assert.ok(pit.survivorsKilled.includes(worker), 'its fork was killed');
  await waitFor(() => !isAlive(server) && !isAlive(worker), 5000, 'the survivors to be gone');
  await pit.stop();
});

test('a frozen fork server does not hold up a worker start: it is given up within startupTimeoutMs, the worker is spawned, and it is started again', async () => {
  const pit = createPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'preload_adapters.Preloaded', preload: true, startupTimeoutMs: 5000 }] });
  const events = preloadEvents(pit);
  await pit.start();
  const server = forkServerPid(pit, 'p');
  const [worker] = pit.inspect().pools[0].workers;
  process.kill(server, 'SIGSTOP');
  try {
    process.kill(worker.pid!, 'SIGKILL');
    // Without a bound, the replacement's fork request waits for an answer that never comes.
    const pid = await pit.execute<number>('sleep', { seconds: 0 }, { timeoutMs: 30_000 });
    assert.notEqual(pid, worker.pid);
    assert.equal(parentOf(pid), process.pid, 'the replacement was spawned by Node');
    await waitFor(() => !isAlive(server), 5000, 'the frozen fork server to be killed');
    const back = await waitFor(() => events.find((e) => e.state === 'ready' && e.restarts === 1), 15_000, 'the fork server to be started again');
    assert.notEqual(back.pid, server);
  } finally {
    if (isAlive(server)) process.kill(server, 'SIGCONT');
  }
  await pit.stop();
});

test("a process preload() started goes with the fork server, also when Node dies", async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'preload_adapters.StartsHelper', preload: true }] });
  const helper = await pit.execute<number>('helper', {});
  assert.equal(parentOf(helper), forkServerPid(pit, 'p'));
  await pit.stop();
  await waitFor(() => !isAlive(helper), 5000, 'the helper to be gone after stop()');

  const here = path.dirname(fileURLToPath(import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'holdPreloadHelper.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SNAKEPIT_INSTANCE_ID: `preload-helper-${process.pid}` },
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`fixture exited early with ${code}`)));
  });
  const held = JSON.parse(line) as { runId: string; server: number; worker: number; helper: number };
  orphanRunIds.push(held.runId);
  try {
    assert.equal(parentOf(held.helper), held.server);
    const gone = once(child, 'exit');
    child.kill('SIGKILL');
    await gone;
    await waitFor(() => ![held.server, held.worker, held.helper].some(isAlive), 5000, "the fork server, its fork and preload()'s helper to be gone after Node's SIGKILL");
  } finally {
    if (isAlive(held.helper)) process.kill(held.helper, 'SIGKILL');
  }
});

test('stop() while the fork server is starting leaves neither it nor a fork behind', async () => {
  // The moment stop() meets the fork server's start varies from round to round: several rounds.
  for (let round = 0; round < 8; round++) {
    const pit = createPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'preload_adapters.Preloaded', preload: true }] });
    let stopped: Promise<void> | undefined;
    // The worker's start is asked for as the pool starts, while its fork server's is under way.
    pit.on('worker:starting', () => void (stopped ??= pit.stop()));
    await pit.start().catch(() => undefined);
    assert.ok(stopped, 'stop() was called while the pool started');
    await stopped;
    await sleep(500); // a fork server spawned late would be there by now
    assert.deepEqual(workerProcesses([pit.runId]).filter((p) => isAlive(p.pid)), [], `round ${round}`);
  }
});

test('workerMaxRequests 1: every call is served by a fresh fork, every call is answered, and no process is left', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, adapter: 'preload_adapters.Preloaded', preload: true, workerMaxRequests: 1 }] });
  const server = forkServerPid(pit, 'p');
  const outcomes = await Promise.allSettled(Array.from({ length: 40 }, () => pit.execute<number>('sleep', { seconds: 0 })));
  assert.deepEqual(outcomes.filter((o) => o.status === 'rejected'), []);
  const pids = outcomes.map((o) => (o as PromiseFulfilledResult<number>).value);
  assert.equal(new Set(pids).size, pids.length, 'each call ran on a worker of its own');
  assert.equal(forkServerPid(pit, 'p'), server, 'the fork server served every recycle');
  await pit.stop();
  await waitFor(() => ![server, ...pids].some(isAlive), 5000, 'the fork server and every fork to be gone');
  assert.deepEqual(workerProcesses([pit.runId]), []);
});

test("a fork cannot find another fork's request (its key would let it take that fork's links and token)", async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, adapter: 'preload_adapters.Preloaded', preload: true }] });
  const server = forkServerPid(pit, 'p');
  const before = pit.inspect().pools[0].workers.map((w) => w.pid!);
  // Frozen, the fork server lets both replacements' requests queue up: it then reads them together.
  process.kill(server, 'SIGSTOP');
  const starting: string[] = [];
  pit.on('worker:starting', (e) => starting.push(e.workerId));
  try {
    for (const pid of before) process.kill(pid, 'SIGKILL');
    await waitFor(() => starting.length >= 2, 15_000, 'both replacements to start');
    await sleep(500);
  } finally {
    process.kill(server, 'SIGCONT');
  }
  await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.state === 'ready' && !before.includes(w.pid!)), 15_000, 'both replacements');
  for (const worker of pit.inspect().pools[0].workers) assert.equal(parentOf(worker.pid!), server);
  const found = await pit.broadcast<string[]>('fork_keys', {});
  assert.equal(found.length, 2);
  for (const entry of found) {
    assert.ok(entry.ok, JSON.stringify(entry));
    // Its own request is in the frames it was forked in: the look finds that one, and only that one.
    assert.equal(entry.value.length, 1, `worker ${entry.workerId} found ${entry.value.length} fork requests' keys, not its own alone`);
  }
  await pit.stop();
});

test("a fork holds none of the fork server's or another worker's pipes and sockets", async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 3, adapter: 'preload_adapters.Preloaded', preload: true }] });
  const channels = (pid: number) => new Set(readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      return /^(socket|pipe):/.test(target) ? [target] : [];
    } catch {
      return []; // closed meanwhile
    }
  }));
  // What Node itself inherited from the one who started it (a test runner's pipe) is everyone's.
  const inherited = channels(process.ppid);
  const server = forkServerPid(pit, 'p');
  const workers = pit.inspect().pools[0].workers.map((w) => w.pid!);
  const held = new Map([server, ...workers].map((pid) => [pid, new Set([...channels(pid)].filter((target) => !inherited.has(target)))]));
  for (const worker of workers) {
    assert.ok(held.get(worker)!.size >= 3, 'its control, stdout and stderr links');
    for (const [other, theirs] of held) {
      if (other === worker) continue;
      const shared = [...held.get(worker)!].filter((target) => theirs.has(target));
      assert.deepEqual(shared, [], `worker ${worker} shares with process ${other}`);
    }
  }
  await pit.stop();
});
