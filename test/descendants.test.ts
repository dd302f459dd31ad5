// Every process a tool starts ends with its worker: a forked copy, multiprocessing children,
// a child in a session of its own, one that ignores SIGTERM, an orphan of a double fork —
// whether the pool stops, the worker is recycled, or the worker is killed with SIGKILL.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Snakepit } from '../src/index.js';
import { checkNoLeaks, isAlive, startPit, waitFor } from './helpers.js';

checkNoLeaks();

interface Spawned {
  worker: number;
  pids: Record<string, number[]>;
  all: number[];
}

// The reaper is the same on both transports (the control pipe and the watchdog), so one is named.
const POOL = { name: 'd', poolSize: 1, adapter: 'descendant_adapters.Spawner', transport: 'local' } as const;

/** Has the tools leave every kind of descendant; returns all their pids, the watchdog's included. */
async function spawnAll(pit: Snakepit): Promise<{ worker: number; pids: number[] }> {
  const spawned = (await pit.execute('spawn_all', {}, { pool: 'd' })) as Spawned;
  const pids = [...new Set([...spawned.all, ...Object.values(spawned.pids).flat()])];
  const watchdog = watchdogOf(spawned.worker);
  assert.ok(pids.includes(watchdog), 'the watchdog is among the descendants');
  assert.deepEqual(pids.filter((pid) => !isAlive(pid)), [], 'every descendant runs before the worker ends');
  // fork, two multiprocessing children (+ resource tracker), three outside the group, the watchdog
  assert.ok(pids.length >= 8, `descendants: ${pids}`);
  return { worker: spawned.worker, pids };
}

/** The reaper watchdog of a live worker: its child named snakepit-watch (reaper.py). */
function watchdogOf(workerPid: number): number {
  const found = readdirSync('/proc').filter((entry) => {
    if (!/^\d+$/.test(entry)) return false;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      return ppid === workerPid && readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'snakepit-watch';
    } catch {
      return false;
    }
  });
  assert.equal(found.length, 1, `one watchdog for worker ${workerPid}`);
  return Number(found[0]);
}

async function allGone(pids: number[], what: string, since: number): Promise<void> {
  await waitFor(() => pids.every((pid) => !isAlive(pid)), 10_000, `${what}: ${pids.filter(isAlive)} still alive`);
  console.log(`${what}: ${pids.length} processes gone within ${(performance.now() - since).toFixed(0)} ms`);
}

test('pit.stop() ends every descendant of its workers', async () => {
  const pit = await startPit({ pools: [POOL] });
  const { pids } = await spawnAll(pit);
  const since = performance.now();
  await pit.stop();
  await allGone(pids, 'descendants after stop()', since);
});

test('recycleWorker() ends every descendant of the worker it retires; the replacement serves', async () => {
  const pit = await startPit({ pools: [POOL] });
  const { worker, pids } = await spawnAll(pit);
  const [{ id }] = pit.inspect().pools[0].workers;
  const since = performance.now();
  await pit.recycleWorker(id);
  await allGone([worker, ...pids], 'descendants after recycleWorker()', since);
  const now = (await pit.execute('descendants', {}, { pool: 'd' })) as number[];
  assert.ok(now.every((pid) => !pids.includes(pid)), 'the replacement does not own the old descendants');
  assert.notEqual(pit.inspect().pools[0].workers[0].pid, worker);
  await pit.stop();
});

for (const preload of [false, true]) test(`a worker${preload ? ' forked by a fork server (preload)' : ''} killed with SIGKILL: its descendants still go, also those outside its process group`, async () => {
  // A forked worker's watchdog is a fresh interpreter, not a fork of the worker (reaper.py).
  const pit = await startPit({ pools: [{ ...POOL, preload }] });
  const { worker, pids } = await spawnAll(pit);
  // The worker runs none of its code now. The group's SIGKILL takes the children in its group;
  // the watchdog, outside the group, ends the rest (own session, ignoring SIGTERM, orphaned).
  const since = performance.now();
  process.kill(worker, 'SIGKILL');
  await allGone(pids, 'descendants after SIGKILL of the worker', since);
  await waitFor(() => {
    const [w] = pit.inspect().pools[0].workers;
    return w.state === 'ready' && w.pid !== worker;
  }, 10_000, 'the restarted worker');
  assert.deepEqual(await pit.execute('descendants', {}, { pool: 'd' }).then((d) => (d as number[]).filter((pid) => pids.includes(pid))), []);
  await pit.stop();
});

test('stop() resolves once the processes in its workers\' groups have died, not only the workers', async () => {
  // Killed, a child holding 2 GiB takes a while to die (the kernel frees every page) after its
  // worker is already gone; a caller that checks its processes right after stop() must not see it.
  const pit = await startPit({ shutdownGraceMs: 0, pools: [POOL] });
  const child = (await pit.execute('fork_heavy_sleeper', { mib: 2048 }, { pool: 'd' })) as number;
  assert.ok(isAlive(child));
  await pit.stop();
  assert.equal(isAlive(child), false, `the worker's child ${child} still runs after stop() resolved`);
});
