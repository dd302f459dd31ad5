#!/usr/bin/env node
// The Node test suite (the `test:node` script) with two CPU hogs running, as on a loaded
// machine: tests must assert outcomes, not how fast the harness is. The hogs are ended by PID
// when the suite ends, whatever its outcome, and the exit code is the suite's.
// `npm run test:stress -- local` (or `grpc`) runs one transport's half only.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const transport = process.argv[2];
if (transport !== undefined && !['local', 'grpc'].includes(transport)) {
  console.error(`test:stress: unknown transport "${transport}"; usage: npm run test:stress [-- local|grpc]`);
  process.exit(2);
}
const suite = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).scripts[transport ? `test:node:${transport}` : 'test:node'];
const HOGS = 2;

// Spins, and leaves on its own should this script die without ending it (its parent changes).
const spin = 'const parent = process.ppid; for (;;) { for (let i = 0; i < 1e8; i++); if (process.ppid !== parent) process.exit(0); }';
const hogs = Array.from({ length: HOGS }, () => spawn(process.execPath, ['-e', spin], { stdio: 'ignore' }));
console.log(`test:stress: ${HOGS} CPU hogs running (pids ${hogs.map((h) => h.pid).join(', ')}); suite: ${suite}`);

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
const tests = spawn(suite, { cwd: root, shell: true, stdio: 'inherit' });
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
