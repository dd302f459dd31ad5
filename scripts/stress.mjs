#!/usr/bin/env node
// The Node test suite (scripts/test-node.mjs) with two CPU hogs running, as on a loaded
// machine: tests must assert outcomes, not how fast the harness is. The hogs are ended by PID
// when the suite ends, whatever its outcome, and the exit code is the suite's.
// Arguments go to test-node.mjs: `npm run test:stress -- local` runs the transport tier over the
// local lane only, `-- once transport` leaves out the unit tier.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const suite = ['scripts/test-node.mjs', ...process.argv.slice(2)];
const HOGS = 2;

// Spins, and leaves on its own should this script die without ending it (its parent changes).
const spin = 'const parent = process.ppid; for (;;) { for (let i = 0; i < 1e8; i++); if (process.ppid !== parent) process.exit(0); }';
const hogs = Array.from({ length: HOGS }, () => spawn(process.execPath, ['-e', spin], { stdio: 'ignore' }));
console.log(`test:stress: ${HOGS} CPU hogs running (pids ${hogs.map((h) => h.pid).join(', ')}); suite: node ${suite.join(' ')}`);

const running = (hog) => hog.exitCode === null && hog.signalCode === null;
const endHogs = () => {
  for (const hog of hogs) {
    if (running(hog)) {
      try {
        process.kill(hog.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
};
process.on('exit', endHogs);

const started = Date.now();
const tests = spawn(process.execPath, suite, { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    tests.kill(signal);
    endHogs();
  });
}
tests.on('exit', async (code, signal) => {
  const exits = hogs.filter(running).map((hog) => once(hog, 'exit'));
  endHogs();
  await Promise.all(exits);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`test:stress: suite ${signal ? `ended by ${signal}` : `exited with code ${code}`} after ${seconds} s`);
  process.exit(code ?? 1);
});
