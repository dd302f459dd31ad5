#!/usr/bin/env node
// Runs the Python test suite with the project's virtualenv (see scripts/setup-python.mjs).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const python = join(repo, '.venv', 'bin', 'python');
if (!existsSync(python)) {
  console.error('[run-pytest] ERROR: .venv is missing; run `npm run setup:python` first.');
  process.exit(1);
}
const r = spawnSync(python, ['-m', 'pytest', 'python/tests', '-q', ...process.argv.slice(2)], {
  cwd: repo,
  stdio: 'inherit',
});
if (r.error) {
  console.error(`[run-pytest] ERROR: could not run pytest: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
