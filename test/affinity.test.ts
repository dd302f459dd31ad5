// Session affinity in the dispatcher, on a simulated clock with fake workers
// (test/dispatchHarness.ts): `hint` goes back to the session's worker when it is free and
// elsewhere at once when it is not; `strict` waits for it in its own line; a session whose worker
// is gone moves (session:moved); the table forgets idle and least recently used sessions.
// Each behaviour also has a test over real processes, named per test.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QueueTimeoutError } from '../src/errors.js';
import { AffinityTable } from '../src/calls/affinityTable.js';
import { type SimulatedPool, heldBy, settle, simulatedPool } from './dispatchHarness.js';

/** Runs one call of `sessionId` on the second worker (the first kept busy meanwhile), which binds it there. */
async function bindToSecond(pool: SimulatedPool, sessionId: string): Promise<void> {
  const [w1, w2] = pool.workers;
  pool.call('blocker');
  pool.call('bind', { sessionId });
  assert.deepEqual(w2.connection.held(), ['bind']);
  w1.connection.reply('blocker');
  w2.connection.reply('bind');
  await settle();
  pool.outcomes.length = 0;
}

function movedEvents(pool: SimulatedPool): string[] {
  const moved: string[] = [];
  pool.events.on('session:moved', ({ sessionId, fromWorkerId, toWorkerId }) => moved.push(`${sessionId}: ${fromWorkerId} -> ${toWorkerId}`));
  return moved;
}

// Real processes: sessions.test.ts, "hint: after other traffic, a session goes back to its worker when that worker is free, and elsewhere when it is not".
test('hint: a session goes back to its free worker over an equally free one; when its worker is busy it runs elsewhere at once and follows', async (t) => {
  const pool = simulatedPool(t, { prefetch: 1 }, 2);
  const [w1, w2] = pool.workers;
  const moved = movedEvents(pool);
  await bindToSecond(pool, 'chat');
  pool.call('own', { sessionId: 'chat' });
  pool.call('plain'); // without a session: the first free worker
  assert.deepEqual(heldBy(pool), { 'p-1': ['plain'], 'p-2': ['own'] });
  w1.connection.reply('plain');
  pool.call('again', { sessionId: 'chat' }); // its worker is busy (though it has room to hold one ahead)
  assert.deepEqual(heldBy(pool), { 'p-1': ['again'], 'p-2': ['own'] }, 'the hint gives way without waiting');
  w1.connection.reply('again');
  w2.connection.reply('own');
  pool.call('follows', { sessionId: 'chat' });
  assert.deepEqual(heldBy(pool), { 'p-1': ['follows'], 'p-2': [] }, 'the session follows the worker that ran its last call');
  assert.deepEqual(moved, [], 'its old worker is still there: the session did not move, it was a hint');
});

// Real processes: sessions.test.ts, "strict: a session waits for its busy worker while other calls pass it on the free one".
test('strict: a session\'s call waits for its busy worker while calls without a session pass it; it runs there once the worker frees', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, affinity: 'strict' }, 2);
  const [w1, w2] = pool.workers;
  await bindToSecond(pool, 'chat');
  pool.call('long', { sessionId: 'chat' });
  pool.call('waits', { sessionId: 'chat' });
  assert.equal(pool.dispatcher.queued, 1);
  pool.call('plain');
  assert.deepEqual(heldBy(pool), { 'p-1': ['plain'], 'p-2': ['long'] }, 'the free worker is not the session\'s');
  w1.connection.reply('plain');
  await pool.advance(500);
  assert.deepEqual(heldBy(pool), { 'p-1': [], 'p-2': ['long'] }, 'p-1 is idle and still the session waits');
  w2.connection.reply('long');
  assert.deepEqual(heldBy(pool), { 'p-1': [], 'p-2': ['waits'] });
});

// Real processes: sessions.test.ts, "strict: a session waits for its busy worker while other calls pass it on the free one".
test('strict: an older call without a session takes the session\'s worker first; the session\'s calls keep their order', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, affinity: 'strict' }, 2);
  const [w1, w2] = pool.workers;
  await bindToSecond(pool, 'chat');
  pool.call('busy-1');
  pool.call('busy-2', { sessionId: 'chat' });
  pool.call('older');
  await pool.advance(10);
  pool.call('s1', { sessionId: 'chat' });
  pool.call('s2', { sessionId: 'chat' });
  assert.equal(pool.dispatcher.queued, 3);
  w2.connection.reply('busy-2');
  assert.deepEqual(w2.connection.held(), ['older'], 'the oldest waiting call runs first, on the worker that freed');
  w2.connection.reply('older');
  assert.deepEqual(w2.connection.held(), ['s1']);
  w2.connection.reply('s1');
  assert.deepEqual(w2.connection.held(), ['s2']);
  assert.deepEqual(w1.connection.held(), ['busy-1']);
});

// Real processes: sessions.test.ts, "strict: when the session's worker is killed, the calls waiting for it run elsewhere and session:moved names both workers".
test('strict: when the session\'s worker dies, its waiting calls go back to the pool\'s queue in order, run elsewhere, and session:moved says so', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, affinity: 'strict' }, 2);
  const [w1, w2] = pool.workers;
  const moved = movedEvents(pool);
  await bindToSecond(pool, 'chat');
  pool.call('doomed', { sessionId: 'chat' });
  pool.call('s1', { sessionId: 'chat' });
  pool.call('s2', { sessionId: 'chat' });
  pool.call('plain');
  pool.call('queued'); // both workers busy: waits in the pool's queue, after s1 and s2
  w2.connection.die(w2.id, w2.connection.sent.at(-1)!.id);
  w2.leave('crashed');
  await settle();
  assert.deepEqual(pool.outcomes, ['doomed WORKER_CRASHED']);
  w1.connection.reply('plain');
  assert.deepEqual(w1.connection.held(), ['s1']);
  w1.connection.reply('s1');
  assert.deepEqual(w1.connection.held(), ['s2']);
  w1.connection.reply('s2');
  assert.deepEqual(w1.connection.held(), ['queued']);
  assert.deepEqual(moved, ['chat: p-2 -> p-1']);
  w2.ready(); // the same worker id as a new process: the session stays where it moved
  pool.call('s3', { sessionId: 'chat' });
  await settle();
  assert.deepEqual(heldBy(pool), { 'p-1': ['queued'], 'p-2': [] });
  assert.equal(pool.dispatcher.queued, 1, 's3 waits for p-1, its worker now');
});

// Real processes: sessions.test.ts, "strict: when the session's worker is killed, ..." (the restart of its worker as a new process).
test('a session whose worker restarted as a new process moves: its next call runs on any worker', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, affinity: 'strict' }, 2);
  const [, w2] = pool.workers;
  const moved = movedEvents(pool);
  await bindToSecond(pool, 'chat');
  w2.leave('starting');
  w2.ready(); // same id, another pid
  pool.call('busy'); // p-1 is first: this takes it
  pool.call('next', { sessionId: 'chat' });
  assert.deepEqual(heldBy(pool), { 'p-1': ['busy'], 'p-2': ['next'] });
  assert.deepEqual(moved, ['chat: p-2 -> p-2']);
});

// Real processes: sessions.test.ts, "strict: a call waiting for its session's worker longer than queueTimeoutMs fails QUEUE_TIMEOUT".
test('strict: a call waiting for its session\'s worker longer than queueTimeoutMs fails QUEUE_TIMEOUT and leaves its line', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, affinity: 'strict', queueTimeoutMs: 300 }, 2);
  const [, w2] = pool.workers;
  await bindToSecond(pool, 'chat');
  pool.call('long', { sessionId: 'chat' });
  const waiting = pool.call('waits', { sessionId: 'chat' });
  await pool.advance(299);
  assert.deepEqual(pool.outcomes, []);
  await pool.advance(1);
  assert.deepEqual(pool.outcomes, ['waits QUEUE_TIMEOUT']);
  assert.ok((await waiting.catch((e: unknown) => e)) instanceof QueueTimeoutError);
  assert.equal(pool.dispatcher.queued, 0);
  w2.connection.reply('long');
  assert.deepEqual(w2.connection.held(), [], 'nothing is sent for the call that timed out');
});

// Real processes: sessions.test.ts, "the session table keeps at most maxSessions (the most recently used), and an idle session expires after sessionTtlMs".
test('a session idle for longer than sessionTtlMs is forgotten: its next call is no longer held to its busy worker', async (t) => {
  const pool = simulatedPool(t, { prefetch: 0, affinity: 'strict', sessionTtlMs: 1000 }, 2);
  const [, w2] = pool.workers;
  await bindToSecond(pool, 'chat');
  pool.call('long', { sessionId: 'chat' }); // bound again at 0 ms
  await pool.advance(1000);
  pool.call('at-ttl', { sessionId: 'chat' });
  assert.deepEqual(heldBy(pool), { 'p-1': [], 'p-2': ['long'] }, 'idle 1000 ms: still bound, so it waits');
  w2.connection.reply('long');
  w2.connection.reply('at-ttl');
  pool.call('hold', { sessionId: 'chat' }); // bound again at 1000 ms
  await pool.advance(1001);
  pool.call('expired', { sessionId: 'chat' });
  assert.deepEqual(heldBy(pool), { 'p-1': ['expired'], 'p-2': ['hold'] }, 'idle 1001 ms since its last call started: forgotten');
});

test('the session table: least recently bound forgotten first past maxSessions; idle past the TTL forgotten at lookup', () => {
  const table = new AffinityTable(2, 1000);
  table.bind('a', 'p-1', 11, 0);
  table.bind('b', 'p-2', 12, 10);
  assert.deepEqual(table.bind('a', 'p-2', 12, 20), { workerId: 'p-1', pid: 11, lastUsed: 0 }, 'rebinding returns the old binding');
  table.bind('c', 'p-1', 11, 30); // b is now the least recently bound
  assert.equal(table.size, 2);
  assert.equal(table.lookup('b', 30), undefined);
  assert.deepEqual(table.lookup('a', 1020), { workerId: 'p-2', pid: 12, lastUsed: 20 });
  assert.equal(table.lookup('a', 1021), undefined);
  assert.equal(table.size, 1, 'the expired binding is dropped');
});
