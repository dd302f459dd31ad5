// Session affinity: a session's calls go back to the worker (the same process) that ran its
// last call — when it is free (`hint`), or always, waiting for it (`strict`); a session whose
// worker is gone moves on (`session:moved`); the table is bounded and idle sessions expire.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Snakepit } from '../src/index.js';
import { checkNoLeaks, errorOf, sleep, startMarker, startPit, waitFor } from './helpers.js';

checkNoLeaks();

type Where = { pid: number };
const pidsOf = (pit: Snakepit) => pit.inspect().pools[0].workers.map((w) => w.pid!);
const where = (pit: Snakepit, seconds: number, sessionId?: string, started?: string) =>
  pit.execute('sleep', { seconds, started }, sessionId === undefined ? {} : { sessionId }) as Promise<Where>;

/** Binds `sessionId` to the second worker: the first is kept busy while the session's first call runs. */
async function bindToSecondWorker(pit: Snakepit, sessionId: string): Promise<number> {
  const [first, second] = pidsOf(pit);
  const blocker = where(pit, 0.5);
  await waitFor(() => pit.inspect().pools[0].workers[0].inFlight === 1, 5000, 'the first worker to be busy');
  assert.equal((await where(pit, 0, sessionId)).pid, second);
  assert.equal((await blocker).pid, first);
  return second;
}

test('hint: after other traffic, a session goes back to its worker when that worker is free, and elsewhere when it is not', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, prefetch: 0, adapter: 'sample_adapters.Calc' }] });
  const [first] = pidsOf(pit);
  const own = await bindToSecondWorker(pit, 'chat-1');
  await Promise.all(Array.from({ length: 20 }, () => where(pit, 0.01))); // other traffic over both workers
  assert.equal((await where(pit, 0)).pid, first, 'a call without a session goes to the first free worker');
  assert.equal((await where(pit, 0, 'chat-1')).pid, own, 'the session goes back to its own worker');

  const busy = where(pit, 0.5, 'other'); // lands on the first worker, which is free
  const holding = where(pit, 0.5, 'chat-1'); // its own worker, free
  await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.inFlight === 1), 5000, 'both workers busy');
  await Promise.all([busy, holding]);
  const blocker = where(pit, 1, 'chat-1');
  await waitFor(() => pit.inspect().pools[0].workers.find((w) => w.pid === own)?.inFlight === 1, 5000, 'its worker busy');
  const t0 = performance.now();
  assert.equal((await where(pit, 0, 'chat-1')).pid, first, 'its worker is busy: the hint gives way');
  assert.ok(performance.now() - t0 < 900, 'without waiting for its worker');
  await blocker;
  assert.equal((await where(pit, 0, 'chat-1')).pid, first, 'the session now follows the worker that ran its last call');
});

test('strict: a session waits for its busy worker while other calls pass it on the free one', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, prefetch: 0, affinity: 'strict', adapter: 'sample_adapters.Calc' }] });
  const [first] = pidsOf(pit);
  const own = await bindToSecondWorker(pit, 'chat-1');
  const blocker = where(pit, 1, 'chat-1');
  await waitFor(() => pit.inspect().pools[0].workers.find((w) => w.pid === own)?.inFlight === 1, 5000, 'its worker busy');
  const t0 = performance.now();
  const waiting = where(pit, 0, 'chat-1');
  assert.equal(pit.stats('p').queued, 1, 'the session call waits for its worker');
  assert.equal((await where(pit, 0)).pid, first, 'a later call without a session is not held behind it');
  assert.equal((await waiting).pid, own);
  assert.ok(performance.now() - t0 >= 500, 'it waited for its worker');
  await blocker;
});

test('strict: when the session\'s worker is killed, the calls waiting for it run elsewhere and session:moved names both workers', async () => {
  const pit = await startPit({
    pools: [{ name: 'p', poolSize: 2, prefetch: 0, affinity: 'strict', adapter: 'sample_adapters.Calc', restart: { backoffMs: 3000 } }],
  });
  const moved: { pool: string; sessionId: string; fromWorkerId: string; toWorkerId: string }[] = [];
  pit.on('session:moved', ({ pool, sessionId, fromWorkerId, toWorkerId }) => moved.push({ pool, sessionId, fromWorkerId, toWorkerId }));
  const [firstId, secondId] = pit.inspect().pools[0].workers.map((w) => w.id);
  const own = await bindToSecondWorker(pit, 'chat-1');
  const marker = startMarker();
  const doomed = where(pit, 30, 'chat-1', marker.file);
  await marker.started();
  const waiting = where(pit, 0, 'chat-1');
  await sleep(100);
  assert.equal(pit.stats('p').queued, 1, 'waiting for its worker');
  process.kill(own, 'SIGKILL');
  assert.equal((await errorOf(doomed)).code, 'WORKER_CRASHED');
  assert.notEqual((await waiting).pid, own, 'the waiting call ran on the other worker');
  assert.deepEqual(moved, [{ pool: 'p', sessionId: 'chat-1', fromWorkerId: secondId, toWorkerId: firstId }]);
});

test('strict: a call waiting for its session\'s worker longer than queueTimeoutMs fails QUEUE_TIMEOUT', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 2, prefetch: 0, affinity: 'strict', queueTimeoutMs: 300, adapter: 'sample_adapters.Calc' }] });
  const own = await bindToSecondWorker(pit, 'chat-1');
  const blocker = where(pit, 1.5, 'chat-1');
  await waitFor(() => pit.inspect().pools[0].workers.find((w) => w.pid === own)?.inFlight === 1, 5000, 'its worker busy');
  assert.equal((await errorOf(where(pit, 0, 'chat-1'))).code, 'QUEUE_TIMEOUT');
  assert.equal(pit.stats('p').queued, 0);
  assert.equal((await blocker).pid, own);
});

test('the session table keeps at most maxSessions (the most recently used), and an idle session expires after sessionTtlMs', async () => {
  const pit = await startPit({
    pools: [{ name: 'p', poolSize: 2, prefetch: 0, affinity: 'strict', maxSessions: 100, sessionTtlMs: 1000, adapter: 'sample_adapters.Calc' }],
  });
  for (let i = 0; i < 10_000; i++) await pit.execute('ping', {}, { sessionId: `s${i}` });
  assert.equal(pit.stats('p').sessions, 100);

  const own = await bindToSecondWorker(pit, 'chat-1');
  const blocker = where(pit, 3, 'chat-1');
  await waitFor(() => pit.inspect().pools[0].workers.find((w) => w.pid === own)?.inFlight === 1, 5000, 'its worker busy');
  await sleep(1500); // idle beyond the TTL: its last call started 1.5 s ago
  const t0 = performance.now();
  assert.notEqual((await where(pit, 0, 'chat-1')).pid, own, 'expired: no longer held to its busy worker');
  assert.ok(performance.now() - t0 < 1000);
  await blocker;
});

test('sessionId must be a non-empty string; affinity must be hint or strict', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  for (const sessionId of ['', 42, 'x'.repeat(1025)]) {
    const error = await errorOf(pit.execute('ping', {}, { sessionId: sessionId as string }));
    assert.equal(error.code, 'INVALID_ARGUMENT');
    assert.match(error.message, /sessionId must be a non-empty string of at most 1024 characters/);
  }
  await assert.rejects(
    startPit({ pools: [{ name: 'q', adapter: 'sample_adapters.Calc', affinity: 'sticky' as 'hint' }] }),
    (e: Error & { code?: string }) => e.code === 'INVALID_CONFIG' && /pools\[0\]\.affinity/.test(e.message),
  );
});
