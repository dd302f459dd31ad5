// Reaching one worker or all of them, over real Python workers: `{ workerId }` on execute and
// stream runs the call on that worker (an unknown or retired id is INVALID_ARGUMENT), and
// broadcast() runs a tool once on every worker that serves, one entry per worker. The chaos
// adapter journals every start of every call with its process id, so each test can tell where a
// call ran and that it ran once. The rules on the simulated clock: workerPinning.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { type BroadcastResult, type PoolConfigInput, type Snakepit, SnakepitError } from '../src/index.js';
import { prng } from './chaos/schedule.js';
import { checkNoLeaks, createPit, errorOf, startPit, TEST_TRANSPORT, waitFor } from './helpers.js';

checkNoLeaks();

const dir = mkdtempSync(path.join(tmpdir(), 'snakepit-reach-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let journals = 0;
/** A new, empty journal: the chaos adapter appends `<key> <pid>` at each start of a call. */
function newJournal(): string {
  const file = path.join(dir, `journal-${++journals}`);
  writeFileSync(file, '');
  return file;
}

/** Every start in a journal: call key → the pids that started it, in order. */
function starts(journal: string): Map<string, number[]> {
  const found = new Map<string, number[]>();
  for (const line of readFileSync(journal, 'utf8').split('\n').filter(Boolean)) {
    const [key, pid] = line.split(' ');
    found.set(key, [...(found.get(key) ?? []), Number(pid)]);
  }
  return found;
}

type Ran = { key: string; pid: number };
const workersOf = (pit: Snakepit) => pit.inspect().pools[0].workers;
const entries = (results: BroadcastResult<Ran>[]) => results.map((r) => (r.ok ? `${r.workerId} ok ${r.value.pid}` : `${r.workerId} ${r.error.code}`));

const PROFILES: { label: string; pool: PoolConfigInput }[] = [
  { label: 'process profile, 3 workers', pool: { name: 'p', workerProfile: 'process', poolSize: 3, adapter: 'chaos_adapters.Chaos' } },
  { label: 'thread profile, 2 workers × 3 threads', pool: { name: 'p', workerProfile: 'thread', poolSize: 2, threadsPerWorker: 3, adapter: 'chaos_adapters.ThreadedChaos' } },
];

for (const { label, pool } of PROFILES) {
  test(`${label}: a broadcast runs once in every worker process; execute and stream with workerId run on that worker`, async () => {
    const pit = await startPit({ pools: [pool] });
    const journal = newJournal();
    const workers = workersOf(pit);
    const results = await pit.broadcast<Ran>('run', { journal, key: 'all' }, { pool: 'p' });
    assert.deepEqual(entries(results), workers.map((w) => `${w.id} ok ${w.pid}`));
    assert.equal(new Set(results.map((r) => r.ok && r.value.pid)).size, pool.poolSize, 'one distinct pid per worker');
    assert.deepEqual(starts(journal).get('all')!.sort(), workers.map((w) => w.pid!).sort(), 'started once in each process');

    for (const worker of [...workers].reverse()) {
      const ran = await pit.execute<Ran>('run', { journal, key: `one-${worker.id}` }, { workerId: worker.id });
      assert.equal(ran.pid, worker.pid);
      const chunks: number[] = [];
      for await (const chunk of pit.stream<number>('chunks', { journal, key: `stream-${worker.id}`, n: 3 }, { pool: 'p', workerId: worker.id })) chunks.push(chunk);
      assert.deepEqual(chunks, [0, 1, 2]);
      assert.deepEqual(starts(journal).get(`stream-${worker.id}`), [worker.pid]);
    }
  });
}

test('an unknown or retired workerId is INVALID_ARGUMENT for execute and stream; broadcast refuses workerId and sessionId', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, adapter: 'chaos_adapters.Chaos' }] });
  const journal = newJournal();
  const unknown = await errorOf(pit.execute('run', { journal, key: 'x' }, { workerId: 'p-99' }));
  assert.equal(unknown.code, 'INVALID_ARGUMENT');
  assert.match(unknown.message, /no worker "p-99".*p-1, p-2/);
  const streamed = await errorOf((async () => {
    for await (const _ of pit.stream('chunks', { journal, key: 'y', n: 1 }, { workerId: 'p-99' }));
  })());
  assert.equal(streamed.code, 'INVALID_ARGUMENT');
  assert.equal((await errorOf(pit.execute('run', { journal, key: 'z' }, { workerId: '' }))).code, 'INVALID_ARGUMENT');

  const [retired] = workersOf(pit);
  await pit.recycleWorker(retired.id);
  const gone = await errorOf(pit.execute('run', { journal, key: 'r' }, { workerId: retired.id }));
  assert.equal(gone.code, 'INVALID_ARGUMENT');
  assert.equal((await errorOf(pit.broadcast('run', { journal, key: 'b' }, { workerId: 'p-2' } as object))).code, 'INVALID_ARGUMENT');
  assert.equal((await errorOf(pit.broadcast('run', { journal, key: 'b' }, { sessionId: 's' } as object))).code, 'INVALID_ARGUMENT');
  assert.deepEqual(starts(journal), new Map(), 'none of them ran');
});

test('two pools: without `pool` a call with workerId goes to that worker\'s pool; a broadcast reaches its own pool\'s workers only', async () => {
  const pit = await startPit({
    pools: [
      { name: 'default', poolSize: 1, adapter: 'chaos_adapters.Chaos' },
      { name: 'other', poolSize: 2, adapter: 'chaos_adapters.Chaos' },
    ],
  });
  const journal = newJournal();
  const other = pit.inspect().pools.find((p) => p.name === 'other')!.workers;
  assert.equal((await pit.execute<Ran>('run', { journal, key: 'there' }, { workerId: other[1].id })).pid, other[1].pid);
  const wrongPool = await errorOf(pit.execute('run', { journal, key: 'nowhere' }, { pool: 'default', workerId: other[1].id }));
  assert.equal(wrongPool.code, 'INVALID_ARGUMENT');
  assert.match(wrongPool.message, /Pool "default" has no worker "other-2"/);
  const results = await pit.broadcast<Ran>('run', { journal, key: 'others' }, { pool: 'other' });
  assert.deepEqual(entries(results), other.map((w) => `${w.id} ok ${w.pid}`));
});

test('inside an exposed function: a call made for the worker its caller holds can never run and fails at once; one for another worker runs', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, adapter: 'smoke_adapters.Smoke', nestedQueueTimeoutMs: 20_000 }] });
  const [first, second] = workersOf(pit);
  pit.expose('pid_on', ({ workerId }) => pit.execute('pid', {}, { workerId: workerId as string }));
  assert.equal(await pit.execute('ask_node', { name: 'pid_on', workerId: second.id }, { workerId: first.id }), second.pid);
  const t0 = performance.now();
  const failed = await errorOf(pit.execute('ask_node', { name: 'pid_on', workerId: first.id }, { workerId: first.id }));
  assert.ok(performance.now() - t0 < 10_000, 'at once, not after nestedQueueTimeoutMs');
  assert.equal(failed.code, 'PYTHON_ERROR', 'the tool saw ctx.call raise');
  assert.match(failed.message, /can never get a worker/);
});

test('a busy worker: a call made for it waits behind its running call while the other worker is free, then runs there', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, prefetch: 0, adapter: 'chaos_adapters.Chaos' }] });
  const journal = newJournal();
  const [first] = workersOf(pit);
  const running = pit.execute<Ran>('run', { journal, key: 'long', seconds: 0.6 }, { workerId: first.id });
  await waitFor(() => starts(journal).has('long'), 10_000, 'the long call to start');
  const t0 = performance.now();
  const waiting = pit.execute<Ran>('run', { journal, key: 'next' }, { workerId: first.id });
  assert.equal(pit.stats('p').queued, 1);
  assert.notEqual((await pit.execute<Ran>('run', { journal, key: 'free' })).pid, first.pid, 'a plain call takes the free worker');
  assert.equal((await waiting).pid, first.pid);
  assert.ok(performance.now() - t0 > 300, 'it waited for its worker');
  assert.equal((await running).pid, first.pid);
});

test('kill -9 during a broadcast: that worker\'s entry is WORKER_CRASHED, the others ok; a call waiting for it fails and never runs elsewhere', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 3, prefetch: 0, adapter: 'chaos_adapters.Chaos' }] });
  const journal = newJournal();
  const workers = workersOf(pit);
  const victim = workers[1];
  const broadcast = pit.broadcast<Ran>('run', { journal, key: 'all', seconds: 1.5 });
  const waiting = errorOf(pit.execute('run', { journal, key: 'behind' }, { workerId: victim.id }));
  await waitFor(() => starts(journal).get('all')?.length === 3, 10_000, 'the broadcast to start on every worker');
  process.kill(victim.pid!, 'SIGKILL');
  const t0 = performance.now();
  const results = await broadcast;
  assert.ok(performance.now() - t0 < 20_000, 'nothing hangs');
  assert.deepEqual(entries(results), workers.map((w) => (w === victim ? `${w.id} WORKER_CRASHED` : `${w.id} ok ${w.pid}`)));
  const crashed = results[1];
  assert.ok(!crashed.ok && crashed.error instanceof SnakepitError);
  const behind = await waiting;
  assert.equal(behind.code, 'WORKER_CRASHED');
  assert.equal(behind.signal, 'SIGKILL');
  assert.match(behind.message, new RegExp(`Worker ${victim.id} .* went down \\(signal SIGKILL\\) before it ran tool "run"`));
  assert.equal(starts(journal).get('behind'), undefined, 'the call made for the dead worker never ran');

  await waitFor(() => workersOf(pit).every((w) => w.state === 'ready'), 30_000, 'the worker to be restarted');
  const again = await pit.broadcast<Ran>('run', { journal, key: 'again' });
  assert.deepEqual(again.map((r) => r.ok), [true, true, true]);
  assert.notEqual(again[1].ok && again[1].value.pid, victim.pid, 'its restart is a new process');
});

test('one_for_all: as a crash restarts the other workers, no waiting call is sent to one of them; the one made for it fails WORKER_CRASHED (it keeps its id), a plain one runs after the restart', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 3, prefetch: 0, adapter: 'chaos_adapters.Chaos', restart: { strategy: 'one_for_all' } }] });
  const journal = newJournal();
  const workers = workersOf(pit);
  const oldPids = new Set(workers.map((w) => w.pid));
  const sentToOld: string[] = [];
  pit.on('request:started', (e) => {
    if (oldPids.has(e.pid)) sentToOld.push(e.workerId);
  });
  const broadcast = pit.broadcast<Ran>('run', { journal, key: 'all', seconds: 10 }); // ended by the restart long before
  const waiting = errorOf(pit.execute('run', { journal, key: 'behind' }, { workerId: workers[2].id }));
  const plain = pit.execute<Ran>('run', { journal, key: 'plain' });
  await waitFor(() => starts(journal).get('all')?.length === 3, 10_000, 'the broadcast to start on every worker');
  process.kill(workers[0].pid!, 'SIGKILL');
  assert.deepEqual((await broadcast).map((r) => r.ok || r.error.code), ['WORKER_CRASHED', 'WORKER_CRASHED', 'WORKER_CRASHED']);
  const behind = await waiting;
  assert.equal(behind.code, 'WORKER_CRASHED', behind.message);
  assert.match(behind.message, new RegExp(`Worker ${workers[2].id} of pool "p" went down \\(restarted with its pool's other workers, by the pool's restart strategy\\) before it ran tool "run"`));
  assert.ok(!oldPids.has((await plain).pid), 'the plain call ran on a restarted worker');
  assert.deepEqual(sentToOld.sort(), workers.map((w) => w.id), 'only the broadcast\'s calls went to the old processes');
  assert.equal(starts(journal).get('behind'), undefined);
});

// The invariant under a seeded random schedule: calls made for one worker (execute and stream,
// some with deadlines or aborts), broadcasts and plain calls, while workers are killed.
const SEED = process.env.SNAKEPIT_REACH_SEED ? Number(process.env.SNAKEPIT_REACH_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 32);
const REPLAY = `SNAKEPIT_REACH_SEED=${SEED} SNAKEPIT_TEST_TRANSPORT=${TEST_TRANSPORT ?? 'local'}`;

interface Made {
  key: string;
  kind: 'pinned' | 'stream' | 'plain' | 'broadcast';
  /** The worker it was made for; a broadcast's entries say theirs. */
  workerId?: string;
  settles: number;
  outcome?: string;
  value?: unknown;
}

const ALLOWED = new Set(['ok', 'WORKER_CRASHED', 'INVALID_ARGUMENT', 'TIMEOUT', 'ABORTED', 'QUEUE_TIMEOUT']);

test(`seeded schedule (${REPLAY}): pinned calls, streams and broadcasts amid kill -9: every call settles once, none runs twice or elsewhere`, { timeout: 180_000 }, async () => {
  const random = prng(SEED);
  const pit = createPit({
    pools: [{
      name: 'p', poolSize: 3, prefetch: 1, adapter: 'chaos_adapters.Chaos', queueTimeoutMs: 10_000,
      restart: { intensity: 1000, periodMs: 1000 },
    }],
  });
  const owner = new Map<number, string>(); // pid → the worker id it served as
  pit.on('worker:ready', ({ workerId, pid }) => owner.set(pid!, workerId));
  await pit.start();
  const journal = newJournal();
  const made: Made[] = [];
  const pending: Promise<void>[] = [];
  const record = (call: Made, promise: Promise<unknown>) => {
    made.push(call);
    pending.push(promise.then(
      (value) => void (call.settles++ === 0 && Object.assign(call, { outcome: 'ok', value })),
      (error) => void (call.settles++ === 0 && Object.assign(call, { outcome: error instanceof SnakepitError ? error.code : `NOT_CODED ${error}` })),
    ));
  };
  const pickWorker = () => {
    const ids = workersOf(pit).map((w) => w.id);
    return random() < 0.05 ? 'p-404' : ids[Math.floor(random() * ids.length)];
  };
  const options = (workerId: string | undefined) => {
    const roll = random();
    if (roll < 0.1) return { workerId, timeoutMs: 20 + Math.floor(random() * 200) };
    if (roll < 0.2) return { workerId, signal: AbortSignal.timeout(Math.floor(random() * 150)) };
    return { workerId };
  };
  const end = Date.now() + 4000;
  let n = 0;
  let kills = 0;
  while (Date.now() < end) {
    const key = `c${++n}`;
    const seconds = random() * 0.08;
    const roll = random();
    if (roll < 0.45) {
      const workerId = pickWorker();
      record({ key, kind: 'pinned', workerId, settles: 0 }, pit.execute('run', { journal, key, seconds }, options(workerId)));
    } else if (roll < 0.6) {
      const workerId = pickWorker();
      const chunks = (async () => {
        const got: number[] = [];
        for await (const chunk of pit.stream<number>('chunks', { journal, key, n: 3, seconds: seconds / 3 }, options(workerId))) got.push(chunk);
        return got;
      })();
      record({ key, kind: 'stream', workerId, settles: 0 }, chunks);
    } else if (roll < 0.75) {
      record({ key, kind: 'broadcast', settles: 0 }, pit.broadcast('run', { journal, key, seconds }, options(undefined)));
    } else {
      record({ key, kind: 'plain', settles: 0 }, pit.execute('run', { journal, key, seconds }));
    }
    if (random() < 0.04) {
      const alive = workersOf(pit).filter((w) => w.state === 'ready' || w.state === 'busy');
      const victim = alive[Math.floor(random() * alive.length)];
      if (victim?.pid) {
        process.kill(victim.pid, 'SIGKILL');
        kills++;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, random() * 25));
  }
  let timer: NodeJS.Timeout | undefined;
  const hung = await Promise.race([Promise.all(pending).then(() => false), new Promise((resolve) => (timer = setTimeout(resolve, 60_000, true)))]);
  clearTimeout(timer);
  assert.equal(hung, false, `every call settles (${REPLAY})`);
  await new Promise((resolve) => setImmediate(resolve)); // a second settlement would show by now

  const started = starts(journal);
  const violations: string[] = [];
  const outcomes: Record<string, number> = {};
  for (const call of made) {
    const pids = started.get(call.key) ?? [];
    const story = `${call.kind} ${call.key}${call.workerId ? ` for ${call.workerId}` : ''} → ${call.outcome}, started in [${pids.join(', ')}]`;
    outcomes[call.outcome!] = (outcomes[call.outcome!] ?? 0) + 1;
    if (call.settles !== 1) violations.push(`settled ${call.settles} times: ${story}`);
    if (call.kind === 'broadcast') {
      if (call.outcome !== 'ok') {
        if (!ALLOWED.has(call.outcome!)) violations.push(`rejected uncoded: ${story}`);
        continue;
      }
      const results = call.value as BroadcastResult<Ran>[];
      if (new Set(results.map((r) => r.workerId)).size !== results.length) violations.push(`a worker twice in a broadcast: ${story}`);
      if (new Set(pids).size !== pids.length) violations.push(`started twice in one process: ${story}`);
      for (const r of results) {
        if (!r.ok && !ALLOWED.has(r.error.code)) violations.push(`entry ${r.workerId} ${r.error.code}: ${story}`);
        if (r.ok && (!pids.includes(r.value.pid) || owner.get(r.value.pid) !== r.workerId)) violations.push(`entry ${r.workerId} ran in pid ${r.value.pid}: ${story}`);
      }
      continue;
    }
    if (!ALLOWED.has(call.outcome!)) violations.push(`outcome not allowed: ${story}`);
    if (call.kind === 'plain') continue; // may run again elsewhere after its worker died: the chaos suite's rules
    if (pids.length > 1) violations.push(`ran twice: ${story}`);
    if (pids.some((pid) => owner.get(pid) !== call.workerId)) violations.push(`ran on another worker: ${story}`);
    if (call.outcome === 'ok' && pids.length !== 1) violations.push(`ok without a start: ${story}`);
    if (call.outcome === 'ok' && call.kind === 'pinned' && (call.value as Ran).pid !== pids[0]) violations.push(`wrong reply: ${story}`);
    if (call.outcome === 'ok' && call.kind === 'stream' && JSON.stringify(call.value) !== '[0,1,2]') violations.push(`wrong chunks: ${story}`);
  }
  console.log(`reach schedule ${REPLAY}: ${made.length} calls, ${kills} kills, outcomes ${JSON.stringify(outcomes)}`);
  assert.deepEqual(violations, [], REPLAY);
  assert.ok(kills > 0 && (outcomes.ok ?? 0) >= 10, `the schedule did kill workers and calls ran (${REPLAY})`);
  assert.equal(pit.stats('p').queued, 0);
});
