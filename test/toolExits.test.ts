// A tool cannot end its worker by raising: SystemExit (a library calling sys.exit()) and
// KeyboardInterrupt fail that call with PYTHON_ERROR and the same process serves on, in both
// profiles and over both transports; os._exit still ends the process, a crash as before.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkNoLeaks, errorOf, startPit } from './helpers.js';

checkNoLeaks();

const PROFILES = [
  { profile: 'process', pool: { adapter: 'misbehaving_adapters.Misbehaving', workerProfile: 'process' as const } },
  { profile: 'thread', pool: { adapter: 'misbehaving_adapters.ThreadedMisbehaving', workerProfile: 'thread' as const, threadsPerWorker: 2 } },
];

for (const { profile, pool } of PROFILES) {
  describe(`${profile} profile`, () => {
    test('sys.exit() and KeyboardInterrupt in a tool fail that call with PYTHON_ERROR; the worker serves on, even with restart type transient', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, restart: { type: 'transient' }, ...pool }] });
      const before = await pit.execute('pid');
      for (const code of [0, 3, 'bye']) {
        const error = await errorOf(pit.execute('exits', { code }));
        assert.equal(error.code, 'PYTHON_ERROR');
        assert.equal(error.pythonType, 'SystemExit');
        assert.match(error.message, new RegExp(`the tool called sys\\.exit\\(${code === 'bye' ? "'bye'" : code}\\); a tool cannot end its worker`));
      }
      const interrupted = await errorOf(pit.execute('interrupted'));
      assert.equal(interrupted.code, 'PYTHON_ERROR');
      assert.equal(interrupted.pythonType, 'KeyboardInterrupt');
      const chunks: unknown[] = [];
      const streamed = await errorOf((async () => {
        for await (const chunk of pit.stream('exits_streaming')) chunks.push(chunk);
      })());
      assert.equal(streamed.code, 'PYTHON_ERROR');
      assert.equal(streamed.pythonType, 'SystemExit');
      assert.deepEqual(chunks, [1]);
      assert.equal(await pit.execute('pid'), before, 'the same process serves on');
      assert.equal(pit.inspect().pools[0].workers[0].restarts, 0);
    });

    test('os._exit in a tool still ends its worker: WORKER_CRASHED, and the worker is replaced', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, restart: { backoffMs: 0 }, ...pool }] });
      const before = await pit.execute('pid');
      assert.equal((await errorOf(pit.execute('dies'))).code, 'WORKER_CRASHED');
      assert.notEqual(await pit.execute('pid', {}, { timeoutMs: 20_000 }), before);
    });
  });
}
