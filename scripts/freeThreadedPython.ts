// The free-threaded CPython 3.13 ("3.13t") that tests and benchmarks run the thread profile on,
// as build-free-threaded-python.mjs finds it (SNAKEPIT_PYTHON_313T, else its cache). Never builds:
// `npm test` and `npm run bench` build it first, so a missing one is a failure, not a skip.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'build-free-threaded-python.mjs');

export function freeThreadedPython(): string {
  const found = spawnSync(process.execPath, [SCRIPT, '--no-build'], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error(`free-threaded Python 3.13t not found: ${found.stderr.trim()}`);
  return found.stdout.trim();
}
