// Which worker takes a call (src/balancing.ts), on plain slots: only a serving, connected worker
// under its call limit and with no stuck call takes calls; a free place before a call sent ahead;
// the least loaded first, the earliest joined among equals.
// Real processes: prefetch.test.ts ("least-loaded selection counts calls sent ahead"),
// sessions.test.ts (hint: "a call without a session goes to the first free worker"),
// recycling.test.ts (workerMaxRequests), callContext.test.ts (stuck calls).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasRoom, isFree, isRoutable, pickWorker, type Routing } from '../src/calls/balancing.js';
import { FakeConnection, asConnection } from './dispatchHarness.js';

function slot(id: string, fields: Partial<Routing> = {}): Routing & { id: string } {
  return {
    id, state: 'ready', inFlight: 0, capacity: 1, prefetch: 2, connection: asConnection(new FakeConnection()), stuck: 0, startedCalls: 0, callLimit: Infinity,
    ...fields,
  };
}

test('routable: ready or busy, with a usable connection, under its call limit, with no stuck call', () => {
  assert.ok(isRoutable(slot('a')));
  assert.ok(isRoutable(slot('a', { state: 'busy' })));
  for (const state of ['starting', 'draining', 'recycling', 'crashed', 'stopped'] as const) {
    assert.ok(!isRoutable(slot('a', { state })), state);
  }
  assert.ok(!isRoutable(slot('a', { connection: undefined })), 'no connection');
  const broken = new FakeConnection();
  broken.usable = false;
  assert.ok(!isRoutable(slot('a', { connection: asConnection(broken) })), 'a broken or draining connection');
  assert.ok(isRoutable(slot('a', { startedCalls: 4, callLimit: 5 })));
  assert.ok(!isRoutable(slot('a', { startedCalls: 5, callLimit: 5 })), 'past workerMaxRequests');
  assert.ok(!isRoutable(slot('a', { stuck: 1 })), 'a stuck call');
});

test('free counts the places that run calls; room adds the calls a worker may hold sent ahead', () => {
  assert.ok(isFree(slot('a', { inFlight: 0 })));
  assert.ok(!isFree(slot('a', { inFlight: 1 })));
  assert.ok(isFree(slot('t', { capacity: 4, prefetch: 0, inFlight: 3 })), 'a thread worker with an idle thread');
  assert.ok(!isFree(slot('t', { capacity: 4, prefetch: 0, inFlight: 4 })));
  assert.ok(hasRoom(slot('a', { inFlight: 2 })));
  assert.ok(!hasRoom(slot('a', { inFlight: 3 })), 'capacity 1 + prefetch 2');
  assert.ok(!hasRoom(slot('a', { inFlight: 0, state: 'draining' })));
  assert.ok(!isFree(slot('a', { inFlight: 0, state: 'draining' })));
});

test('pickWorker: the least loaded with room, the earliest joined among equals; an idle one before any sent-ahead place', () => {
  const pick = (slots: (Routing & { id: string })[], sendAhead?: boolean) => pickWorker(slots, sendAhead)?.id;
  assert.equal(pick([slot('a'), slot('b')]), 'a');
  assert.equal(pick([slot('a', { inFlight: 1 }), slot('b')]), 'b');
  assert.equal(pick([slot('a', { inFlight: 2 }), slot('b', { inFlight: 1 }), slot('c', { inFlight: 1 })]), 'b');
  assert.equal(pick([slot('a', { inFlight: 3 }), slot('b', { inFlight: 3 })]), undefined, 'all full, sent-ahead places too');
  assert.equal(pick([slot('a', { state: 'draining' }), slot('b', { inFlight: 2 })]), 'b', 'an idle draining worker is passed over');
  assert.equal(pick([slot('a', { inFlight: 1 }), slot('b', { inFlight: 2 })], false), undefined, 'without sending ahead: only a free place');
  assert.equal(pick([slot('a', { inFlight: 1 }), slot('b', { inFlight: 0 })], false), 'b');
  assert.equal(pick([]), undefined);
});
