// Call chains that cannot progress fail: a tool calls Node (ctx.call), which calls a tool, which
// calls Node… Each call of the chain holds its worker's place until the calls it made return, so
// a chain deeper than the pool has places can never finish. Under the default configuration it
// fails at once (QUEUE_TIMEOUT, a CallChainError naming the chain); chains that wait on each
// other fail after nestedQueueTimeoutMs. Both profiles, real workers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CallChainError, QueueTimeoutError } from '../src/index.js';
import { checkNoLeaks, errorOf, startPit } from './helpers.js';

checkNoLeaks();

const PROFILES = [
  { profile: 'process', pool: { adapter: 'context_adapters.Contextual', workerProfile: 'process' as const, poolSize: 2 } },
  { profile: 'thread', pool: { adapter: 'context_adapters.ThreadedContextual', workerProfile: 'thread' as const, poolSize: 1, threadsPerWorker: 2 } },
];

for (const { profile, pool } of PROFILES) {
  describe(`${profile} profile`, () => {
    test('a ctx.call chain three deep on two places fails at once, naming the chain, instead of pending forever', async () => {
      const pit = await startPit({ pools: [{ name: 'p', ...pool }] });
      let nested: unknown;
      pit.expose('descend', ({ depth }) =>
        pit.execute('chain', { depth }).catch((error) => {
          nested ??= error;
          throw error;
        }));
      const t0 = performance.now();
      const error = await errorOf(pit.execute('chain', { depth: 3 }));
      const tookMs = performance.now() - t0;
      assert.ok(tookMs < 5000, `failed after ${tookMs.toFixed(0)} ms`);
      assert.ok(nested instanceof CallChainError, String(nested));
      assert.ok(nested instanceof QueueTimeoutError);
      assert.equal(nested.code, 'QUEUE_TIMEOUT');
      assert.deepEqual(nested.chain, ['chain', 'chain', 'chain']);
      assert.match(nested.message, /Call to tool "chain" can never get a worker of pool "p": the calls it is nested in \("chain" → descend\(\) → "chain" → descend\(\) → "chain"\) hold 2 of the pool's 2 places/);
      // The outermost caller hears it through Python: the tool's ctx.call raised NodeError.
      assert.equal(error.code, 'PYTHON_ERROR');
      assert.equal(error.pythonType, 'NodeError');
      assert.match(error.message, /can never get a worker of pool "p"/);
      assert.equal(((await pit.execute('chain', { depth: 2 })) as number[]).length, 2, 'a chain that fits still runs');
    });

    test('two chains that wait on each other: a nested call fails after nestedQueueTimeoutMs, naming its chain, and the pool then serves on', async () => {
      const pit = await startPit({ pools: [{ name: 'p', nestedQueueTimeoutMs: 1500, ...pool }] });
      const failures: unknown[] = [];
      // Both chains hold their place before either makes its nested call: the deadlock is set
      // up, not left to which call a busy machine happens to start first.
      let inDescend = 0;
      let bothIn!: () => void;
      const bothHoldTheirPlace = new Promise<void>((resolve) => (bothIn = resolve));
      pit.expose('descend', async ({ depth }) => {
        if (++inDescend === 2) bothIn();
        await bothHoldTheirPlace;
        return pit.execute('chain', { depth }).catch((error) => (failures.push(error), Promise.reject(error)));
      });
      const t0 = performance.now();
      const outcomes = await Promise.allSettled([pit.execute('chain', { depth: 2 }), pit.execute('chain', { depth: 2 })]);
      const tookMs = performance.now() - t0;
      // The nested calls wait 1500 ms each; the first to give up unwinds its chain and frees its
      // place, which the other nested call may take if its own wait had not ended yet (their
      // timers can fall a loop turn apart). So one chain or both fail, and none hangs.
      const rejected = outcomes.filter((o) => o.status === 'rejected').length;
      assert.ok(rejected >= 1, 'the deadlock is broken by a failure');
      for (const o of outcomes) if (o.status === 'fulfilled') assert.equal((o.value as number[]).length, 2);
      assert.ok(tookMs >= 1400 && tookMs < 15_000, `failed after ${tookMs.toFixed(0)} ms`);
      assert.equal(failures.length, rejected);
      for (const failure of failures) {
        assert.ok(failure instanceof CallChainError);
        assert.deepEqual(failure.chain, ['chain', 'chain']);
        assert.match(failure.message, /waited 1500 ms \(nestedQueueTimeoutMs\) in the queue of pool "p" without a free worker\. It was made inside the call chain "chain" → descend\(\) → "chain"/);
      }
      assert.equal(((await pit.execute('chain', { depth: 2 })) as number[]).length, 2);
    });
  });
}
