// Bad arguments fail their own call and nothing else: a coded error within a second, on both
// profiles, whether the call runs at once or waits behind busy workers; the worker keeps its PID,
// serves the next call and shows `ready` with nothing in flight.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Snakepit, SnakepitError } from '../src/index.js';
import { checkNoLeaks, sleep, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const LIMIT = 4 * 1024 * 1024;

function nested(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

const circular: Record<string, unknown> = { name: 'loop' };
circular.self = { back: circular };
const manyKeys = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, i]));
const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays

interface Row {
  name: string;
  tool: string;
  args: () => Record<string, unknown>;
  /** The error code, or 'ok' with the value the call must return. */
  code: string;
  result?: unknown;
  /** A message fragment that names the problem or its path. */
  says?: RegExp;
  /** Refused in Node before a worker is involved (settles while every worker is busy). */
  inNode: boolean;
}

const rows: Row[] = [
  { name: 'circular object', tool: 'echo', args: () => ({ data: circular }), code: 'INVALID_ARGUMENT', says: /data\.self\.back/, inNode: true },
  { name: 'throwing toJSON', tool: 'echo', args: () => ({ v: { toJSON() { throw new Error('nope'); } } }), code: 'INVALID_ARGUMENT', says: /"v".*nope/, inNode: true },
  { name: 'throwing getter', tool: 'echo', args: () => ({ v: { get x() { throw new TypeError('getter'); } } }), code: 'INVALID_ARGUMENT', says: /v\.x/, inNode: true },
  { name: 'Proxy with throwing traps', tool: 'echo', args: () => ({ p: new Proxy({}, { ownKeys() { throw new Error('trap'); } }) }), code: 'INVALID_ARGUMENT', says: /trap/, inNode: true },
  { name: 'BigInt 70 levels deep', tool: 'echo', args: () => ({ n: nested(70, 12345678901234567890n) }), code: 'ok', result: { n: nested(70, 12345678901234567890n) }, inNode: false },
  { name: '10,000 levels of nesting', tool: 'echo', args: () => ({ deep: nested(10_000, 1) }), code: 'INVALID_ARGUMENT', says: /maxArgumentDepth/, inNode: true },
  { name: 'array 1,200 deep', tool: 'echo', args: () => ({ deep: nested(1200, 1) }), code: 'INVALID_ARGUMENT', says: /maxArgumentDepth/, inNode: true },
  { name: 'NaN', tool: 'echo', args: () => ({ x: NaN }), code: 'INVALID_ARGUMENT', says: /"x" .*NaN/, inNode: true },
  { name: '-Infinity in a list', tool: 'echo', args: () => ({ xs: [1, -Infinity] }), code: 'INVALID_ARGUMENT', says: /xs\[1\]/, inNode: true },
  { name: 'Map', tool: 'echo', args: () => ({ m: new Map([[1, 2]]) }), code: 'INVALID_ARGUMENT', says: /Map/, inNode: true },
  { name: 'Set', tool: 'echo', args: () => ({ s: new Set([1]) }), code: 'INVALID_ARGUMENT', says: /Set/, inNode: true },
  { name: 'DataView', tool: 'echo', args: () => ({ f: new DataView(new ArrayBuffer(8)) }), code: 'INVALID_ARGUMENT', says: /DataView/, inNode: true },
  { name: 'array whose data is not its dtype', tool: 'echo', args: () => ({ x: { dtype: 'float64', shape: [2], data: new Float32Array(2) } }), code: 'INVALID_ARGUMENT', says: /"x" of tool "echo" is an array .*Float32Array.*"float64" needs a Float64Array/, inNode: true },
  { name: 'array whose shape is not its size', tool: 'echo', args: () => ({ x: [{ dtype: 'int32', shape: [4, 3], data: new Int32Array(10) }] }), code: 'INVALID_ARGUMENT', says: /x\[0\].*\[4,3\] holds 12 elements, but data has 10/, inNode: true },
  { name: 'array of an unknown dtype', tool: 'echo', args: () => ({ x: { dtype: 'float16', shape: [1], data: new Uint16Array(1) } }), code: 'INVALID_ARGUMENT', says: /dtype "float16" is not one of float32/, inNode: true },
  { name: 'array with a fractional size', tool: 'echo', args: () => ({ x: { dtype: 'uint8', shape: [0.5, 2], data: new Uint8Array(1) } }), code: 'INVALID_ARGUMENT', says: /shape is not a list/, inNode: true },
  { name: 'function', tool: 'echo', args: () => ({ f: () => 1 }), code: 'INVALID_ARGUMENT', says: /function/, inNode: true },
  { name: 'sparse array', tool: 'echo', args: () => ({ a: sparse }), code: 'INVALID_ARGUMENT', says: /a\[1\].*sparse/, inNode: true },
  { name: 'undefined in a list', tool: 'echo', args: () => ({ a: [1, undefined] }), code: 'INVALID_ARGUMENT', says: /a\[1\]/, inNode: true },
  { name: 'lone surrogate', tool: 'echo', args: () => ({ s: 'ok \ud800 no' }), code: 'INVALID_ARGUMENT', says: /surrogate/, inNode: true },
  { name: 'lone surrogate key', tool: 'echo', args: () => ({ ['\udc00']: 1 }), code: 'INVALID_ARGUMENT', says: /surrogate/, inNode: true },
  { name: 'over maxMessageBytes', tool: 'echo', args: () => ({ b: Buffer.alloc(LIMIT + 1) }), code: 'MESSAGE_TOO_LARGE', says: new RegExp(String(LIMIT)), inNode: true },
  { name: '200,000 keys for a tool without them', tool: 'pid', args: () => manyKeys, code: 'INVALID_ARGUMENT', inNode: false },
  { name: 'a "self" key for a **kwargs tool', tool: 'echo', args: () => ({ self: 1 }), code: 'INVALID_ARGUMENT', inNode: false },
  { name: 'an exception whose __str__ raises', tool: 'unprintable', args: () => ({}), code: 'PYTHON_ERROR', says: /Unprintable/, inNode: false },
  {
    name: 'wire markers in user data stay data',
    tool: 'echo',
    args: () => ({ s: '\u0000bigint:123', marker: { $bytes: 0 }, $$bytes: 'x', b: Buffer.from('hi') }),
    code: 'ok',
    result: { s: '\u0000bigint:123', marker: { $bytes: 0 }, $$bytes: 'x', b: Buffer.from('hi') },
    inNode: false,
  },
];

async function outcome(promise: Promise<unknown>): Promise<{ code: string; value?: unknown; message?: string }> {
  try {
    return { code: 'ok', value: await promise };
  } catch (error) {
    assert.ok(error instanceof SnakepitError, `a coded SnakepitError, not ${error}`);
    return { code: error.code, message: error.message };
  }
}

function check(row: Row, got: { code: string; value?: unknown; message?: string }): void {
  assert.equal(got.code, row.code, `${row.name}: ${got.message ?? ''}`);
  if (row.code === 'ok') assert.deepEqual(got.value, row.result);
  if (row.says) assert.match(got.message!, row.says);
}

async function assertHealthy(pit: Snakepit, pids: number[]): Promise<void> {
  await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.state === 'ready' && w.inFlight === 0), 3000, 'idle ready workers');
  assert.deepEqual(pit.inspect().pools[0].workers.map((w) => w.pid), pids, 'the same worker processes');
  assert.ok(pids.includes((await pit.execute('pid', {})) as number), 'the next call is served');
}

for (const profile of ['process', 'thread'] as const) {
  describe(`${profile} profile`, () => {
    const adapter = profile === 'process' ? 'hostile_adapters.Hostile' : 'hostile_adapters.ThreadedHostile';
    const pool = { name: 'default', workerProfile: profile, poolSize: 1, threadsPerWorker: profile === 'thread' ? 2 : undefined, adapter, maxMessageBytes: LIMIT };

    test('each bad argument, run at once, fails alone', async () => {
      const pit = await startPit({ pools: [pool] });
      const pids = pit.inspect().pools[0].workers.map((w) => w.pid!);
      let slowest = 0;
      for (const row of rows) {
        const started = performance.now();
        const got = await outcome(pit.execute(row.tool, row.args()));
        const ms = performance.now() - started;
        slowest = Math.max(slowest, ms);
        check(row, got);
        // Wide: a loaded 2-core machine decodes 200,000 keys slowly; what matters is that no row waits for a timeout.
        assert.ok(ms < 1000 * (row.inNode ? 2 : 10), `${row.name} settles quickly`);
        await assertHealthy(pit, pids);
      }
      console.log(`${profile} profile: ${rows.length} bad-argument rows, slowest settled in ${slowest.toFixed(0)} ms`);
      await pit.stop();
    });

    test('each bad argument, submitted while every worker is busy, fails alone', async () => {
      const pit = await startPit({ pools: [pool] });
      const pids = pit.inspect().pools[0].workers.map((w) => w.pid!);
      const capacity = pit.inspect().pools[0].capacity;
      const busy = Array.from({ length: capacity }, () => pit.execute('sleep', { seconds: 1.5 }));
      await waitFor(() => pit.inspect().pools[0].workers[0].inFlight === capacity, 3000, 'busy workers');
      const submitted = performance.now();
      const settledAt = new Map<Row, number>();
      const results = rows.map((row) =>
        outcome(pit.execute(row.tool, row.args())).then((got) => {
          settledAt.set(row, performance.now() - submitted);
          return got;
        }),
      );
      await sleep(1000);
      for (const row of rows.filter((r) => r.inNode)) assert.ok(settledAt.has(row), `${row.name} settled while the workers were busy`);
      assert.deepEqual(await Promise.all(busy), Array(capacity).fill(pids[0]));
      const freedAt = performance.now() - submitted;
      (await Promise.all(results)).forEach((got, i) => check(rows[i], got));
      for (const row of rows.filter((r) => !r.inNode)) {
        assert.ok(settledAt.get(row)! - freedAt < 3000, `${row.name} settled soon after the workers were free`);
      }
      await assertHealthy(pit, pids);
      await pit.stop();
    });
  });
}

test('a pool taking 100 bad calls does not disturb a pool serving 1,000', async () => {
  const pit = await startPit({
    pools: [
      { name: 'victim', poolSize: 1, adapter: 'hostile_adapters.Hostile', maxArgumentDepth: 1000 },
      { name: 'other', poolSize: 2, adapter: 'hostile_adapters.Hostile' },
    ],
  });
  const trouble: string[] = [];
  pit.on('worker:crashed', (e) => trouble.push(`crashed ${e.workerId}`));
  pit.on('supervisor:escalation', (e) => trouble.push(`escalation ${e.pool}`));
  const victimPid = pit.inspect().pools[0].workers[0].pid;
  // Depth 999 passes Node's check and reaches Python's decoder, which cannot recurse that far.
  const bad = [
    () => ({ deep: nested(999, 1) }),
    () => ({ self: 1 }),
    () => ({ x: NaN }),
  ];
  const badCalls = Array.from({ length: 100 }, (_, i) =>
    outcome(pit.execute(i % 4 === 3 ? 'unprintable' : 'echo', bad[i % 3](), { pool: 'victim' })),
  );
  const goodCalls = Array.from({ length: 1000 }, (_, i) => pit.execute('echo', { i }, { pool: 'other' }));
  const good = await Promise.all(goodCalls);
  assert.deepEqual(good, Array.from({ length: 1000 }, (_, i) => ({ i })));
  const codes = new Set((await Promise.all(badCalls)).map((o) => o.code));
  assert.deepEqual([...codes].filter((c) => c !== 'INVALID_ARGUMENT' && c !== 'PYTHON_ERROR'), []);
  assert.deepEqual(trouble, []);
  assert.equal(pit.inspect().pools[0].workers[0].pid, victimPid);
  assert.equal(await pit.execute('pid', {}, { pool: 'victim' }), victimPid);
  await pit.stop();
});
