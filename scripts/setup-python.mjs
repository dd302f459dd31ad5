#!/usr/bin/env node
// Prepares the Python side of Snakepit: a virtualenv in <repo>/.venv with the bridge package
// and its dependencies, plus the gRPC code generated from proto/snakepit.proto.
//
// Idempotent: a stamp holding a hash of python/pyproject.toml and the proto lets repeated runs
// (every `npm test`, `npm start`) return at once when nothing changed.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const venv = join(repo, '.venv');
const venvPython = join(venv, 'bin', 'python');
const stampFile = join(venv, '.snakepit-stamp');
const pyproject = join(repo, 'python', 'pyproject.toml');
const protoFile = join(repo, 'proto', 'snakepit.proto');
const outDir = join(repo, 'python', 'snakepit_bridge', '_proto');
const generated = ['__init__.py', 'snakepit_pb2.py', 'snakepit_pb2_grpc.py'].map((f) => join(outDir, f));

const log = (msg) => console.log(`[setup-python] ${msg}`);

function fail(msg) {
  console.error(`[setup-python] ERROR: ${msg}`);
  process.exit(1);
}

function stampOf() {
  const h = createHash('sha256');
  for (const f of [pyproject, protoFile]) {
    if (!existsSync(f)) fail(`missing ${f}`);
    h.update(f).update('\0').update(readFileSync(f)).update('\0');
  }
  return h.digest('hex');
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

const stamp = stampOf();
const upToDate =
  existsSync(venvPython) &&
  existsSync(stampFile) &&
  readFileSync(stampFile, 'utf8').trim() === stamp &&
  generated.every((f) => existsSync(f));
if (upToDate) {
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
log('installing snakepit-bridge (editable) with extras [test,dev]');
run(venvPython, ['-m', 'pip', 'install', '--retries', '0', '-q', '-e', `${join(repo, 'python')}[test,dev]`], 'pip install');

// 3. The gRPC code. The -I<virtual>=<dir> mapping makes protoc treat the proto as if it lived
// in snakepit_bridge/_proto, so the generated *_grpc module imports its messages as
// `from snakepit_bridge._proto import snakepit_pb2` and works as a subpackage.
log('generating gRPC code into python/snakepit_bridge/_proto');
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
run(
  venvPython,
  [
    '-m', 'grpc_tools.protoc',
    `-Isnakepit_bridge/_proto=${join(repo, 'proto')}`,
    `--python_out=${join(repo, 'python')}`,
    `--pyi_out=${join(repo, 'python')}`,
    `--grpc_python_out=${join(repo, 'python')}`,
    'snakepit_bridge/_proto/snakepit.proto',
  ],
  'protoc',
);
writeFileSync(join(outDir, '__init__.py'), '# Generated from proto/snakepit.proto by scripts/setup-python.mjs. Do not edit.\n');
for (const f of generated) if (!existsSync(f)) fail(`protoc did not produce ${f}`);

// 4. Check the result imports, so a broken environment is caught here and not in a worker.
run(venvPython, ['-c', 'import snakepit_bridge, snakepit_bridge._proto.snakepit_pb2_grpc'], 'import check');

writeFileSync(stampFile, stamp + '\n');
log(`Python environment ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (${venvPython})`);
