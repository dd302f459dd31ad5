// Many instances in one Node process share one process-exit hook and one private directory,
// start together, serve, and stop without leaving anything behind.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { after } from 'node:test';
import { checkNoLeaks, createPit, workerProcesses } from './helpers.js';

const INSTANCES = 50;
// A private directory of this file's own: the 50 instances share it, and no other test file
// (they run side by side) sweeps records in it while these start — which would show as a warning.
const runtimeDir = mkdtempSync(path.join(os.tmpdir(), 'snakepit-many-'));
process.env.XDG_RUNTIME_DIR = runtimeDir;

test('50 instances started at once all serve, add one exit hook between them, and stop cleanly', async () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  const exitListeners = process.listenerCount('exit');
  try {
    const pits = Array.from({ length: INSTANCES }, () =>
      createPit({ pools: [{ name: 'calc', poolSize: 1, adapter: 'sample_adapters.Calc', startupTimeoutMs: 180_000 }] }),
    );
    const started = performance.now();
    await Promise.all(pits.map((pit) => pit.start()));
    const startMs = performance.now() - started;

    const sums = await Promise.all(pits.map((pit, n) => pit.execute('add', { a: n, b: 1 })));
    assert.deepEqual(sums, pits.map((_, n) => n + 1));
    const pids = new Set(pits.map((pit) => pit.inspect().pools[0].workers[0].pid));
    assert.equal(pids.size, INSTANCES, 'each instance has its own worker');
    assert.ok(process.listenerCount('exit') <= exitListeners + 1, `${process.listenerCount('exit') - exitListeners} exit listeners added`);

    const stopping = performance.now();
    await Promise.all(pits.map((pit) => pit.stop()));
    const stopMs = performance.now() - stopping;
    console.log(`${INSTANCES} instances: started in ${Math.round(startMs)} ms, stopped in ${Math.round(stopMs)} ms`);

    assert.equal(process.listenerCount('exit'), exitListeners, 'the shared exit hook is removed with the last worker');
    assert.deepEqual(workerProcesses(pits.map((pit) => pit.runId)), []);
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message}`), []);
  } finally {
    process.off('warning', onWarning);
  }
});

checkNoLeaks();
after(() => rmSync(runtimeDir, { recursive: true, force: true })); // once the leak check has stopped every instance
