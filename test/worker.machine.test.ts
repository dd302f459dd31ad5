// Walks the worker statechart with xstate/graph: every state is reachable and every
// transition the lifecycle promises exists, with no process involved (the machine is pure).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createActor, fromCallback, fromPromise } from 'xstate';
import { getAdjacencyMap } from 'xstate/graph';
import { workerMachine } from '../machines/worker.machine.js';

// Alone, with no pool above it to report to.
const standalone = workerMachine.provide({ actions: { tellParent: () => undefined } });

const leaf = (value: unknown): string =>
  typeof value === 'string' ? value : leaf(Object.values(value as Record<string, unknown>)[0]);

const events = [
  { type: 'xstate.done.actor.boot', output: { pid: 42 } },
  { type: 'xstate.error.actor.boot', error: new Error('import failed') },
  { type: 'xstate.done.actor.retire' },
  { type: 'LOAD', inFlight: 0 },
  { type: 'LOAD', inFlight: 1 },
  { type: 'LOAD', inFlight: 3 },
  { type: 'DRAINED' },
  { type: 'EXITED', exitCode: null, signal: 'SIGKILL' },
  { type: 'DRAIN', reason: 'max_requests' },
  { type: 'STOP' },
  { type: 'KILL', reason: 'shutdown' },
  { type: 'RESTART' },
] as any[];

function edges(capacity: number): Set<string> {
  const map = getAdjacencyMap(standalone, {
    input: { id: 'w-1', pool: 'p', capacity },
    events,
    serializeState: (snapshot: any) => `${JSON.stringify(snapshot.value)}|${snapshot.context.inFlight}|${snapshot.context.retireReason}|${snapshot.status}`,
  });
  const found = new Set<string>();
  for (const node of Object.values(map) as any[]) {
    for (const { event, state } of Object.values(node.transitions) as any[]) {
      const from = leaf(node.state.value);
      const to = leaf(state.value);
      const changed = from !== to || (['inFlight', 'restarts'] as const).some((k) => state.context[k] !== node.state.context[k]);
      if (changed) found.add(`${from} -${event.type}-> ${to}`);
    }
  }
  return found;
}

test('every worker state is reachable and every lifecycle transition exists', () => {
  const found = new Set([...edges(1), ...edges(3)]);
  const states = new Set([...found].flatMap((edge) => [edge.split(' ')[0], edge.split(' ').at(-1)!]));
  assert.deepEqual([...states].sort(), ['busy', 'crashed', 'draining', 'ready', 'recycling', 'starting', 'stopped']);
  const expected = [
    'starting -xstate.done.actor.boot-> ready',
    'starting -xstate.error.actor.boot-> crashed',
    'starting -STOP-> stopped',
    'starting -KILL-> stopped',
    'starting -DRAIN-> stopped', // replaced before it was ready
    'ready -LOAD-> busy',
    'ready -LOAD-> ready', // a thread worker with room left
    'busy -LOAD-> ready',
    'busy -LOAD-> busy', // still full, new count
    'ready -DRAIN-> draining',
    'busy -DRAIN-> draining',
    'ready -STOP-> draining',
    'busy -STOP-> draining',
    'draining -DRAINED-> recycling', // the dispatcher says no call is left (at once, if none was)
    'draining -LOAD-> draining',
    'ready -EXITED-> crashed',
    'busy -EXITED-> crashed',
    'draining -EXITED-> crashed',
    'ready -KILL-> recycling',
    'busy -KILL-> recycling',
    'draining -KILL-> recycling',
    'recycling -xstate.done.actor.retire-> stopped',
    'crashed -RESTART-> starting',
    'starting -RESTART-> starting', // a sibling restarted while still booting
    'ready -RESTART-> recycling', // one_for_all / rest_for_one: end the live process first…
    'busy -RESTART-> recycling',
    'draining -RESTART-> recycling',
    'recycling -xstate.done.actor.retire-> starting', // …then start again
    'crashed -STOP-> stopped',
    'crashed -KILL-> stopped',
    'crashed -DRAIN-> stopped',
  ];
  for (const edge of expected) assert.ok(found.has(edge), `missing transition: ${edge}\nfound:\n${[...found].sort().join('\n')}`);
  for (const edge of found) assert.ok(expected.includes(edge), `unexpected transition: ${edge}`);
});

test('a thread worker is busy only when every thread is in use', () => {
  const actor = createActor(
    standalone.provide({
      actors: {
        boot: fromPromise(async () => ({ pid: 1 })),
        watchExit: fromCallback(() => undefined),
      },
    }),
    { input: { id: 'w', pool: 'p', capacity: 8 } },
  );
  actor.start();
  return new Promise<void>((resolve) => {
    setTimeout(() => {
      actor.send({ type: 'LOAD', inFlight: 3 });
      assert.deepEqual(actor.getSnapshot().value, { alive: 'ready' });
      assert.equal(actor.getSnapshot().context.inFlight, 3);
      actor.send({ type: 'LOAD', inFlight: 8 });
      assert.deepEqual(actor.getSnapshot().value, { alive: 'busy' });
      actor.send({ type: 'LOAD', inFlight: 7 });
      assert.deepEqual(actor.getSnapshot().value, { alive: 'ready' });
      assert.equal(actor.getSnapshot().context.inFlight, 7);
      actor.stop();
      resolve();
    }, 5);
  });
});

test('a drain ends when the dispatcher says no call is left, not on a load report', () => {
  const machine = workerMachine.provide({
    actions: { tellParent: () => undefined },
    actors: { boot: fromPromise(async () => ({ pid: 7 })), watchExit: fromCallback(() => undefined), heartbeat: fromCallback(() => undefined) },
  });
  const actor = createActor(machine, { input: { id: 'w-1', pool: 'p', capacity: 4 } }).start();
  return new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
    assert.equal(leaf(actor.getSnapshot().value), 'ready');
    actor.send({ type: 'DRAIN', reason: 'server_draining' });
    assert.equal(leaf(actor.getSnapshot().value), 'draining', 'it waits for the dispatcher, which counts the calls');
    actor.send({ type: 'LOAD', inFlight: 0 });
    assert.equal(leaf(actor.getSnapshot().value), 'draining', 'a load report is for display: it ends no drain');
    actor.send({ type: 'DRAINED' });
    assert.equal(leaf(actor.getSnapshot().value), 'recycling');
    actor.stop();
  });
});
