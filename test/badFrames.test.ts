// A frame that does not decode, in either direction, ends that worker: its calls fail
// WORKER_CRASHED, the process goes, the supervisor starts a new one, and new calls succeed there.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkerConnection } from '../src/wire/workerConnection.js';
import { checkNoLeaks, errorOf, isAlive, sleep, startPit, waitFor } from './helpers.js';

checkNoLeaks();

// Every connection a worker opens, in order, to reach the live one's Session stream from here.
const connections: WorkerConnection[] = [];
const open = WorkerConnection.prototype.open;
WorkerConnection.prototype.open = function (this: WorkerConnection, timeoutMs: number) {
  connections.push(this);
  return open.call(this, timeoutMs);
};

const pool = { name: 'wire', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 2, adapter: 'wire_adapters.Garbles' } as const;

test('a reply that does not decode fails the calls in flight WORKER_CRASHED naming it, and the worker is replaced', async () => {
  const pit = await startPit({ pools: [pool] });
  const crashed: unknown[] = [];
  pit.on('worker:crashed', (e) => crashed.push(e));
  const oldPid = (await pit.execute('pid')) as number;
  const connection = connections.at(-1)!;

  const inFlight = errorOf(pit.execute('sleep', { seconds: 30 }));
  await sleep(300); // let the long call reach the worker
  const garbling = errorOf(pit.execute('garble_replies'));
  for (const error of [await garbling, await inFlight]) {
    assert.equal(error.code, 'WORKER_CRASHED');
    assert.match(error.message, /sent a frame that does not decode .*truncated field: its length, 127 bytes, runs past the end/);
    assert.equal(error.cause?.constructor.name, 'FrameDecodeError');
  }
  assert.equal(connection.usable, false);
  await waitFor(() => !isAlive(oldPid), 10_000, 'the worker that sent the bad frame to be gone');
  await waitFor(() => crashed.length > 0, 10_000, 'worker:crashed');

  await waitFor(() => pit.inspect().pools[0].workers.some((w) => w.state === 'ready' && w.pid !== oldPid), 15_000, 'a new worker');
  const newPid = (await pit.execute('pid')) as number;
  assert.notEqual(newPid, oldPid);
  assert.equal(await pit.execute('sleep', { seconds: 0 }), newPid);
});

test('a call frame that does not decode ends the worker with a clear stderr line; its calls fail WORKER_CRASHED; new calls succeed', async () => {
  const pit = await startPit({ pools: [pool] });
  const stderr: string[] = [];
  pit.on('worker:log', (e) => e.stream === 'stderr' && stderr.push(e.line));
  const oldPid = (await pit.execute('pid')) as number;
  const connection = connections.at(-1)!;

  const inFlight = errorOf(pit.execute('sleep', { seconds: 30 }));
  await sleep(300);
  // A call whose declared length (127 bytes) runs past the end of the 4-byte frame.
  connection['writeFrame'](Buffer.from([0x0a, 0x7f, 0x08, 0x01]));
  const error = await inFlight;
  assert.equal(error.code, 'WORKER_CRASHED');
  assert.equal(error.exitCode, 70, error.message);
  await waitFor(() => stderr.some((line) => line.includes('a ClientFrame of 4 bytes from Node does not decode')), 5000, 'the stderr line');
  assert.ok(stderr.some((line) => line.includes('exiting to be replaced')), stderr.join('\n'));
  assert.equal(connection.usable, false);
  assert.ok(!isAlive(oldPid));

  await waitFor(() => pit.inspect().pools[0].workers.some((w) => w.state === 'ready' && w.pid !== oldPid), 15_000, 'a new worker');
  const newPid = (await pit.execute('pid')) as number;
  assert.notEqual(newPid, oldPid);
});
