// The local lane: Session frames over the worker's Unix socket, each a 4-byte big-endian length
// and the frame. No grpcio in the worker; the first frame must carry the token; a length over
// the limit, in either direction, ends that worker and fails its calls WORKER_CRASHED.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { FrameReader } from '../src/wire/frameReader.js';
import { LocalConnection } from '../src/wire/localConnection.js';
import { FrameDecodeError } from '../src/wire/sessionCodec.js';
import { checkNoLeaks, errorOf, isAlive, sleep, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const connections: LocalConnection[] = [];
const open = LocalConnection.prototype.open;
LocalConnection.prototype.open = function (this: LocalConnection, timeoutMs: number) {
  connections.push(this);
  return open.call(this, timeoutMs);
};

const processPool = { name: 'p', poolSize: 1, adapter: 'lane_adapters.Lane', transport: 'local' } as const;
const threadPool = { name: 't', workerProfile: 'thread', poolSize: 1, threadsPerWorker: 2, adapter: 'lane_adapters.Lane', transport: 'local' } as const;

const lengthPrefixed = (frame: Buffer) => {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(frame.length);
  return Buffer.concat([header, frame]);
};

/** The worker's socket path, from its command line. */
const socketOf = (pid: number) => {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return argv[argv.indexOf('--address') + 1].replace(/^unix:/, '');
};

test('a local-lane worker never imports grpcio, in either profile; a gRPC one does', async () => {
  const pit = await startPit({ pools: [processPool, threadPool, { ...processPool, name: 'g', transport: 'grpc' }] });
  assert.deepEqual(await pit.execute('grpc_modules', {}, { pool: 'p' }), []);
  assert.deepEqual(await pit.execute('grpc_modules', {}, { pool: 't' }), []);
  assert.ok(((await pit.execute('grpc_modules', {}, { pool: 'g' })) as string[]).includes('grpc'));
});

test('once Node is connected the worker accepts no other connection, and serves on', async () => {
  const pit = await startPit({ pools: [processPool] });
  const pid = (await pit.execute('pid')) as number;
  const path = socketOf(pid);
  const error = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
    const socket = net.createConnection(path);
    socket.on('connect', () => reject(new Error('a second connection was accepted')));
    socket.on('error', resolve);
  });
  assert.ok(['ENOENT', 'ECONNREFUSED'].includes(error.code!), String(error));
  assert.equal(await pit.execute('pid'), pid);
  assert.ok(isAlive(pid));
});

for (const [what, pool] of [['a running process-profile call', processPool], ['a running thread-profile call', threadPool]] as const) {
  test(`a frame length over the limit from Node ends the worker with status 70; ${what} fails WORKER_CRASHED`, async () => {
    const pit = await startPit({ pools: [{ ...pool, maxMessageBytes: 1024 * 1024 }] });
    const pid = (await pit.execute('pid')) as number;
    const connection = connections.at(-1)!;
    const running = errorOf(pit.execute('sleep', { seconds: 30 }));
    await sleep(300); // the call runs; a watcher (process) or reader thread (thread) reads the socket
    connection['socket']!.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
    const error = await running;
    assert.equal(error.code, 'WORKER_CRASHED');
    assert.equal(error.exitCode, 70, error.message);
    assert.ok(!isAlive(pid));
    await waitFor(() => pit.inspect().pools[0].workers.some((w) => w.state === 'ready' && w.pid !== pid), 15_000, 'a new worker');
    assert.notEqual(await pit.execute('pid'), pid);
  });
}

test('a frame length over the limit from Node to an idle process worker ends it with status 70', async () => {
  const pit = await startPit({ pools: [{ ...processPool, maxMessageBytes: 1024 * 1024 }] });
  const crashed: { exitCode: number | null }[] = [];
  pit.on('worker:crashed', (e) => crashed.push(e));
  const pid = (await pit.execute('pid')) as number;
  connections.at(-1)!['socket']!.write(Buffer.from([0x7f, 0xff, 0xff, 0xff]));
  await waitFor(() => crashed.length > 0, 10_000, 'worker:crashed');
  assert.equal(crashed[0].exitCode, 70);
  await waitFor(() => pit.inspect().pools[0].workers.some((w) => w.state === 'ready' && w.pid !== pid), 15_000, 'a new worker');
});

test('a frame length over the limit from the worker fails its calls WORKER_CRASHED naming it; the worker is replaced', async () => {
  const pit = await startPit({ pools: [{ ...threadPool, maxMessageBytes: 1024 * 1024 }] });
  const pid = (await pit.execute('pid')) as number;
  const running = errorOf(pit.execute('sleep', { seconds: 30 }));
  await sleep(300);
  const lying = errorOf(pit.execute('oversized_replies'));
  for (const error of [await lying, await running]) {
    assert.equal(error.code, 'WORKER_CRASHED');
    assert.match(error.message, /a frame of 4294967295 bytes is over the limit of 5242880/);
    assert.ok(error.cause instanceof FrameDecodeError);
  }
  await waitFor(() => !isAlive(pid), 10_000, 'the worker to be gone');
  await waitFor(() => pit.inspect().pools[0].workers.some((w) => w.state === 'ready' && w.pid !== pid), 15_000, 'a new worker');
  assert.notEqual(await pit.execute('pid'), pid);
});

test('FrameReader cuts frames wherever the chunks break, slicing those inside one chunk', () => {
  const frames = [Buffer.from('a'), Buffer.alloc(0), Buffer.from('hello, frames'), Buffer.alloc(300, 7)];
  const stream = Buffer.concat(frames.map(lengthPrefixed));
  for (let cut = 1; cut <= stream.length; cut++) {
    const reader = new FrameReader(1000);
    const out: Buffer[] = [];
    for (let at = 0; at < stream.length; at += cut) out.push(...reader.push(stream.subarray(at, at + cut)));
    assert.deepEqual(out, frames, `chunks of ${cut} bytes`);
  }
  const whole = new FrameReader(1000).push(stream);
  assert.equal(whole[2].buffer, stream.buffer, 'a frame inside one chunk is a slice of it, not a copy');
});

test('FrameReader has a large frame read in place: the socket writes into the frame it returns, never past its end', () => {
  const large = Buffer.alloc(1 << 20);
  for (let i = 0; i < large.length; i++) large[i] = i % 251;
  const frames = [Buffer.from('before'), large, Buffer.from('after'), Buffer.from('and more')];
  const stream = Buffer.concat(frames.map(lengthPrefixed));
  const reader = new FrameReader(2 << 20);
  const out: Buffer[] = [];
  const targets: Buffer[] = [];
  for (let at = 0; at < stream.length; ) {
    const target = reader.readTarget();
    targets.push(target);
    const n = stream.copy(target, 0, at, Math.min(stream.length, at + 50_000)); // a read of up to 50 kB
    at += n;
    out.push(...reader.didRead(n));
  }
  assert.deepEqual(out, frames);
  assert.ok(targets.some((t) => t.buffer === out[1].buffer), 'the large frame was read into its own buffer');
  assert.ok(targets.every((t) => t.buffer !== out[1].buffer || t.byteOffset + t.length === out[1].byteOffset + out[1].length), 'no read target reaches past the frame');
});

test('FrameReader refuses a length over its limit as soon as the length is in, before any body', () => {
  const reader = new FrameReader(1000);
  assert.deepEqual(reader.push(Buffer.from([0, 0])), []);
  assert.throws(() => reader.push(Buffer.from([0x03, 0xe9])), (e: unknown) => e instanceof FrameDecodeError && /1001 bytes is over the limit of 1000/.test(e.message));
});
