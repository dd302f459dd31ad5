// Python warnings reach Node once per worker and warning location, as Python's "default" action
// means, however often the registry that remembers them is reset (scikit-learn enters
// catch_warnings on each call); the repeats are counted in a line of their own. A filter the
// user sets is kept. The workers' stderr is read the same way in both transports: the pools name one.
import assert from 'node:assert/strict';
import test from 'node:test';
import type { Snakepit } from '../src/index.js';
import { checkNoLeaks, errorOf, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const WARNING = /UserWarning: X has feature names, but the model was fitted without them$/;
const REPEATED = /^snakepit: UserWarning at .*warning_adapters\.py:\d+ repeated (\d+) more times \((\d+) since it was shown/;

function logOf(pit: Snakepit) {
  const lines = new Map<string, string[]>();
  pit.on('worker:log', ({ pool, line }) => lines.set(pool, [...(lines.get(pool) ?? []), line]));
  return (pool: string) => lines.get(pool) ?? [];
}

test('a warning raised on each of 20 calls reaches Node once; the 19 repeats are counted; an "always" filter shows each', async (t) => {
  const pit = await startPit({
    pools: [
      { name: 'process', poolSize: 1, adapter: 'warning_adapters.Warns', transport: 'local' },
      { name: 'thread', poolSize: 1, workerProfile: 'thread', threadsPerWorker: 4, adapter: 'warning_adapters.Warns', transport: 'grpc' },
      { name: 'always', poolSize: 1, adapter: 'warning_adapters.WarnsAlways', transport: 'local' },
    ],
  });
  const log = logOf(pit);
  for (let i = 0; i < 20; i++) assert.equal(await pit.execute('fit', {}, { pool: 'process' }), 'fitted');
  // The thread worker's calls run at once, in several threads.
  assert.deepEqual(await Promise.all(Array.from({ length: 20 }, () => pit.execute('fit', {}, { pool: 'thread' }))), Array(20).fill('fitted'));
  for (let i = 0; i < 5; i++) await pit.execute('fit', {}, { pool: 'always' });

  for (const pool of ['process', 'thread']) {
    const reported = await waitFor(() => log(pool).find((line) => REPEATED.test(line)), 30_000, `${pool}: the repeats to be reported`);
    const [, repeats, total] = REPEATED.exec(reported)!;
    t.diagnostic(`${pool}: ${reported}`);
    assert.deepEqual([repeats, total], ['19', '19'], reported);
    assert.equal(log(pool).filter((line) => WARNING.test(line)).length, 1, `${pool}: forwarded once\n${log(pool).join('\n')}`);
  }
  await waitFor(() => log('always').filter((line) => WARNING.test(line)).length === 5, 10_000, 'each of the 5 warnings under "always"');
  assert.ok(!log('always').some((line) => REPEATED.test(line)), 'nothing is counted under "always"');
  await pit.stop();
});

test('PYTHONWARNINGS=error in adapterEnv turns the warning into the call\'s error, as the user asked', async () => {
  const pit = await startPit({
    pools: [{ name: 'strict', poolSize: 1, adapter: 'warning_adapters.Warns', transport: 'local', adapterEnv: { PYTHONWARNINGS: 'error::UserWarning' } }],
  });
  for (let i = 0; i < 2; i++) {
    const error = await errorOf(pit.execute('fit'));
    assert.equal(error.code, 'PYTHON_ERROR');
    assert.equal((error as unknown as { pythonType: string }).pythonType, 'UserWarning');
  }
  await pit.stop();
});
