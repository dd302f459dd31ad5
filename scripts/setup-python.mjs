#!/usr/bin/env node
// Prepares this repository's Python side for development: a virtualenv in <repo>/.venv with the
// bridge package (editable) and its test and dev extras. Nothing is generated: the bridge builds
// its message classes from the descriptor it ships (python/snakepit_bridge/_descriptor.py).
//
// Idempotent: a stamp holding a hash of python/pyproject.toml lets repeated runs (every
// `npm test`, `npm start`) return at once when nothing changed.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const venv = join(repo, '.venv');
const venvPython = join(venv, 'bin', 'python');
const stampFile = join(venv, '.snakepit-stamp');
const pyproject = join(repo, 'python', 'pyproject.toml');
// Where earlier versions of this script generated protoc's Python code: a copy left in a
// checkout would be packed and shipped, so it goes.
const staleGenerated = join(repo, 'python', 'snakepit_bridge', '_proto');

const log = (msg) => console.log(`[setup-python] ${msg}`);

function fail(msg) {
  console.error(`[setup-python] ERROR: ${msg}`);
  process.exit(1);
}

// How the bridge is installed: a plain path in a .pth file ("compat"), not setuptools' default
// import finder, which every Python start in the venv would load (≈ 10 ms per worker start).
const EDITABLE_MODE = 'compat';

function stampOf() {
  if (!existsSync(pyproject)) fail(`missing ${pyproject}`);
  return createHash('sha256').update(readFileSync(pyproject)).update(EDITABLE_MODE).digest('hex');
}

// Lines pip prints for every package when a configured local index lacks it; pure noise.
const NOISE = /is ignored: it is neither a file nor a directory/;

function run(cmd, args, what) {
  const started = Date.now();
  const r = spawnSync(cmd, args, {
    cwd: repo,
    stdio: ['ignore', 'inherit', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' },
  });
  if (r.error) fail(`${what}: could not run ${cmd}: ${r.error.message}`);
  const errText = (r.stderr || '')
    .split('\n')
    .filter((l) => !NOISE.test(l))
    .join('\n')
    .trim();
  if (errText) process.stderr.write(errText + '\n');
  if (r.status !== 0) fail(`${what} failed (exit ${r.status ?? r.signal}): ${cmd} ${args.join(' ')}`);
  log(`${what} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (existsSync(staleGenerated)) {
  rmSync(staleGenerated, { recursive: true, force: true });
  log('removed python/snakepit_bridge/_proto (generated code the bridge no longer uses)');
}

// The bridge's bytecode, brought up to date at every run: where Python may not write it
// (PYTHONDONTWRITEBYTECODE), each worker of the tests and the bench would compile the bridge.
const compileBridge = () => run(venvPython, ['-m', 'compileall', '-q', join(repo, 'python', 'snakepit_bridge')], 'bytecode');

const stamp = stampOf();
const upToDate = existsSync(venvPython) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp;
if (upToDate) {
  compileBridge();
  log('Python environment is up to date (.venv)');
  process.exit(0);
}

const t0 = Date.now();

// 1. The virtualenv.
if (!existsSync(venvPython)) {
  const bootstrap = process.env.SNAKEPIT_PYTHON_BOOTSTRAP || 'python3';
  log(`creating virtualenv .venv with ${bootstrap}`);
  run(bootstrap, ['-m', 'venv', venv], 'virtualenv');
} else {
  log('reusing existing virtualenv .venv');
}

// 2. The bridge package and its dependencies. --retries 0: on an offline machine pip would
// otherwise spend minutes retrying an index it cannot reach.
log('installing snakepit-bridge (editable) with extras [grpc,test,dev]');
run(venvPython, ['-m', 'pip', 'install', '--retries', '0', '-q', '--config-settings', `editable_mode=${EDITABLE_MODE}`,
  '-e', `${join(repo, 'python')}[grpc,test,dev]`], 'pip install');

// 3. Check the result imports, so a broken environment is caught here and not in a worker.
run(venvPython, ['-c', 'import snakepit_bridge.worker, snakepit_bridge.session'], 'import check');

compileBridge();
writeFileSync(stampFile, stamp + '\n');
log(`Python environment ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${venvPython})`);
