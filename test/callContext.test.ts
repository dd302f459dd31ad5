// The call context (ctx) a tool receives: cancellation that reaches Python, deadlines and
// sessions it can read, progress reports, stuck calls whose worker is replaced, and Python
// calling functions Node exposed — on both profiles, with real workers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SnakepitEvents } from '../src/index.js';
import { checkNoLeaks, errorOf, isAlive, sleep, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const PROFILES = [
  { profile: 'process' as const, adapter: 'context_adapters.Contextual', pool: { workerProfile: 'process' as const } },
  { profile: 'thread' as const, adapter: 'context_adapters.ThreadedContextual', pool: { workerProfile: 'thread' as const, threadsPerWorker: 4 } },
];

type Seen = { label: string; cancelled: boolean; after_s: number };

for (const { profile, adapter, pool } of PROFILES) {
  describe(`${profile} profile`, () => {
    test('a deadline and an abort reach Python at once, unary and streaming: TIMEOUT / ABORTED in Node, ctx.cancelled in the tool', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter, ...pool }] });
      const t0 = performance.now();
      const timedOut = await errorOf(pit.execute('cooperative', { seconds: 5, label: 'deadline' }, { timeoutMs: 300 }));
      assert.equal(timedOut.code, 'TIMEOUT');
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const aborted = await errorOf(pit.execute('cooperative', { seconds: 5, label: 'abort' }, { signal: controller.signal }));
      assert.equal(aborted.code, 'ABORTED');
      // A thread worker answers the log at once, while the aborted call may still be noticing.
      const chunks: unknown[] = [];
      const streamTimedOut = await errorOf((async () => {
        for await (const chunk of pit.stream('cooperative_stream', { seconds: 5, label: 'stream deadline' }, { timeoutMs: 300 })) chunks.push(chunk);
      })());
      assert.equal(streamTimedOut.code, 'TIMEOUT');
      assert.deepEqual(chunks, ['started']);
      const streamAbort = new AbortController();
      setTimeout(() => streamAbort.abort(), 200);
      const streamAborted = await errorOf((async () => {
        for await (const _ of pit.stream('cooperative_stream', { seconds: 5, label: 'stream abort' }, { signal: streamAbort.signal }));
      })());
      assert.equal(streamAborted.code, 'ABORTED');
      let seen: Seen[] = [];
      for (const until = Date.now() + 5000; seen.length < 4 && Date.now() < until; await sleep(20)) seen = (await pit.execute('seen_log')) as Seen[];
      assert.deepEqual(seen.map((s) => [s.label, s.cancelled]), [['deadline', true], ['abort', true], ['stream deadline', true], ['stream abort', true]]);
      for (const s of seen) assert.ok(s.after_s < 2, `${s.label}: the tool saw the cancel after ${s.after_s.toFixed(2)} s of 5`);
      assert.ok(performance.now() - t0 < 8000, 'no call ran its 5 s');
    });

    test('ctx carries the session id and the time left; a tool without ctx is unchanged; ctx cannot be passed', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter, ...pool }] });
      const within = (await pit.execute('whoami', {}, { sessionId: 'chat-7', timeoutMs: 20_000 })) as Record<string, unknown>;
      assert.equal(within.session_id, 'chat-7');
      assert.equal(within.cancelled, false);
      assert.ok(typeof within.remaining === 'number' && within.remaining > 10 && within.remaining <= 20, `remaining ${within.remaining}`);
      assert.deepEqual(await pit.execute('whoami'), { session_id: null, remaining: null, cancelled: false });
      assert.equal(typeof (await pit.execute('pid')), 'number');
      const passed = await errorOf(pit.execute('whoami', { ctx: 1 }));
      assert.equal(passed.code, 'INVALID_ARGUMENT');
      assert.match(passed.message, /ctx is the call's context/);
    });

    test('progress arrives in order before the result, as onProgress and request:progress', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter, ...pool }] });
      const heard: unknown[] = [];
      const events: Parameters<SnakepitEvents['request:progress']>[0][] = [];
      pit.on('request:progress', (e) => events.push(e));
      let settled = false;
      const result = await pit.execute('report', { n: 5 }, {
        onProgress: (p) => {
          assert.equal(settled, false, 'progress after the result');
          heard.push(p);
        },
      });
      settled = true;
      assert.equal(result, 'done');
      const expected = [1, 2, 3, 4, 5].map((i) => ({ done: i, total: 5, message: `step ${i}` }));
      assert.deepEqual(heard, [...expected, { done: 0.5, total: null, message: null }]);
      assert.deepEqual(events.map(({ done, total, message }) => ({ done, total, message })), heard);
      assert.ok(events.every((e) => e.pool === 'p' && e.tool === 'report' && typeof e.workerId === 'string'));

      const chunks: unknown[] = [];
      const streamed: number[] = [];
      for await (const chunk of pit.stream('report_stream', { n: 3 }, { onProgress: (p) => streamed.push(p.done) })) chunks.push(chunk);
      assert.deepEqual(chunks, [0, 1, 2]);
      assert.deepEqual(streamed, [1, 2, 3]);

      const bad = await errorOf(pit.execute('bad_progress'));
      assert.equal(bad.code, 'PYTHON_ERROR');
      assert.match(bad.message, /done must be a number/);
      const misuse = await errorOf(pit.execute('report', { n: 1 }, { onProgress: 'yes' as never }));
      assert.equal(misuse.code, 'INVALID_ARGUMENT');
    });

    test('ctx.call runs a function Node exposed; errors cross both ways; unknown names are refused clearly', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: profile === 'process' ? 2 : 1, adapter, ...pool }] });
      pit.expose('add', ({ a, b }) => (a as number) + (b as number));
      pit.expose('lookup', async ({ key }) => {
        await sleep(20);
        return { key, value: Buffer.from('stored') };
      });
      pit.expose('throws', () => {
        throw new RangeError('no such account');
      });
      let nested: unknown;
      pit.expose('nested_failure', async () => {
        try {
          await pit.execute('fail', { message: 'inner tool failed' });
        } catch (error) {
          nested = error;
          throw error;
        }
      });
      assert.equal(await pit.execute('ask_node', { name: 'add', a: 2, b: 40 }), 42);
      assert.deepEqual(await pit.execute('ask_node', { name: 'lookup', key: 'k1' }), { key: 'k1', value: Buffer.from('stored') });

      assert.deepEqual(await pit.execute('ask_node_catching', { name: 'throws' }), { error: 'no such account', code: 'NODE_ERROR', type: 'RangeError' });
      const uncaught = await errorOf(pit.execute('ask_node', { name: 'throws' }));
      assert.equal(uncaught.code, 'PYTHON_ERROR');
      assert.equal((uncaught as { pythonType?: string }).pythonType, 'NodeError');
      assert.match(uncaught.message, /no such account/);

      const unknown = (await pit.execute('ask_node_catching', { name: 'nope' })) as Record<string, string>;
      assert.equal(unknown.code, 'NOT_EXPOSED');
      assert.match(unknown.error, /no function named "nope" is exposed.*exposed: add, lookup, nested_failure, throws.*pit\.expose\("nope", fn\)/);

      const crossed = (await pit.execute('ask_node_catching', { name: 'nested_failure' })) as Record<string, string>;
      assert.equal((nested as { code?: string }).code, 'PYTHON_ERROR', 'the nested tool error reached Node as PYTHON_ERROR');
      assert.match(crossed.error, /inner tool failed/);

      const remove = pit.expose('temporary', () => 1);
      assert.equal(await pit.execute('ask_node', { name: 'temporary' }), 1);
      remove();
      assert.equal(((await pit.execute('ask_node_catching', { name: 'temporary' })) as Record<string, string>).code, 'NOT_EXPOSED');
      assert.equal(errorOfSync(() => pit.expose('', () => 1)), 'INVALID_ARGUMENT');
      assert.equal(errorOfSync(() => pit.expose('x', 'not a function' as never)), 'INVALID_ARGUMENT');
    });

    test('calls nest: tool → Node → tool → Node → tool, three deep, without deadlock', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: profile === 'process' ? 3 : 1, adapter, ...pool }] });
      pit.expose('descend', ({ depth }) => pit.execute('chain', { depth }));
      const pids = (await pit.execute('chain', { depth: 3 }, { timeoutMs: 20_000 })) as number[];
      assert.equal(pids.length, 3);
      const workerPids = pit.inspect().pools[0].workers.map((w) => w.pid);
      for (const pid of pids) assert.ok(workerPids.includes(pid));
      if (profile === 'process') assert.equal(new Set(pids).size, 3, 'each level ran on a free worker of its own');
    });
  });
}

test('process profile: a call that ignores its cancel is stuck after cancelGraceMs, and its worker is replaced', async (t) => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, cancelGraceMs: 500, adapter: 'context_adapters.Contextual' }] });
  const recycling: string[] = [];
  pit.on('worker:recycling', (e) => recycling.push(e.reason));
  const oldPid = (await pit.execute('pid')) as number;
  const stuck = await errorOf(pit.execute('stubborn', { seconds: 30 }, { timeoutMs: 200 }));
  assert.equal(stuck.code, 'TIMEOUT');
  const t0 = performance.now();
  const next = (await pit.execute('pid', {}, { timeoutMs: 10_000 })) as number;
  const servedMs = performance.now() - t0;
  assert.notEqual(next, oldPid, 'a new process serves the next call');
  assert.ok(servedMs < 3000, `served after ${servedMs.toFixed(0)} ms`);
  t.diagnostic(`the next call was served by a new process ${servedMs.toFixed(0)} ms after the stuck call timed out`);
  assert.deepEqual(recycling, ['stuck_call']);
  await waitFor(() => !isAlive(oldPid), 5000, 'the stuck process to be killed');
  await waitFor(() => pit.inspect().pools[0].workers.length === 1, 5000, 'the old worker to leave the pool');
  assert.equal(pit.stats('p').inFlight, 0);
});

test('thread profile: a stuck call stops routing to its worker, which ends once its other calls are done', async () => {
  const pit = await startPit({
    pools: [{ name: 'p', poolSize: 1, workerProfile: 'thread', threadsPerWorker: 4, cancelGraceMs: 300, adapter: 'context_adapters.ThreadedContextual' }],
  });
  const recycling: string[] = [];
  pit.on('worker:recycling', (e) => recycling.push(e.reason));
  const oldPid = (await pit.execute('pid')) as number;
  const other = pit.execute('cooperative', { seconds: 2, label: 'other' });
  const stuck = await errorOf(pit.execute('stubborn', { seconds: 30 }, { timeoutMs: 200 }));
  assert.equal(stuck.code, 'TIMEOUT');
  assert.equal(await pit.execute('pid'), oldPid, 'within the grace period the worker still serves');
  await waitFor(() => recycling.length > 0, 5000, 'the stuck call to be noticed');
  const next = (await pit.execute('pid', {}, { timeoutMs: 10_000 })) as number;
  assert.notEqual(next, oldPid, 'new calls go to the replacement');
  assert.equal(await other, 'finished', 'the other call on the old worker ran to its end');
  await waitFor(() => !isAlive(oldPid), 5000, 'the old process to be killed once its other calls ended');
  assert.deepEqual(recycling, ['stuck_call']);
  await waitFor(() => pit.inspect().pools[0].workers.length === 1, 5000, 'the old worker to leave the pool');
  assert.equal(pit.inspect().pools[0].capacity, 4, 'capacity never silently shrank');
});

test('a cancelled call that ends within cancelGraceMs keeps its worker', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, cancelGraceMs: 2000, adapter: 'context_adapters.Contextual' }] });
  const recycling: string[] = [];
  pit.on('worker:recycling', (e) => recycling.push(e.reason));
  const pid = (await pit.execute('pid')) as number;
  assert.equal((await errorOf(pit.execute('stubborn', { seconds: 0.5 }, { timeoutMs: 100 }))).code, 'TIMEOUT');
  assert.equal(await pit.execute('pid'), pid);
  await sleep(2500);
  assert.deepEqual(recycling, []);
  assert.equal(await pit.execute('pid'), pid);
});

function errorOfSync(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}
