// Durations and call options are checked before anything runs: a value a timer cannot really
// wait for, or an option of the wrong kind, is refused with a coded error that says what to send.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_DURATION_MS } from '../src/config.js';
import { Snakepit, SnakepitError } from '../src/index.js';
import { checkNoLeaks, errorOf, startPit } from './helpers.js';

checkNoLeaks();

// Call options are checked in Node before a call reaches a worker, so the pool names a transport.
const pool = { name: 'default', poolSize: 1, adapter: 'sample_adapters.Calc', transport: 'local' } as const;
const badDurations: unknown[] = [1e12, 2 ** 31, Infinity, NaN, -1, 1.5, '1000'];

function configError(config: unknown): SnakepitError {
  try {
    new Snakepit(config as any);
  } catch (error) {
    assert.ok(error instanceof SnakepitError);
    return error;
  }
  assert.fail(`accepted ${JSON.stringify(config)}`);
}

test('durations a timer cannot hold are INVALID_CONFIG naming the option', () => {
  const options: [string, (v: unknown) => unknown][] = [
    ['startupTimeoutMs', (v) => ({ pools: [{ ...pool, startupTimeoutMs: v }] })],
    ['requestTimeoutMs', (v) => ({ pools: [{ ...pool, requestTimeoutMs: v }] })],
    ['queueTimeoutMs', (v) => ({ pools: [{ ...pool, queueTimeoutMs: v }] })],
    ['workerTtlMs', (v) => ({ pools: [{ ...pool, workerTtlMs: v }] })],
    ['heartbeat.pingIntervalMs', (v) => ({ pools: [{ ...pool, heartbeat: { pingIntervalMs: v } }] })],
    ['heartbeat.timeoutMs', (v) => ({ pools: [{ ...pool, heartbeat: { timeoutMs: v } }] })],
    ['restart.backoffMs', (v) => ({ pools: [{ ...pool, restart: { backoffMs: v } }] })],
    ['shutdownGraceMs', (v) => ({ shutdownGraceMs: v, pools: [pool] })],
  ];
  for (const [name, config] of options) {
    for (const value of badDurations) {
      const error = configError(config(value));
      assert.equal(error.code, 'INVALID_CONFIG', `${name}: ${String(value)}`);
      assert.ok(error.message.includes(name.split('.').at(-1)!), error.message);
    }
    assert.doesNotThrow(() => new Snakepit(config(MAX_DURATION_MS) as any), `${name} accepts ${MAX_DURATION_MS}`);
  }
});

test('pool sizes, thread counts and limits are bounded; instanceId is a safe name', () => {
  for (const bad of [{ poolSize: 5000 }, { workerProfile: 'thread', threadsPerWorker: 100_000 }, { maxArgumentDepth: 0 }, { maxMessageBytes: 2 ** 40 }]) {
    assert.equal(configError({ pools: [{ ...pool, ...bad }] }).code, 'INVALID_CONFIG', JSON.stringify(bad));
  }
  for (const instanceId of ['..', '../x', 'a/b', '', 'x'.repeat(65)]) {
    assert.equal(configError({ instanceId, pools: [pool] }).code, 'INVALID_CONFIG', instanceId);
  }
});

test('an adapter is dotted Python identifiers, Unicode ones too (as Python allows): such an adapter serves', async () => {
  for (const adapter of ['nodots', 'a-b.C', '1a.B', 'a..C', 'a.', '.a.B']) {
    assert.equal(configError({ pools: [{ ...pool, adapter }] }).code, 'INVALID_CONFIG', adapter);
  }
  const pit = await startPit({ pools: [{ ...pool, adapter: 'hostile_types.Ünïcode' }] });
  assert.deepEqual(await pit.execute('class', { ñame: 'ß' }), { label: 'ß', children: [] });
  await pit.stop();
});

test('per-call options: bad timeouts and signals are INVALID_ARGUMENT at once, valid long ones wait', async () => {
  const pit = await startPit({ pools: [pool] });
  const bad: [string, unknown][] = [
    ['timeoutMs', Infinity], ['timeoutMs', NaN], ['timeoutMs', 'abc'], ['timeoutMs', -1], ['timeoutMs', 0], ['timeoutMs', 2 ** 31],
    ['signal', {}], ['signal', 'abort'], ['signal', { aborted: false, addEventListener() {} }],
    ['pool', 42],
  ];
  for (const [option, value] of bad) {
    const error = await errorOf(pit.execute('ping', {}, { [option]: value } as any));
    assert.equal(error.code, 'INVALID_ARGUMENT', `${option}: ${String(value)}`);
    assert.match(error.message, new RegExp(option));
  }
  for (const args of [null, [1], 'x', 5]) {
    assert.equal((await errorOf(pit.execute('ping', args as any))).code, 'INVALID_ARGUMENT');
  }
  assert.equal((await errorOf(pit.execute('', {}))).code, 'INVALID_ARGUMENT');
  assert.equal((await errorOf(pit.execute('ping', {}, null as any))).code, 'INVALID_ARGUMENT');
  await assert.rejects(async () => {
    for await (const _ of pit.stream('count', { n: 2 }, { timeoutMs: NaN })) assert.fail('no chunk');
  }, (e: unknown) => e instanceof SnakepitError && e.code === 'INVALID_ARGUMENT');
  // The longest valid timeout really waits: the call finishes normally.
  assert.deepEqual(Object.keys(await pit.execute('sleep', { seconds: 0.05 }, { timeoutMs: MAX_DURATION_MS }) as object).sort(), ['pid', 'thread']);
  assert.equal((await errorOf(pit.stop({ timeoutMs: -5 }))).code, 'INVALID_ARGUMENT');
  await pit.stop();
});

test('a second start() is INVALID_STATE, and so is the actor tree before start()', async () => {
  const pit = await startPit({ pools: [pool] });
  assert.equal((await errorOf(pit.start())).code, 'INVALID_STATE');
  await pit.stop();
  assert.equal((await errorOf(pit.start())).code, 'INVALID_STATE');
  const fresh = new Snakepit({ pools: [pool] });
  assert.throws(() => fresh.actor, (e: unknown) => e instanceof SnakepitError && e.code === 'INVALID_STATE');
});
