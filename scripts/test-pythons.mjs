#!/usr/bin/env node
// Runs the bridge on every Python it supports (python/pyproject.toml: >=3.8): on each interpreter
// the bridge's pytest suite and the Node smoke suite (test/pythons/smoke.test.ts, real workers
// with SNAKEPIT_PYTHON set to it), two interpreters at a time, then prints the matrix of counts.
//
//   node scripts/test-pythons.mjs [--refresh] [--only 3.8,3.13t,...] [--prepare]
//
// --prepare builds the environments and stops: scripts/test-all.mjs runs it first, then each
// interpreter (--only) as a job of its own beside the rest of the suite.
// The interpreters: 3.8 to 3.13 from pyenv (`$PYENV_ROOT` or `pyenv root`: its newest 3.X.*),
// else `python3.X` on PATH; and the free-threaded 3.13t as scripts/build-free-threaded-python.mjs
// --no-build finds it (`npm test` builds it first). One that is missing fails the run.
//
// The main .venv's Python (3.11 here) is tested in .venv itself, which has every extra, so there
// the whole pytest suite runs and the smoke suite runs over both transports. Every other one gets
// .venv-pythons/<name> (reused while its stamp matches; --refresh rebuilds): pytest (the index's,
// or below 3.11 Debian's pure-Python pytest 7.2, as the index's needs a tomli that has 3.11 wheels
// only), and NumPy where the index has a wheel for it; nothing the worker needs. There pytest runs
// with SNAKEPIT_PYTEST_PARTIAL=1: the tests that need what the interpreter lacks are left out and
// named (python/tests/conftest.py, NEEDS), and the smoke suite runs over the local lane.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const venvsDir = join(repo, '.venv-pythons');
const mainPython = join(repo, '.venv', 'bin', 'python');
const SMOKE = 'test/pythons/smoke.test.ts';
const MINORS = ['3.8', '3.9', '3.10', '3.11', '3.12', '3.13'];
const FREE_THREADED = '3.13t';
/** Every interpreter of the matrix, by the name `--only` takes. */
export const TARGET_NAMES = [...MINORS, FREE_THREADED];
const AT_ONCE = 2; // the machine's cores
// Installed where the index has a wheel for the interpreter (python/tests/conftest.py's NEEDS
// says which tests need them). Nothing the worker needs: on the local lane it runs on the
// standard library alone, and these environments show it.
const OPTIONAL = ['numpy', 'pandas', 'mypy'];
// Debian's pure-Python pytest and what it needs on Python < 3.11.
const DEBIAN_PYTEST = {
  packages: ['python3-pytest', 'python3-pluggy', 'python3-iniconfig', 'python3-attr', 'python3-packaging', 'python3-tomli', 'python3-exceptiongroup'],
  modules: ['_pytest', 'pytest', 'py.py', 'pluggy', 'iniconfig', 'attr', 'attrs', 'packaging', 'tomli', 'exceptiongroup'],
};
const DIST_PACKAGES = '/usr/lib/python3/dist-packages';
const PIP_NOISE = /is ignored: it is neither a file nor a directory|Retrying \(Retry|NewConnectionError/;

const log = (msg) => console.log(`[pythons] ${msg}`);

function fail(msg) {
  console.error(`[pythons] ERROR: ${msg}`);
  process.exit(1);
}

function parseArgs(argv) {
  const options = { refresh: false, only: null, prepare: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--refresh') options.refresh = true;
    else if (argv[i] === '--only' && argv[i + 1]) options.only = argv[++i].split(',');
    else if (argv[i] === '--prepare') options.prepare = true;
    else fail(`unknown argument ${argv[i]}; usage: test-pythons.mjs [--refresh] [--only 3.8,3.13t,...] [--prepare]`);
  }
  return options;
}

function run(cmd, args, { quiet = true } = {}) {
  const r = spawnSync(cmd, args, {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', DEBIAN_FRONTEND: 'noninteractive' },
  });
  const err = (r.stderr || '').split('\n').filter((l) => !PIP_NOISE.test(l)).join('\n').trim();
  const ok = !r.error && r.status === 0;
  if (!ok && !quiet && err) process.stderr.write(err + '\n');
  return { ok, stdout: (r.stdout || '').trim(), stderr: err };
}

function must(cmd, args, what) {
  const r = run(cmd, args, { quiet: false });
  if (!r.ok) fail(`${what} failed: ${cmd} ${args.join(' ')}`);
  return r.stdout;
}

const PROBE = `
import importlib, json, platform, sysconfig
def version(module):
    try:
        return importlib.import_module(module).__version__
    except Exception:
        return None
print(json.dumps({"version": platform.python_version(), "freeThreaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
                  **{name: version(module) for name, module in [("pytest", "pytest"), ("numpy", "numpy"), ("grpc", "grpc"), ("protobuf", "google.protobuf")]}}))
`;

function probe(python) {
  const r = run(python, ['-c', PROBE]);
  return r.ok ? JSON.parse(r.stdout) : undefined;
}

function pyenvRoot() {
  if (process.env.PYENV_ROOT) return process.env.PYENV_ROOT;
  const r = run('pyenv', ['root']);
  return r.ok ? r.stdout : undefined;
}

/** The newest pyenv 3.X.N, else python3.X on PATH; undefined when neither is there. */
function findMinor(minor, root) {
  const versions = root && existsSync(join(root, 'versions')) ? readdirSync(join(root, 'versions')) : [];
  const patch = (v) => Number(v.slice(minor.length + 1));
  const found = versions.filter((v) => new RegExp(`^${minor.replace('.', '\\.')}\\.\\d+$`).test(v)).sort((a, b) => patch(b) - patch(a))[0];
  if (found) return join(root, 'versions', found, 'bin', 'python');
  const onPath = run('sh', ['-c', `command -v python${minor}`]);
  return onPath.ok && onPath.stdout ? onPath.stdout : undefined;
}

/** The free-threaded 3.13 that scripts/build-free-threaded-python.mjs built (it never builds here). */
function findFreeThreaded() {
  const r = run(process.execPath, [join(repo, 'scripts', 'build-free-threaded-python.mjs'), '--no-build']);
  return r.ok ? r.stdout : undefined;
}

/** Every target: { name, python, main } or { name, missing }. */
function targets(only) {
  const main = probe(mainPython);
  if (!main) fail('.venv is missing or broken; run `npm run setup:python` first');
  const mainMinor = main.version.split('.').slice(0, 2).join('.');
  const root = pyenvRoot();
  const out = MINORS.map((minor) => {
    if (minor === mainMinor && !main.freeThreaded) return { name: minor, python: mainPython, main: true };
    const python = findMinor(minor, root);
    return python ? { name: minor, python } : { name: minor, missing: `no pyenv ${minor}.* under ${root ?? '(no pyenv)'} and no python${minor} on PATH` };
  });
  const ft = findFreeThreaded();
  out.push(ft ? { name: FREE_THREADED, python: ft } : {
    name: FREE_THREADED, missing: 'no free-threaded 3.13: `npm run setup:python313t` builds it (scripts/build-free-threaded-python.mjs)',
  });
  return only ? out.filter((t) => only.includes(t.name)) : out;
}

function ensureDebianPackages() {
  const have = () => DEBIAN_PYTEST.modules.every((m) => existsSync(join(DIST_PACKAGES, m)));
  if (have()) return;
  const install = ['install', '-y', '-q', '--no-install-recommends', ...DEBIAN_PYTEST.packages];
  if (process.getuid?.() !== 0) fail(`Debian's pytest is missing; as root run: apt-get ${install.join(' ')}`);
  log(`installing ${DEBIAN_PYTEST.packages.join(' ')} with apt-get`);
  if (!run('apt-get', install).ok) {
    must('apt-get', ['update', '-q'], 'apt-get update');
    must('apt-get', install, 'apt-get install');
  }
  if (!have()) fail(`apt-get installed ${DEBIAN_PYTEST.packages.join(' ')} but ${DIST_PACKAGES} still lacks some of ${DEBIAN_PYTEST.modules.join(' ')}`);
}

const usesDebianPytest = (info) => !info.freeThreaded && Number(info.version.split('.')[1]) < 11;

/** .venv-pythons/<name> for a target, built unless its stamp matches. */
function prepare(target, refresh) {
  const info = probe(target.python);
  if (!info) fail(`${target.python} does not run`);
  const wantFt = target.name.endsWith('t');
  if (info.freeThreaded !== wantFt) fail(`${target.python} is Python ${info.version}, ${info.freeThreaded ? '' : 'not '}free-threaded; ${target.name} must ${wantFt ? '' : 'not '}be`);
  const venv = join(venvsDir, target.name);
  const python = join(venv, 'bin', 'python');
  const stampFile = join(venv, '.snakepit-pythons-stamp');
  const spec = { python: realpathSync(target.python), version: info.version, optional: OPTIONAL, debianPytest: usesDebianPytest(info) && DEBIAN_PYTEST };
  const stamp = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
  if (refresh || !existsSync(python) || !existsSync(stampFile) || readFileSync(stampFile, 'utf8').trim() !== stamp) {
    const started = Date.now();
    log(`${target.name}: building .venv-pythons/${target.name} with Python ${info.version}`);
    rmSync(venv, { recursive: true, force: true });
    mkdirSync(venvsDir, { recursive: true });
    must(target.python, ['-m', 'venv', venv], 'venv');
    const site = must(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], 'site-packages');
    const pip = ['-m', 'pip', 'install', '-q', '--retries', '0', '--only-binary', ':all:'];
    if (spec.debianPytest) {
      for (const m of DEBIAN_PYTEST.modules) cpSync(join(DIST_PACKAGES, m), join(site, m), { recursive: true, dereference: true, filter: (p) => !p.endsWith('__pycache__') });
    } else {
      must(python, [...pip, 'pytest'], 'pip install pytest');
    }
    for (const name of OPTIONAL) {
      if (!run(python, [...pip, name]).ok) log(`${target.name}: the package index has no ${name} wheel for Python ${info.version}`);
    }
    writeFileSync(stampFile, stamp + '\n');
    log(`${target.name}: built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const has = probe(python);
  if (!has?.pytest) fail(`${target.name}: pytest does not import in .venv-pythons/${target.name}; rerun with --refresh`);
  return { python, info: has };
}

/** Runs a command to its end, its output kept (two run at once, so none is streamed). */
function runCaptured(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: repo, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code, signal) => resolve({ ok: code === 0, output, exit: code ?? signal }));
  });
}

/** pytest's closing counts: "12 passed, 1 failed, 2 errors in 3.4s". */
function pytestCounts(output) {
  const line = output.trim().split('\n').reverse().find((l) => /\d+ (passed|failed|error)/.test(l)) ?? '';
  const count = (word) => Number(new RegExp(`(\\d+) ${word}`).exec(line)?.[1] ?? 0);
  const leftOut = Number(/left out on Python [^:]*: (\d+) test functions/.exec(output)?.[1] ?? 0);
  return { passed: count('passed'), failed: count('failed') + count('error'), leftOut };
}

/** node:test's closing counts: "# pass 14" / "# fail 0". */
function nodeCounts(output) {
  const count = (word) => Number(new RegExp(`^# ${word} (\\d+)$`, 'm').exec(output)?.[1] ?? 0);
  return { passed: count('pass'), failed: count('fail') + count('cancelled') };
}

async function test(target, prepared) {
  const started = Date.now();
  const { python, info } = prepared;
  const result = { ...target, version: info.version, numpy: info.numpy, failures: [] };
  const pytestEnv = target.main ? {} : { SNAKEPIT_PYTEST_PARTIAL: '1' };
  const py = await runCaptured(python, ['-m', 'pytest', 'python/tests', '-q', '-p', 'no:cacheprovider'], pytestEnv);
  result.pytest = pytestCounts(py.output);
  if (!py.ok || result.pytest.passed === 0) result.failures.push(['pytest', py]);
  result.smoke = { passed: 0, failed: 0, transports: [] };
  for (const transport of info.grpc && info.protobuf ? ['local', 'grpc'] : ['local']) {
    const smoke = await runCaptured(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=300000', SMOKE], {
      SNAKEPIT_PYTHON: python, SNAKEPIT_TEST_TRANSPORT: transport, SNAKEPIT_SMOKE_NUMPY: info.numpy ? '1' : '0',
    });
    const counts = nodeCounts(smoke.output);
    result.smoke.passed += counts.passed;
    result.smoke.failed += counts.failed;
    result.smoke.transports.push(transport);
    if (!smoke.ok || counts.passed === 0) result.failures.push([`smoke (${transport})`, smoke]);
  }
  result.seconds = (Date.now() - started) / 1000;
  const ok = result.failures.length === 0;
  log(`${ok ? 'passed' : 'FAILED'} ${target.name} (Python ${info.version}) in ${result.seconds.toFixed(1)} s`);
  for (const [what, r] of result.failures) {
    console.log(`[pythons] ---- ${target.name}: ${what} exited with ${r.exit}; its output:`);
    console.log(r.output.trimEnd());
    console.log(`[pythons] ---- end of ${target.name}: ${what}`);
  }
  return result;
}

function printMatrix(results, seconds) {
  const rows = [['python', 'environment', 'pytest passed', 'failed', 'left out', 'smoke passed', 'failed', 'transports', 'NumPy', 's']];
  for (const r of results) {
    if (r.missing) {
      rows.push([r.name, `MISSING: ${r.missing}`]);
      continue;
    }
    rows.push([
      r.version + (r.name.endsWith('t') ? 't' : ''), r.main ? '.venv' : `.venv-pythons/${r.name}`,
      String(r.pytest.passed), String(r.pytest.failed), r.pytest.leftOut ? `${r.pytest.leftOut} tests` : '-',
      String(r.smoke.passed), String(r.smoke.failed), r.smoke.transports.join('+'), r.numpy ?? '-', r.seconds.toFixed(0),
    ]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.filter((r) => r.length > 2).map((r) => (r[i] ?? '').length)));
  log(`matrix (${seconds.toFixed(1)} s wall, ${AT_ONCE} interpreters at a time):`);
  for (const row of rows) log('  ' + (row.length === 2 ? `${row[0].padEnd(widths[0])}  ${row[1]}` : row.map((c, i) => c.padEnd(widths[i])).join('  ')).trimEnd());
  const ran = results.filter((r) => !r.missing);
  const passed = ran.reduce((n, r) => n + r.pytest.passed + r.smoke.passed, 0);
  const failed = ran.reduce((n, r) => n + r.pytest.failed + r.smoke.failed, 0);
  console.log(`pythons: ${passed} passed, ${failed} failed`);
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const all = targets(options.only);
  const present = all.filter((t) => !t.missing);
  if (present.some((t) => !t.main && [probe(t.python)].some((info) => info && usesDebianPytest(info)))) ensureDebianPackages();
  // Environments first, one at a time (pip and apt are no place for two at once), then the tests.
  const prepared = new Map(present.map((t) => [t, t.main ? { python: mainPython, info: probe(mainPython) } : prepare(t, options.refresh)]));
  if (options.prepare) {
    const missing = all.filter((t) => t.missing);
    for (const t of missing) console.error(`[pythons] ERROR: ${t.name}: ${t.missing}`);
    log(`environments ready: ${present.map((t) => t.name).join(', ')}`);
    process.exit(missing.length ? 1 : 0);
  }
  // Longest first: the main .venv runs the whole pytest suite, and 3.13t (built without PGO, and
  // free-threaded) runs the rest slowest.
  const cost = (t) => (t.main ? 0 : t.name.endsWith('t') ? 1 : 2);
  const queue = [...present].sort((a, b) => cost(a) - cost(b));
  const results = new Map();
  await Promise.all(Array.from({ length: AT_ONCE }, async () => {
    for (let t = queue.shift(); t; t = queue.shift()) results.set(t, await test(t, prepared.get(t)));
  }));
  printMatrix(all.map((t) => (t.missing ? t : results.get(t))), (Date.now() - t0) / 1000);
  const ok = all.every((t) => !t.missing && results.get(t).failures.length === 0);
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
