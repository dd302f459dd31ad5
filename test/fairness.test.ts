// The queue is first come, first served: callers that call again the moment their call returns
// share the workers evenly, and a new call never overtakes one that is already waiting.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SnakepitError } from '../src/index.js';
import { checkNoLeaks, startPit } from './helpers.js';

checkNoLeaks();

test('64 closed-loop callers on 2 workers for 8 s share them evenly', async () => {
  const pit = await startPit({ pools: [{ name: 'default', poolSize: 2, adapter: 'sample_adapters.Calc' }] });
  const until = performance.now() + 8000;
  const failures: string[] = [];
  const caller = async () => {
    let calls = 0;
    while (performance.now() < until) {
      try {
        await pit.execute('ping', {});
        calls++;
      } catch (error) {
        failures.push(error instanceof SnakepitError ? error.code : String(error));
      }
    }
    return calls;
  };
  const counts = await Promise.all(Array.from({ length: 64 }, caller));
  const least = Math.min(...counts);
  const most = Math.max(...counts);
  console.log(`fairness: ${counts.reduce((a, b) => a + b)} calls, per caller ${least}..${most}`);
  assert.deepEqual(failures, []);
  assert.ok(least > 0, 'every caller was served');
  assert.ok(most <= 3 * least, `the busiest caller made ${most} calls, the least busy ${least}`);
  await pit.stop();
});

test('a new call waits behind the queued ones even when a worker frees up in between', async () => {
  const pit = await startPit({ pools: [{ name: 'default', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
  const order: number[] = [];
  const first = pit.execute('sleep', { seconds: 0.3 });
  const queued = Array.from({ length: 5 }, (_, i) => pit.execute('echo', { i }).then(() => order.push(i)));
  await first;
  // The worker is free now and five calls are waiting: a new call goes to the back of the line.
  const late = pit.execute('echo', { i: 5 }).then(() => order.push(5));
  await Promise.all([...queued, late]);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  await pit.stop();
});
