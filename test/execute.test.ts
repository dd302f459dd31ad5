// Calls through a real process pool: results round-trip exactly, and every call error code
// comes from a real scenario.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { PythonError, type Snakepit, SnakepitError } from '../src/index.js';
import { checkNoLeaks, createPit, startPit } from './helpers.js';

checkNoLeaks();

let pit: Snakepit;
const logs: string[] = [];

before(async () => {
  pit = await startPit({ pools: [{ name: 'calc', poolSize: 2, adapter: 'sample_adapters.Calc' }] });
  pit.on('worker:log', (e) => logs.push(`${e.stream}:${e.line}`));
});

async function rejection(promise: Promise<unknown>): Promise<SnakepitError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof SnakepitError, `expected a SnakepitError, got ${error}`);
    return error;
  }
  assert.fail('expected the call to reject');
}

test('JSON values and bytes round-trip exactly', async () => {
  const value = {
    int: 7, big: 2 ** 53 - 1, negative: -3, float: 2.5, text: 'ünïcode ✓', nil: null, yes: true,
    nested: { list: [1, [2, [3, { deep: null }]], 'x'], empty: {}, none: [] },
    bytes: Buffer.from([0, 1, 2, 255]),
    bytesInList: [Buffer.from('a'), Buffer.alloc(0)],
  };
  assert.deepEqual(await pit.execute('echo', value, { pool: 'calc' }), value);
  const sum = await pit.execute('add', { a: 2, b: 3 }, { pool: 'calc' });
  assert.equal(sum, 5);
  assert.ok(Number.isInteger(sum));
});

test('a Python exception is PYTHON_ERROR: its message is Python\'s last line, the traceback apart; the worker keeps serving', async () => {
  const pid = await pit.execute('pid', {}, { pool: 'calc' });
  const error = await rejection(pit.execute('fail', { message: 'bad input' }, { pool: 'calc' }));
  assert.ok(error instanceof PythonError);
  assert.equal(error.code, 'PYTHON_ERROR');
  assert.equal(error.message, 'ValueError: bad input', 'no traceback, no file path');
  assert.deepEqual([error.tool, error.pythonType, error.pythonMessage], ['fail', 'ValueError', 'bad input']);
  assert.match(error.pythonTraceback, /^Traceback \(most recent call last\):\n[\s\S]*sample_adapters\.py", line \d+, in fail\n[\s\S]*ValueError: bad input\n?$/);
  assert.equal((await rejection(pit.execute('fail', { message: '' }, { pool: 'calc' }))).message, 'ValueError', 'an empty message: the type alone, as Python prints it');
  assert.equal(await pit.execute('ping', {}, { pool: 'calc' }), 'pong');
  const pids = new Set(pit.inspect().pools[0].workers.map((w) => w.pid));
  assert.ok(pids.has(pid as number), 'the worker that raised is still serving');
});

test('unknown tool is TOOL_NOT_FOUND naming the available tools', async () => {
  const error = await rejection(pit.execute('nope', {}, { pool: 'calc' }));
  assert.equal(error.code, 'TOOL_NOT_FOUND');
  assert.match(error.message, /add/);
});

test('wrong arguments are INVALID_ARGUMENT', async () => {
  const missing = await rejection(pit.execute('add', { a: 1 }, { pool: 'calc' }));
  assert.equal(missing.code, 'INVALID_ARGUMENT');
  assert.match(missing.message, /b/);
  const notAnObject = await rejection(pit.execute('add', [1, 2] as any, { pool: 'calc' }));
  assert.equal(notAnObject.code, 'INVALID_ARGUMENT');
});

test('unknown pool is POOL_NOT_FOUND', async () => {
  const error = await rejection(pit.execute('add', { a: 1, b: 2 }, { pool: 'missing' }));
  assert.equal(error.code, 'POOL_NOT_FOUND');
  assert.match(error.message, /calc/);
});

test('a deadline gives TIMEOUT and the worker serves again once Python returns', async () => {
  const started = Date.now();
  const error = await rejection(pit.execute('sleep', { seconds: 0.6 }, { pool: 'calc', timeoutMs: 150 }));
  assert.equal(error.code, 'TIMEOUT');
  assert.ok(Date.now() - started < 500, 'the caller is not held until Python finishes');
  assert.equal(
    error.message,
    'Tool "sleep" did not answer within 150 ms. Python may still be running it: the tool sees ctx.cancelled turn true, and its ' +
      "worker keeps the call's place until the tool returns. If it is still running 5000 ms from now (cancelGraceMs), the worker is judged stuck and replaced.",
  );
  const results = await Promise.all([1, 2, 3].map((a) => pit.execute('add', { a, b: 1 }, { pool: 'calc' })));
  assert.deepEqual(results, [2, 3, 4]);
});

test('a reply that comes after the deadline is TIMEOUT, even when a busy event loop runs the deadline late', async () => {
  // The loop is held from 250 to 750 ms: Python's answer (≈350 ms) is read before the 300 ms
  // deadline's timer gets to run, and must not count as a result.
  setTimeout(() => {
    const until = performance.now() + 500;
    while (performance.now() < until);
  }, 250);
  const error = await rejection(pit.execute('sleep', { seconds: 0.35 }, { pool: 'calc', timeoutMs: 300 }));
  assert.equal(error.code, 'TIMEOUT');
  assert.equal(error.message, 'Tool "sleep" did not answer within 300 ms: its answer came after the deadline and was dropped.');
});

test('a deadline that passes while the call waits for a worker says it never ran', async () => {
  // Two workers, each running one call and holding two sent ahead (prefetch 2): six fill the pool.
  const busy = Array.from({ length: 6 }, () => pit.execute('sleep', { seconds: 0.4 }, { pool: 'calc' }));
  try {
    const error = await rejection(pit.execute('add', { a: 1, b: 2 }, { pool: 'calc', timeoutMs: 150 }));
    assert.equal(error.message, 'Tool "add" did not answer within 150 ms: no worker took it in that time, so it never ran in Python.');
  } finally {
    await Promise.all(busy);
  }
});

test('an AbortSignal gives ABORTED, before or during the call', async () => {
  const early = await rejection(pit.execute('ping', {}, { pool: 'calc', signal: AbortSignal.abort() }));
  assert.equal(early.code, 'ABORTED');
  const controller = new AbortController();
  const call = pit.execute('sleep', { seconds: 0.5 }, { pool: 'calc', signal: controller.signal });
  setTimeout(() => controller.abort(), 50);
  assert.equal((await rejection(call)).code, 'ABORTED');
});

test('a full queue is POOL_SATURATED and a long wait is QUEUE_TIMEOUT', async () => {
  const small = await startPit({
    pools: [{ name: 'one', poolSize: 1, prefetch: 0, adapter: 'sample_adapters.Calc', maxQueue: 1, queueTimeoutMs: 200 }],
  });
  const running = small.execute('sleep', { seconds: 0.6 }, { pool: 'one' });
  const queued = small.execute('ping', {}, { pool: 'one' });
  const saturated = await rejection(small.execute('ping', {}, { pool: 'one' }));
  assert.equal(saturated.code, 'POOL_SATURATED');
  assert.equal((await rejection(queued)).code, 'QUEUE_TIMEOUT');
  assert.equal(small.stats('one').queueTimeouts, 1);
  await running;
  await small.stop();
});

test('worker stdout and stderr lines arrive as worker:log events', async () => {
  assert.equal(await pit.execute('chatty', {}, { pool: 'calc' }), 'ok');
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(logs.some((l) => l.startsWith('stdout:') && l.includes('chatty')), logs.join('\n'));
  assert.ok(logs.some((l) => l.startsWith('stderr:') && l.includes('chatty')), logs.join('\n'));
});

test('stats count requests, failures and latency', () => {
  const stats = pit.stats('calc');
  assert.ok(stats.requests >= 10);
  assert.ok(stats.failures >= 4);
  assert.equal(stats.capacity, 2);
  assert.ok(stats.runMs.p50 > 0 && stats.runMs.count > 0);
});

test('the process profile sets the thread variables to "1" unless adapterEnv overrides them', async () => {
  const probe = await startPit({
    pools: [
      { name: 'plain', poolSize: 1, adapter: 'node_adapters.EnvProbe' },
      { name: 'pairs', poolSize: 1, adapter: 'node_adapters.EnvProbe', adapterEnv: [['OMP_NUM_THREADS', '3'], ['EXTRA', 'x']] },
    ],
  });
  const plain = (await probe.execute('env', {}, { pool: 'plain' })) as Record<string, string>;
  assert.deepEqual(Object.values(plain), ['1', '1', '1', '1', '1']);
  const pairs = (await probe.execute('env', { names: ['EXTRA', 'SNAKEPIT_TOKEN'] }, { pool: 'pairs' })) as Record<string, string>;
  assert.equal(pairs.OMP_NUM_THREADS, '3');
  assert.equal(pairs.MKL_NUM_THREADS, '1');
  assert.equal(pairs.EXTRA, 'x');
  assert.equal(pairs.SNAKEPIT_TOKEN, null, 'the token is not visible to tools');
  await probe.stop();
});

test('after stop() calls are refused with SHUTTING_DOWN', async () => {
  const other = createPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  await other.start();
  await other.stop();
  assert.equal((await rejection(other.execute('ping', {}))).code, 'SHUTTING_DOWN');
});

test('stream() yields a generator tool\'s chunks; leaving the loop early cancels it and frees the worker', async () => {
  const chunks: unknown[] = [];
  for await (const chunk of pit.stream('count', { n: 5 }, { pool: 'calc' })) chunks.push(chunk);
  assert.deepEqual(chunks, [0, 1, 2, 3, 4]);
  let seen = 0;
  for await (const _chunk of pit.stream('count', { n: 1_000_000 }, { pool: 'calc' })) {
    if (++seen === 3) break;
  }
  assert.equal(seen, 3);
  const results = await Promise.all([1, 2].map((a) => pit.execute('add', { a, b: 1 }, { pool: 'calc' })));
  assert.deepEqual(results, [2, 3], 'both workers serve again');
  const failing = pit.stream('nope', {}, { pool: 'calc' });
  await assert.rejects(async () => {
    for await (const _ of failing) { /* nothing arrives */ }
  }, (e: SnakepitError) => e.code === 'TOOL_NOT_FOUND');
});
