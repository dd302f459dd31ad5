// The fork server's statechart on xstate's SimulatedClock with fake effects: loads the test
// settles by hand and exits it reports, so its restart rules (backoff, intensity within the
// period, restart type) and its refusal are walked with no process and no real time.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { test } from 'node:test';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import { type ForkServerInput, forkServerMachine, type ForkServerStateName, type LoadOutcome } from '../machines/forkServer.machine.js';
import type { ForkServerOptions } from '../src/preload/forkServer.js';
import { Preloader } from '../src/preload/preloader.js';

interface Harness {
  state(): string;
  context(): { pid: number | undefined; restarts: number; message: string | undefined };
  /** Settles the pending load. */
  load(outcome: LoadOutcome): Promise<void>;
  exit(signal?: string | null, exitCode?: number | null): void;
  advance(ms: number): void;
  entered: ForkServerStateName[];
}

function harness(restart: Partial<ForkServerInput['restart']> = {}): Harness {
  const clock = new SimulatedClock();
  const loads: ((outcome: LoadOutcome) => void)[] = [];
  let exited: ((exit: { signal: string | null; exitCode: number | null }) => void) | undefined;
  const entered: ForkServerStateName[] = [];
  const machine = forkServerMachine.provide({
    actors: {
      load: fromPromise(() => new Promise<LoadOutcome>((resolve) => loads.push(resolve))),
      watchExit: fromCallback(({ sendBack }) => {
        exited = (exit) => sendBack({ type: 'EXITED', ...exit });
        return () => (exited = undefined);
      }),
    },
    actions: { enter: (_, params) => void entered.push(params.state) },
  });
  const input: ForkServerInput = { pool: 'p', restart: { intensity: 3, periodMs: 5000, type: 'permanent', backoffMs: 25, ...restart } };
  const actor = createActor(machine, { input, clock }).start();
  return {
    state: () => String(actor.getSnapshot().value),
    context: () => actor.getSnapshot().context,
    load: async (outcome) => {
      const settle = loads.shift();
      assert.ok(settle, 'a load is pending');
      settle(outcome);
      await new Promise((resolve) => setImmediate(resolve)); // the promise actor's done event
    },
    exit: (signal = 'SIGKILL', exitCode = null) => {
      assert.ok(exited, 'its exit is watched');
      exited({ signal, exitCode });
    },
    advance: (ms) => clock.increment(ms),
    entered,
  };
}

test('a fork server that dies is started again after the backoff, and counts its restarts', async () => {
  const h = harness();
  assert.equal(h.state(), 'starting');
  await h.load({ ok: true, pid: 100 });
  assert.equal(h.state(), 'ready');
  assert.equal(h.context().pid, 100);
  h.exit();
  assert.equal(h.state(), 'restarting');
  assert.equal(h.context().pid, undefined);
  h.advance(24);
  assert.equal(h.state(), 'restarting', 'it waits out the backoff');
  h.advance(1);
  assert.equal(h.state(), 'starting');
  await h.load({ ok: true, pid: 101 });
  assert.deepEqual([h.state(), h.context().pid, h.context().restarts], ['ready', 101, 1]);
  assert.deepEqual(h.entered, ['starting', 'ready', 'restarting', 'starting', 'ready']);
});

test('a refused module stays refused with its message; a module that fails to load is failed', async () => {
  const refused = harness();
  await refused.load({ ok: false, refused: true, message: 'threads at import' });
  assert.deepEqual([refused.state(), refused.context().message], ['refused', 'threads at import']);
  refused.advance(60_000);
  assert.equal(refused.state(), 'refused');
  const failed = harness();
  await failed.load({ ok: false, refused: false, message: 'ModuleNotFoundError: No module named x' });
  assert.deepEqual([failed.state(), failed.context().message], ['failed', 'ModuleNotFoundError: No module named x']);
});

test('more deaths than the intensity within the period give it up; spaced out, they do not', async () => {
  const fast = harness({ intensity: 2, periodMs: 1000 });
  for (let i = 0; i < 2; i++) {
    await fast.load({ ok: true, pid: 100 + i });
    fast.exit();
    fast.advance(25);
  }
  await fast.load({ ok: true, pid: 102 });
  fast.exit();
  assert.equal(fast.state(), 'failed');
  assert.match(fast.context().message!, /died more than 2 times within 1000 ms/);

  const spaced = harness({ intensity: 2, periodMs: 1000 });
  for (let i = 0; i < 5; i++) {
    await spaced.load({ ok: true, pid: 100 + i });
    spaced.exit();
    assert.equal(spaced.state(), 'restarting', `death ${i + 1}, the earlier ones out of the window`);
    spaced.advance(1000);
  }
  assert.equal(spaced.context().restarts, 5);
});

test('a temporary pool does not restart its fork server; a transient one does after a crash', async () => {
  const temporary = harness({ type: 'temporary' });
  await temporary.load({ ok: true, pid: 100 });
  temporary.exit();
  assert.equal(temporary.state(), 'failed');
  assert.match(temporary.context().message!, /restart type is "temporary"/);
  const transient = harness({ type: 'transient' });
  await transient.load({ ok: true, pid: 100 });
  transient.exit('SIGKILL');
  assert.equal(transient.state(), 'restarting');
});

test("a worker start waiting for the fork server keeps one listener on its signal however many restarts it waits out, and spawns once it is closed", async () => {
  const preloader = new Preloader({} as ForkServerOptions, { spawned: () => {}, changed: () => {} });
  const context = { pool: 'p', restart: { intensity: 3, periodMs: 5000, type: 'permanent' as const, backoffMs: 25 }, pid: undefined, restarts: 0, restartWindow: [], restartSeq: 0, message: undefined };
  const controller = new AbortController();
  const forked = preloader.fork([], controller.signal);
  for (let i = 0; i < 20; i++) {
    preloader.entered(i % 2 ? 'starting' : 'restarting', context);
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
  preloader.close();
  assert.equal(await forked, undefined, 'closed: the start spawns');
  assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
});
