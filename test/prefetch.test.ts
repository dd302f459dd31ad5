// Prefetch: a process worker holds calls behind the one it runs, so the next call is there
// when one ends. When the worker dies, the calls it had not started run elsewhere and only
// the running one fails; a call sent ahead and then cancelled never runs.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Snakepit } from '../src/index.js';
import { checkNoLeaks, errorOf, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const dir = mkdtempSync(path.join(tmpdir(), 'snakepit-prefetch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let journals = 0;
/** A fresh journal file and a reader of the tags noted in it, in the order the calls started. */
function newJournal(): { file: string; tags: () => string[] } {
  const file = path.join(dir, `journal-${++journals}`);
  writeFileSync(file, '');
  return { file, tags: () => readFileSync(file, 'utf8').split('\n').filter(Boolean) };
}

type RunResult = { tag: string; pid: number };
const workersOf = (pit: Snakepit) => pit.inspect().pools[0].workers;

test('by default a process worker holds two calls behind the running one; the rest wait in the queue', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'prefetch_adapters.Journal' }] });
  const journal = newJournal();
  const run = (tag: string, seconds = 0) => pit.execute('run', { journal: journal.file, tag, seconds }, { pool: 'p' }) as Promise<RunResult>;
  const calls = [run('a', 1.5), run('b'), run('c'), run('d')];
  await waitFor(() => journal.tags().includes('a'), 10_000, 'call a to start');
  assert.equal(workersOf(pit)[0].inFlight, 3);
  assert.equal(pit.stats('p').queued, 1);
  const results = await Promise.all(calls);
  assert.deepEqual(results.map((r) => r.tag), ['a', 'b', 'c', 'd']);
  assert.deepEqual(journal.tags(), ['a', 'b', 'c', 'd']);
  assert.equal(workersOf(pit)[0].inFlight, 0);
});

test('when a worker is killed, the calls it held unstarted run on its replacement, in order; only the running call fails', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, prefetch: 2, adapter: 'prefetch_adapters.Journal' }] });
  const journal = newJournal();
  const run = (tag: string, seconds = 0) => pit.execute('run', { journal: journal.file, tag, seconds }, { pool: 'p' }) as Promise<RunResult>;
  const running = run('a', 60);
  const behind = [run('b'), run('c'), run('d')];
  await waitFor(() => journal.tags().includes('a'), 10_000, 'call a to start');
  const victim = workersOf(pit)[0].pid!;
  assert.equal(workersOf(pit)[0].inFlight, 3);
  process.kill(victim, 'SIGKILL');

  const error = await errorOf(running);
  assert.equal(error.code, 'WORKER_CRASHED');
  const results = await Promise.all(behind);
  assert.deepEqual(results.map((r) => r.tag), ['b', 'c', 'd']);
  for (const r of results) assert.notEqual(r.pid, victim, `${r.tag} ran on the replacement`);
  assert.deepEqual(journal.tags(), ['a', 'b', 'c', 'd'], 'every call started once, in order');
});

test('with arguments still arriving in parts, the calls the dead worker never started run on its replacement', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, prefetch: 2, adapter: 'prefetch_adapters.Journal' }] });
  const journal = newJournal();
  const running = pit.execute('run', { journal: journal.file, tag: 'a', seconds: 60 }, { pool: 'p' });
  await waitFor(() => journal.tags().includes('a'), 10_000, 'call a to start');
  const large = pit.execute('run', { journal: journal.file, tag: 'large', data: Buffer.alloc(3 << 20) }, { pool: 'p' });
  const small = pit.execute('run', { journal: journal.file, tag: 'small' }, { pool: 'p' });
  const victim = workersOf(pit)[0].pid!;
  process.kill(victim, 'SIGKILL');
  assert.equal((await errorOf(running)).code, 'WORKER_CRASHED');
  for (const call of [large, small]) assert.notEqual(((await call) as RunResult).pid, victim);
  assert.deepEqual([...journal.tags()].sort(), ['a', 'large', 'small'], 'each started once');
});

test('a stuck call whose reply races its grace timer: the calls sent ahead behind it each run once', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, prefetch: 4, cancelGraceMs: 300, adapter: 'prefetch_adapters.Journal' }] });
  const journal = newJournal();
  for (let round = 0; round < 16; round++) {
    // The head overruns its 100 ms deadline by about the grace period, so its reply and the
    // grace timer arrive together.
    const head = pit.execute('run', { journal: journal.file, tag: `head-${round}`, seconds: 0.37 + (round % 8) * 0.01 }, { pool: 'p', timeoutMs: 100 });
    const behind = [0, 1, 2, 3].map((i) => pit.execute('run', { journal: journal.file, tag: `${round}-${i}` }, { pool: 'p' }));
    assert.equal((await errorOf(head)).code, 'TIMEOUT');
    assert.deepEqual((await Promise.all(behind) as RunResult[]).map((r) => r.tag), [0, 1, 2, 3].map((i) => `${round}-${i}`));
  }
  const tags = journal.tags();
  assert.deepEqual(tags.filter((tag, i) => tags.indexOf(tag) !== i), [], 'no call started twice');
});

test('a call whose predecessor\'s reply is lost with the dying worker does not run again', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, prefetch: 2, adapter: 'prefetch_adapters.Journal' }] });
  const journal = newJournal();
  for (let round = 0; round < 6; round++) {
    const marker = path.join(dir, `marker-${journals}-${round}`);
    // Sent in one frame: the worker finishes a, starts b, and b kills it at once, while a's
    // large reply may still be leaving the process.
    const a = pit.execute('run', { journal: journal.file, tag: `a${round}`, reply_bytes: 4 << 20 }, { pool: 'p' });
    const b = pit.execute('die_once', { journal: journal.file, tag: `b${round}`, marker }, { pool: 'p' });
    const c = pit.execute('run', { journal: journal.file, tag: `c${round}` }, { pool: 'p' });
    await a.catch((error) => assert.equal(error.code, 'WORKER_CRASHED'));
    assert.equal((await errorOf(b)).code, 'WORKER_CRASHED');
    assert.equal(((await c) as RunResult).tag, `c${round}`);
  }
  const tags = journal.tags();
  assert.deepEqual(tags.filter((tag, i) => tags.indexOf(tag) !== i), [], 'no call started twice');
});

test('a call sent ahead and then aborted is settled at once and never runs', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, prefetch: 2, adapter: 'prefetch_adapters.Journal' }] });
  const journal = newJournal();
  const running = pit.execute('run', { journal: journal.file, tag: 'a', seconds: 1.5 }, { pool: 'p' });
  await waitFor(() => journal.tags().includes('a'), 10_000, 'call a to start');
  const controller = new AbortController();
  const aborted = pit.execute('run', { journal: journal.file, tag: 'b' }, { pool: 'p', signal: controller.signal });
  const after = pit.execute('run', { journal: journal.file, tag: 'c' }, { pool: 'p' });
  controller.abort();
  assert.equal((await errorOf(aborted)).code, 'ABORTED');
  await running;
  await after;
  assert.deepEqual(journal.tags(), ['a', 'c']);
  await waitFor(() => workersOf(pit)[0].inFlight === 0, 10_000, 'the worker to hold no call');
});

test('least-loaded selection counts calls sent ahead: two workers hold two calls each', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, prefetch: 1, adapter: 'prefetch_adapters.Journal' }] });
  const journal = newJournal();
  const calls = ['a', 'b', 'c', 'd', 'e'].map((tag) => pit.execute('run', { journal: journal.file, tag, seconds: 1 }, { pool: 'p' }));
  await waitFor(() => journal.tags().length >= 2, 10_000, 'both workers to start a call');
  assert.deepEqual(workersOf(pit).map((w) => w.inFlight), [2, 2]);
  assert.equal(pit.stats('p').queued, 1);
  await Promise.all(calls);
  assert.deepEqual(journal.tags().sort(), ['a', 'b', 'c', 'd', 'e']);
});

test('prefetch is refused for the thread profile, and above its limit', () => {
  assert.throws(
    () => new Snakepit({ pools: [{ name: 't', workerProfile: 'thread', prefetch: 2, adapter: 'a.B' }] }),
    (e: Error & { code?: string }) => e.code === 'INVALID_CONFIG' && /pools\[0\]\.prefetch: applies to workerProfile "process" only/.test(e.message),
  );
  assert.throws(
    () => new Snakepit({ pools: [{ name: 'p', prefetch: 65, adapter: 'a.B' }] }),
    (e: Error & { code?: string }) => e.code === 'INVALID_CONFIG' && /prefetch: at most 64/.test(e.message),
  );
});
