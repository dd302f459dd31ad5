#!/usr/bin/env node
// Runs after `npm install`. In Snakepit's own checkout it makes the development environment
// (scripts/setup-python.mjs: the README's `npm install && npm start`). Installed as someone's
// dependency it builds nothing — the Python environment is the consumer's choice — and only
// says what to do next. It never fails the install: a missing python3 is reported, not fatal.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

// A dependency lives inside node_modules and ships neither test/ nor .git; a checkout has both.
const isDevCheckout =
  !packageDir.split(path.sep).includes('node_modules') &&
  (existsSync(path.join(packageDir, '.git')) || existsSync(path.join(packageDir, 'test')));

if (isDevCheckout) {
  const setup = spawnSync(process.execPath, [path.join(packageDir, 'scripts', 'setup-python.mjs')], { stdio: 'inherit' });
  if (setup.status !== 0) {
    // `npm start` and `npm test` run the same setup first and stop there with its error.
    console.warn('[snakepit] the Python development environment is not ready; `npm run setup:python` retries and shows why');
  }
} else {
  console.log(
    '[snakepit] installed. Workers run on python3 (3.8+) with nothing installed, or on the interpreter python.executable / ' +
      'SNAKEPIT_PYTHON names. For your adapters\' packages run `npx snakepit setup` (./.snakepit/venv; add --grpc for ' +
      'transport \'grpc\'). `npx snakepit doctor` checks the interpreter.',
  );
}
