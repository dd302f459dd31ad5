// Idle polling: a process worker on the local lane polls its socket for the next call while
// calls come close together, and sleeps once they stop, so an idle worker costs no CPU.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Snakepit } from '../src/index.js';
import { procArgs } from '../src/process/procInfo.js';
import { checkNoLeaks, sleep, startPit } from './helpers.js';

checkNoLeaks();

// Polling belongs to the local lane, so these pools name it whichever transport the suite runs over.
const pool = { name: 'p', poolSize: 1, adapter: 'sample_adapters.Calc', transport: 'local' } as const;

/** CPU seconds the process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

const pidOf = (pit: Snakepit, index = 0) => pit.inspect().pools[index].workers[0].pid!;
const pollArgument = (pid: number) => {
  const argv = procArgs(pid)!;
  const at = argv.indexOf('--idle-poll-us');
  return at < 0 ? undefined : Number(argv[at + 1]);
};

test('a process worker polls 100 µs by default; 0 turns polling off; calls are served either way', async () => {
  const pit = await startPit({ pools: [pool, { ...pool, name: 'off', idlePollMicros: 0 }] });
  const [on, off] = [pidOf(pit, 0), pidOf(pit, 1)];
  assert.equal(pollArgument(on), 100);
  assert.equal(pollArgument(off), undefined);
  for (const name of ['p', 'off']) {
    for (let i = 0; i < 200; i++) assert.deepEqual(await pit.execute('echo', { i }, { pool: name }), { i });
  }
});

test('after a burst of calls an idle worker sleeps: it polls at most one window, not until the next call', async () => {
  // The longest window, 10 ms, so polling that did not stop would show at once in the CPU count.
  const pit = await startPit({ pools: [{ ...pool, idlePollMicros: 10_000 }] });
  const pid = pidOf(pit);
  for (let i = 0; i < 300; i++) await pit.execute('echo', { i });
  const before = cpuSeconds(pid);
  await sleep(2000);
  const used = cpuSeconds(pid) - before;
  // Two seconds of polling would be ≈ 2 s of CPU (over 1 s even sharing a core with two hogs).
  assert.ok(used < 0.4, `an idle worker used ${used.toFixed(2)} s of CPU in 2 s`);
  assert.deepEqual(await pit.execute('echo', { after: 'idle' }), { after: 'idle' });
});

test('idlePollMicros is refused for the thread profile, the gRPC transport, and above 10 ms', () => {
  const refused = (extra: object, message: RegExp) =>
    assert.throws(
      () => new Snakepit({ pools: [{ name: 'x', adapter: 'a.B', ...extra }] }),
      (e: Error & { code?: string }) => e.code === 'INVALID_CONFIG' && message.test(e.message),
    );
  refused({ workerProfile: 'thread', idlePollMicros: 50 }, /pools\[0\]\.idlePollMicros: applies to workerProfile "process" on transport "local" only/);
  refused({ transport: 'grpc', idlePollMicros: 50 }, /pools\[0\]\.idlePollMicros: applies to workerProfile "process" on transport "local" only/);
  refused({ idlePollMicros: 10_001 }, /idlePollMicros: at most 10000 µs/);
  refused({ workerProfile: 'remote', idlePollMicros: 50, endpoints: ['127.0.0.1:1'], token: 't', tls: false }, /idlePollMicros: does not apply to workerProfile "remote"/);
});
