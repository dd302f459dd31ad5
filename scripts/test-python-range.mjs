#!/usr/bin/env node
// Runs the bridge's Python tests whose outcome can depend on grpcio or protobuf against both ends
// of the grpcio range its gRPC extra declares, and of the protobuf releases its wire reader is
// checked against:
//
//   oldest  Debian 12's python3-grpcio and python3-protobuf on the system's /usr/bin/python3
//           (a virtualenv with --system-site-packages over them); grpcio's must be exactly the
//           lower bound of python/pyproject.toml;
//   newest  the newest grpcio and protobuf the package index has, in a virtualenv of python3.
//
// Which tests those are is said once, below (RANGE); the others load neither package and run
// the same anywhere, so the main .venv and every interpreter of scripts/test-pythons.mjs run them.
//
// The environments live in .venv-range/<name> and are reused while their stamp matches; the
// Debian packages are installed with apt-get when missing (as root). Usage:
//
//   node scripts/test-python-range.mjs [--refresh] [--only oldest|newest] [--prepare] [--unless-main] [-- <more pytest args>]
//
// --refresh rebuilds the environments, e.g. so that `newest` picks up new releases; --prepare
// builds them and stops (scripts/test-all.mjs then runs each end as a job of its own).
// --unless-main leaves out an end whose Python, grpcio, protobuf and grpcio-tools are the main
// .venv's (on a fresh clone `newest` is: both take the index's newest): the interpreter matrix
// runs every pytest file there, so it would be the same run twice. `npm test` passes it.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const rangeDir = join(repo, '.venv-range');
const pyproject = join(repo, 'python', 'pyproject.toml');
const testsDir = join(repo, 'python', 'tests');

// Every file of python/tests is in one of these. RANGE: a test talks to grpcio (a bridge server,
// admission, or a worker reached through conftest.py's client, which speaks gRPC wherever grpcio
// imports) or checks wire.py against protobuf and grpcio-tools' compilation of proto/.
// ELSEWHERE: nothing loads grpc or google.protobuf (pure modules, the local lane, a fresh
// virtualenv without the gRPC extra).
const RANGE = [
  'test_admission.py', 'test_context.py', 'test_descendants.py', 'test_descriptor.py', 'test_hostile.py',
  'test_parent_death.py', 'test_serve.py', 'test_thread_profile.py', 'test_wire_protobuf.py', 'test_worker_e2e.py',
];
const ELSEWHERE = [
  'test_adapters.py', 'test_codec.py', 'test_forkserver.py', 'test_frames.py', 'test_gil.py', 'test_idle_poll.py',
  'test_install.py', 'test_lane.py', 'test_lane_threads.py', 'test_parts.py', 'test_relay_queue.py', 'test_seed_example.py',
  'test_stdlib_only.py', 'test_tooltypes.py', 'test_warnonce.py', 'test_wire.py', 'test_wire_fuzz.py', 'test_worker_args.py',
];

const DEBIAN_PYTHON = '/usr/bin/python3';
// The bridge's dependencies and what its tests need, as Debian 12 packages them.
const DEBIAN_PACKAGES = ['python3-grpcio', 'python3-protobuf', 'python3-grpc-tools', 'python3-pytest', 'python3-numpy', 'python3-pandas', 'python3-venv'];
const DEBIAN_IMPORTS = 'import grpc, google.protobuf, grpc_tools.protoc, pytest, numpy, pandas, ensurepip';
const NEWEST_PACKAGES = ['grpcio', 'protobuf', 'pytest', 'numpy', 'pandas'];

const log = (msg) => console.log(`[python-range] ${msg}`);

function fail(msg) {
  console.error(`[python-range] ERROR: ${msg}`);
  process.exit(1);
}

function parseArgs(argv) {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const options = { refresh: false, only: null, prepare: false, unlessMain: false, pytestArgs: dash < 0 ? [] : argv.slice(dash + 1) };
  for (let i = 0; i < own.length; i++) {
    if (own[i] === '--refresh') options.refresh = true;
    else if (own[i] === '--only' && ['oldest', 'newest'].includes(own[i + 1])) options.only = own[++i];
    else if (own[i] === '--prepare') options.prepare = true;
    else if (own[i] === '--unless-main') options.unlessMain = true;
    else fail(`unknown argument ${own[i]}; usage: test-python-range.mjs [--refresh] [--only oldest|newest] [--prepare] [--unless-main] [-- <pytest args>]`);
  }
  return options;
}

// Lines pip prints for every package when a configured local index lacks it; pure noise.
const PIP_NOISE = /is ignored: it is neither a file nor a directory/;

/** Runs a command to completion; its output is shown, its stderr without pip's noise (or as it
 *  comes, with `rawErr`: a test run's stack dumps must show even if it is killed). */
function run(cmd, args, what, { quiet = false, rawErr = false } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: repo,
    stdio: ['ignore', quiet ? 'pipe' : 'inherit', rawErr ? 'inherit' : 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', DEBIAN_FRONTEND: 'noninteractive' },
  });
  const errText = (r.stderr || '').split('\n').filter((l) => !PIP_NOISE.test(l)).join('\n').trim();
  const ok = !r.error && r.status === 0;
  if (errText && (!quiet || !ok)) process.stderr.write(errText + '\n');
  return { ok, stdout: r.stdout || '', failure: r.error ? r.error.message : `${what} exited with ${r.status ?? r.signal}` };
}

function must(cmd, args, what) {
  const r = run(cmd, args, what);
  if (!r.ok) fail(`${what}: ${r.failure} (${cmd} ${args.join(' ')})`);
}

/** The lower bound pyproject.toml declares for a dependency: `grpcio>=1.51.1` → '1.51.1'. */
function declaredLowerBound(name) {
  const text = readFileSync(pyproject, 'utf8');
  const m = new RegExp(`"${name}\\s*>=\\s*([0-9][0-9.]*)`).exec(text);
  if (!m) fail(`python/pyproject.toml declares no lower bound for ${name}`);
  return m[1];
}

function ensureDebianPackages() {
  if (run(DEBIAN_PYTHON, ['-c', DEBIAN_IMPORTS], 'import check', { quiet: true }).ok) return;
  const install = ['apt-get', 'install', '-y', '-q', '--no-install-recommends', ...DEBIAN_PACKAGES];
  if (process.getuid?.() !== 0) fail(`${DEBIAN_PYTHON} lacks Debian's packages; as root run: ${install.join(' ')}`);
  log(`installing ${DEBIAN_PACKAGES.join(' ')} with apt-get`);
  if (!run(install[0], install.slice(1), 'apt-get install').ok) {
    must('apt-get', ['update', '-q'], 'apt-get update');
    must(install[0], install.slice(1), 'apt-get install');
  }
  const check = run(DEBIAN_PYTHON, ['-c', DEBIAN_IMPORTS], 'import check', { quiet: true });
  if (!check.ok) fail(`${DEBIAN_PYTHON} still cannot import what the tests need after apt-get install`);
}

const ENVIRONMENTS = {
  oldest: {
    describe: "Debian 12's python3-grpcio (the declared lower bound) and python3-protobuf",
    spec: { python: DEBIAN_PYTHON, debian: DEBIAN_PACKAGES },
    build(venv) {
      ensureDebianPackages();
      must(DEBIAN_PYTHON, ['-m', 'venv', '--system-site-packages', '--without-pip', venv], 'virtualenv');
    },
    check(versions) {
      const bound = declaredLowerBound('grpcio');
      if (versions.grpcio !== bound) {
        fail(`the oldest environment has grpcio ${versions.grpcio}, but python/pyproject.toml declares grpcio>=${bound}: the declared bound must be the version tested here`);
      }
    },
  },
  newest: {
    describe: 'the newest grpcio and protobuf on the package index',
    spec: { python: process.env.SNAKEPIT_PYTHON_BOOTSTRAP || 'python3', packages: NEWEST_PACKAGES },
    build(venv) {
      must(this.spec.python, ['-m', 'venv', venv], 'virtualenv');
      const pip = [join(venv, 'bin', 'python'), '-m', 'pip', 'install', '--retries', '0', '-q', '--upgrade'];
      must(pip[0], [...pip.slice(1), ...NEWEST_PACKAGES], 'pip install');
      // grpcio-tools only compiles the proto for the field-table check; its own pins on grpcio
      // and protobuf (for the code it generates) must not hold them back from their newest.
      must(pip[0], [...pip.slice(1), '--no-deps', 'grpcio-tools'], 'pip install grpcio-tools');
    },
    check() {},
  },
};

/** The two ends, by the name `--only` takes. */
export const RANGE_ENDS = Object.keys(ENVIRONMENTS);

const VERSIONS_SCRIPT = `
import json, platform
from importlib.metadata import version
from google.protobuf.internal import api_implementation
names = ["grpcio", "protobuf", "grpcio-tools", "pytest", "numpy", "pandas"]
out = {name: version(name) for name in names}
out["python"] = platform.python_version()
out["protobuf implementation"] = api_implementation.Type()
print(json.dumps(out))
`;

function prepare(name, refresh) {
  const env = ENVIRONMENTS[name];
  const venv = join(rangeDir, name);
  const python = join(venv, 'bin', 'python');
  const stampFile = join(venv, '.snakepit-range-stamp');
  const stamp = createHash('sha256').update(JSON.stringify(env.spec)).update(readFileSync(pyproject)).digest('hex');
  const cached = !refresh && existsSync(python) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp;
  if (!cached) {
    const started = Date.now();
    log(`${name}: building .venv-range/${name} with ${env.describe}`);
    rmSync(venv, { recursive: true, force: true });
    mkdirSync(rangeDir, { recursive: true });
    env.build(venv);
    writeFileSync(stampFile, stamp + '\n');
    log(`${name}: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const probe = run(python, ['-c', VERSIONS_SCRIPT], 'version check', { quiet: true });
  if (!probe.ok) fail(`${name}: ${python} cannot report its versions (${probe.failure}); rerun with --refresh`);
  const versions = JSON.parse(probe.stdout);
  env.check(versions);
  return { python, versions };
}

/** Whether the main .venv (whose pytest run, in scripts/test-pythons.mjs, has every file) has these versions of what RANGE depends on. */
function sameAsMain(versions) {
  const probe = run(join(repo, '.venv', 'bin', 'python'), ['-c', VERSIONS_SCRIPT], 'version check', { quiet: true });
  if (!probe.ok) return false;
  const main = JSON.parse(probe.stdout);
  return ['python', 'grpcio', 'protobuf', 'protobuf implementation', 'grpcio-tools'].every((key) => main[key] === versions[key]);
}

/** Every test file in RANGE or ELSEWHERE, and only there. */
function checkClassified() {
  const onDisk = readdirSync(testsDir).filter((f) => /^test_.*\.py$/.test(f));
  const listed = [...RANGE, ...ELSEWHERE];
  const unlisted = onDisk.filter((f) => !listed.includes(f));
  const gone = listed.filter((f) => !onDisk.includes(f));
  const twice = RANGE.filter((f) => ELSEWHERE.includes(f));
  if (unlisted.length) fail(`python/tests files in neither RANGE nor ELSEWHERE of scripts/test-python-range.mjs: ${unlisted.join(', ')}`);
  if (gone.length) fail(`RANGE or ELSEWHERE names files that are not in python/tests: ${gone.join(', ')}`);
  if (twice.length) fail(`in both RANGE and ELSEWHERE: ${twice.join(', ')}`);
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  checkClassified();
  const names = options.only ? [options.only] : RANGE_ENDS;
  if (options.prepare) {
    for (const name of names) prepare(name, options.refresh);
    log(`environments ready: ${names.join(', ')}`);
    process.exit(0);
  }
  const t0 = Date.now();
  const results = [];
  for (const name of names) {
    const { python, versions } = prepare(name, options.refresh);
    const summary = Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ');
    log(`${name}: ${summary}`);
    if (options.unlessMain && sameAsMain(versions)) {
      log(`${name}: the main .venv has the same Python, grpcio, protobuf and grpcio-tools, and the matrix runs every file there: not run twice`);
      results.push({ name, ok: true, summary, seconds: 0 });
      continue;
    }
    const started = Date.now();
    const tests = run(python, ['-m', 'pytest', ...RANGE.map((f) => join('python', 'tests', f)), '-q', '-p', 'no:cacheprovider', ...options.pytestArgs], 'pytest', { rawErr: true });
    results.push({ name, ok: tests.ok, summary, seconds: (Date.now() - started) / 1000 });
  }
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s:`);
  for (const r of results) log(`  ${r.ok ? 'passed' : 'FAILED'}  ${r.name} (${r.summary}) in ${r.seconds.toFixed(1)} s`);
  process.exit(results.every((r) => r.ok) ? 0 : 1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
