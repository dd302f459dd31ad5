// One call's message never costs its worker: a progress text, an exception's message and
// traceback, ctx.call arguments, an exposed function's error or result over their budget either
// arrive cut with a marker or fail that call alone (MESSAGE_TOO_LARGE); the worker serves on.
// maxMessageBytes is 8 MiB here, so each of these used to make a frame over the wire's limit.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Progress } from '../src/index.js';
import { checkNoLeaks, errorOf, startPit } from './helpers.js';

checkNoLeaks();

const MiB = 1 << 20;
const BUDGET = MiB; // TEXT_BUDGET_BYTES
const MARKER = /…\[cut by snakepit: \d+ bytes, over the 1048576-byte budget\]$/;

const PROFILES = [
  { profile: 'process', pool: { adapter: 'misbehaving_adapters.Misbehaving', workerProfile: 'process' as const } },
  { profile: 'thread', pool: { adapter: 'misbehaving_adapters.ThreadedMisbehaving', workerProfile: 'thread' as const, threadsPerWorker: 2 } },
];

for (const { profile, pool } of PROFILES) {
  describe(`${profile} profile`, () => {
    const start = () => startPit({ pools: [{ name: 'p', poolSize: 1, maxMessageBytes: 8 * MiB, ...pool }] });
    const pidOf = (pit: Awaited<ReturnType<typeof start>>) => pit.inspect().pools[0].workers[0].pid;

    test('a 20 MiB progress message arrives cut with a marker, and the call and its worker go on', async () => {
      const pit = await start();
      const before = pidOf(pit);
      const heard: Progress[] = [];
      assert.equal(await pit.execute('long_progress', { size: 20 * MiB }, { onProgress: (p) => heard.push(p) }), 'done');
      assert.equal(heard.length, 2);
      assert.ok(Buffer.byteLength(heard[0].message!) <= BUDGET, `${Buffer.byteLength(heard[0].message!)} bytes`);
      assert.match(heard[0].message!, MARKER);
      assert.ok(heard[0].message!.startsWith('mmmm'));
      assert.equal(heard[1].message, 'short');
      assert.equal(await pit.execute('pid'), before, 'the same worker serves on');
    });

    test('an exception of 6 MiB (message and traceback) fails its call PYTHON_ERROR, both cut with a marker; the worker serves on', async () => {
      const pit = await start();
      const before = pidOf(pit);
      const error = await errorOf(pit.execute('long_error', { size: 6 * MiB }));
      assert.equal(error.code, 'PYTHON_ERROR');
      assert.equal(error.pythonType, 'ValueError');
      assert.ok(Buffer.byteLength(error.pythonMessage!) <= BUDGET);
      assert.match(error.pythonMessage!, MARKER);
      assert.equal(error.message, `ValueError: ${error.pythonMessage}`, 'the message is the cut one, without the traceback');
      assert.ok(Buffer.byteLength(error.pythonTraceback!) <= BUDGET);
      assert.match(error.pythonTraceback!, /^Traceback \(most recent call last\)/);
      assert.match(error.pythonTraceback!, MARKER);
      assert.equal(await pit.execute('pid'), before);
    });

    test('ctx.call with 40 MB of arguments raises NodeError MESSAGE_TOO_LARGE in the tool, without sending them; the worker serves on', async () => {
      const pit = await start();
      const before = pidOf(pit);
      let called = false;
      pit.expose('sink', () => (called = true));
      const outcome = (await pit.execute('send_node', { name: 'sink', size: 40_000_000 })) as Record<string, string>;
      assert.equal(outcome.code, 'MESSAGE_TOO_LARGE');
      assert.equal(outcome.type, 'MessageTooLarge');
      assert.match(outcome.message, /cannot call 'sink': its arguments take 4000\d+ bytes, over the pool's maxMessageBytes \(8388608\)/);
      assert.equal(called, false);
      assert.deepEqual(await pit.execute('send_node', { name: 'sink', size: 1000 }), { code: null }, 'arguments within the budget still go');
      assert.equal(await pit.execute('pid'), before);
    });

    test('an exposed function that throws a 50 MB message reaches Python cut with a marker; one returning 40 MB is MESSAGE_TOO_LARGE; the worker serves on', async () => {
      const pit = await start();
      const before = pidOf(pit);
      pit.expose('huge_error', () => {
        throw new RangeError('x'.repeat(50_000_000));
      });
      pit.expose('huge_result', () => 'r'.repeat(40_000_000));
      const thrown = (await pit.execute('ask_node', { name: 'huge_error' })) as Record<string, string | number>;
      assert.equal(thrown.code, 'NODE_ERROR');
      assert.equal(thrown.type, 'RangeError');
      assert.ok((thrown.length as number) <= BUDGET);
      assert.match(thrown.tail as string, MARKER);
      const result = (await pit.execute('ask_node', { name: 'huge_result' })) as Record<string, string>;
      assert.equal(result.code, 'MESSAGE_TOO_LARGE');
      assert.match(result.head, /the result of "huge_result" takes at least \d+ bytes, over the pool's maxMessageBytes \(8388608\)/);
      assert.equal(await pit.execute('pid'), before);
    });
  });
}
