// A remote pool as a supervisor, on a simulated clock with fake workers: one worker per
// endpoint with the capacity its server states, a lost connection counted as a crash but the
// attempts to reach a server that is down not, growing reconnect delays, endpoints that come
// and go, and a server that drains away. No process runs; time moves only by the clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_RECONNECT_DELAY_MS, reconnectDelay } from '../machines/pool.machine.js';
import { SIGKILLED, World, poolInput, readyPool, startPool } from './machineHarness.js';
import { checkNoLeaks } from './helpers.js';

checkNoLeaks();

const remote = (endpoints: string[], restart: { intensity?: number; backoffMs?: number } = {}) =>
  poolInput({ poolSize: endpoints.length, endpoints, restart: { intensity: 1, periodMs: 60_000, backoffMs: 100, ...restart } });

test('one worker per endpoint, each with the capacity its server states', async () => {
  const world = new World();
  const pool = await startPool(remote(['10.0.0.1:50051', '10.0.0.2:50051']), world);
  assert.deepEqual(pool.ids(), ['p-1', 'p-2']);
  assert.deepEqual([world.endpoints.get('p-1'), world.endpoints.get('p-2')], ['10.0.0.1:50051', '10.0.0.2:50051']);
  await world.connected('p-1', 16);
  assert.equal(pool.state(), 'starting');
  await world.connected('p-2', 2);
  assert.equal(pool.state(), 'ready');
  assert.deepEqual([pool.workerContext('p-1').capacity, pool.workerContext('p-2').capacity], [16, 2]);
  assert.deepEqual(pool.context().workers.map((w) => w.endpoint), ['10.0.0.1:50051', '10.0.0.2:50051']);
  pool.stop();
});

test('a server that cannot be reached at start fails the pool, as a worker that cannot start', async () => {
  const world = new World();
  const pool = await startPool(remote(['a:1', 'b:2']), world);
  await world.connected('p-1', 4);
  await world.bootFails('p-2', 'the bridge server at b:2 refused the token');
  assert.equal(pool.state(), 'down', 'failed, and every worker ended');
  assert.equal(pool.context().failure?.reason, 'startup_failed');
  assert.deepEqual(pool.reports.map((r) => r.type), ['POOL_FAILED']);
  pool.stop();
});

test('a lost connection counts once toward the intensity; the attempts while the server is down do not, and wait longer each time', async () => {
  const pool = await readyPool(remote(['a:1', 'b:2'], { intensity: 1, backoffMs: 100 }));
  const { world } = pool;
  await world.exit('p-2', SIGKILLED); // the connection broke
  assert.equal(pool.context().restartWindow.length, 1);
  const attempts: number[] = [];
  for (let failure = 0; failure < 9; failure++) {
    const before = world.now();
    await world.advance(MAX_RECONNECT_DELAY_MS);
    assert.deepEqual(world.pending(), ['p-2'], `attempt ${failure + 1} is under way`);
    attempts.push(world.boots.at(-1)!.at - before);
    await world.bootFails('p-2', 'connection refused');
    assert.equal(pool.state(), 'ready', 'the pool does not give up on an outage');
    assert.equal(pool.context().restartWindow.length, 1, 'only the lost connection counted');
    assert.equal(pool.workerState('p-2'), '"crashed"');
  }
  // The first attempt follows the crash after backoffMs; then the delay doubles up to its cap.
  assert.deepEqual(attempts, [100, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  assert.equal(pool.workerState('p-1'), '{"alive":"ready"}', 'the other server is untouched');
  await world.advance(MAX_RECONNECT_DELAY_MS);
  await world.connected('p-2', 4);
  assert.equal(pool.workerState('p-2'), '{"alive":"ready"}');
  assert.deepEqual(pool.context().reconnects, {}, 'reaching the server starts the delays afresh');
  pool.stop();
});

test('reconnectDelay doubles from backoffMs and stops at the cap', () => {
  assert.deepEqual([0, 1, 2, 3, 10, 100].map((n) => reconnectDelay(50, n)), [50, 100, 200, 400, 5000, 5000]);
  assert.equal(reconnectDelay(0, 0), 1, 'never a spin');
});

test('endpoints that come and go: a new one gets a worker, one that left drains and is not restarted', async () => {
  const pool = await readyPool(remote(['a:1', 'b:2']));
  const { world } = pool;
  pool.send({ type: 'ENDPOINTS', endpoints: ['a:1', 'b:2', 'c:3'] });
  await world.settle();
  assert.deepEqual(pool.ids(), ['p-1', 'p-2', 'p-3']);
  assert.equal(world.endpoints.get('p-3'), 'c:3');
  await world.connected('p-3', 4);
  assert.equal(pool.workerState('p-3'), '{"alive":"ready"}');

  const mark = world.mark();
  pool.send({ type: 'ENDPOINTS', endpoints: ['b:2', 'c:3'] });
  await world.settle();
  assert.deepEqual(world.since(mark, 'retires').map((r) => `${r.id}:${r.reason}`), ['p-1:endpoint_removed']);
  assert.deepEqual(pool.ids(), ['p-2', 'p-3']);
  assert.equal(pool.context().poolSize, 2);
  assert.deepEqual(world.bootedSince(mark), [], 'nothing restarted');

  // The same answer again changes nothing.
  pool.send({ type: 'ENDPOINTS', endpoints: ['b:2', 'c:3'] });
  await world.settle();
  assert.deepEqual(pool.ids(), ['p-2', 'p-3']);
  assert.equal(pool.context().restartWindow.length, 0);
  pool.stop();
});

test('a server that drains: its worker drains and retires, and the next answer that still lists it starts a worker for it', async () => {
  const pool = await readyPool(remote(['a:1', 'b:2']));
  const { world } = pool;
  const mark = world.mark();
  pool.worker('p-1').send({ type: 'DRAIN', reason: 'server_draining' });
  await world.settle();
  assert.deepEqual(world.statesOf('p-1', mark), ['draining', 'recycling', 'stopped']);
  assert.deepEqual(pool.ids(), ['p-2']);
  assert.equal(pool.context().restartWindow.length, 0, 'a drain is not a crash');
  pool.send({ type: 'ENDPOINTS', endpoints: ['a:1', 'b:2'] });
  await world.settle();
  assert.deepEqual(pool.ids(), ['p-2', 'p-3']);
  assert.equal(world.endpoints.get('p-3'), 'a:1');
  await world.bootFails('p-3', 'the bridge server at a:1 is draining');
  assert.equal(pool.state(), 'ready');
  await world.advance(MAX_RECONNECT_DELAY_MS);
  await world.connected('p-3', 4);
  assert.equal(pool.workerState('p-3'), '{"alive":"ready"}');
  pool.stop();
});

test('a recycled remote worker is replaced by one for the same endpoint', async () => {
  const pool = await readyPool(remote(['a:1', 'b:2']));
  const { world } = pool;
  pool.send({ type: 'RECYCLE', id: 'p-2', reason: 'ttl' });
  await world.settle();
  assert.equal(world.endpoints.get('p-3'), 'b:2');
  await world.connected('p-3', 4);
  assert.deepEqual(pool.ids(), ['p-1', 'p-3']);
  pool.stop();
});
