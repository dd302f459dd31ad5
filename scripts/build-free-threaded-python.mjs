#!/usr/bin/env node
// Builds CPython 3.13 without the GIL ("3.13t", `./configure --disable-gil`) from Debian trixie's
// python3.13 source package, for the tests and benchmarks that run the bridge free-threaded
// (pyenv's 3.13.0 and Debian 12 have no such build). Prints the interpreter's path on stdout;
// progress goes to stderr.
//
//   node scripts/build-free-threaded-python.mjs [--no-build]
//
// --no-build only looks: it prints the path if the interpreter is there, else fails (exit 1).
// Tests and benchmarks find the interpreter this way; `npm test` and `npm run bench` build it
// first (`npm run setup:python313t`).
//
// Where: $SNAKEPIT_PYTHON_313T_PREFIX, else ${XDG_CACHE_HOME:-~/.cache}/snakepit/python3.13t
// (outside the repository, so every worktree and CI run on the machine shares one build). A stamp
// in the prefix, written last, marks a finished build; while it is there the script only prints
// the path. When $SNAKEPIT_PYTHON_313T names an interpreter, that one is used and nothing is built.
//
// As root it prepares the machine itself (CI builds on a fresh machine): a deb-src entry for
// trixie on the machine's own Debian mirror, `apt-get update`, and the build dependencies.
// Debian's patches are not applied (`dpkg-source --skip-patches`): they fit CPython to Debian's
// /usr layout and disable ensurepip, which the venvs the tests make need. No
// --enable-optimizations: PGO would multiply the ≈ 6 CPU-minutes of the build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const STAMP_VERSION = 'configure --disable-gil, debian source without patches, v1';
const cacheHome = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
const prefix = process.env.SNAKEPIT_PYTHON_313T_PREFIX || join(cacheHome, 'snakepit', 'python3.13t');
const python = join(prefix, 'bin', 'python3.13t');
const stampFile = join(prefix, '.snakepit-built');
const workDir = `${prefix}.build`;
const lockDir = `${prefix}.lock`;
const SOURCES_FILE = '/etc/apt/sources.list.d/snakepit-trixie-src.sources';
// What configure needs for the modules the bridge and its tests use: ssl (pip), zlib (ensurepip's
// wheels), ctypes (libffi), bz2/lzma (tarfile), readline (a usable REPL); dpkg-dev unpacks the
// source package.
const BUILD_DEPS = [
  'build-essential', 'pkg-config', 'dpkg-dev', 'xz-utils', 'libssl-dev', 'zlib1g-dev',
  'libffi-dev', 'libbz2-dev', 'liblzma-dev', 'libreadline-dev', 'libncurses-dev', 'uuid-dev',
];

const log = (msg) => process.stderr.write(`[build-free-threaded-python] ${msg}\n`);

// Thrown, not exited on, so that a failed build still lets go of the lock (withLock).
class BuildError extends Error {}

function fail(msg) {
  throw new BuildError(msg);
}

function run(cmd, args, opts = {}, what = `${cmd} ${args[0] ?? ''}`) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 2, 2], ...opts });
  if (r.error) fail(`could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
  log(`${what} done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

// Low priority: the build shares the machine with test runs whose timings matter.
const nice = (cmd, args, opts) => run('nice', ['-n', '19', cmd, ...args], opts, `${cmd} ${args[0] ?? ''}`);

function isFreeThreaded(interpreter) {
  const r = spawnSync(interpreter, ['-c', 'import sysconfig; print(sysconfig.get_config_var("Py_GIL_DISABLED"))'], {
    encoding: 'utf8',
  });
  return r.status === 0 && r.stdout.trim() === '1';
}

// The machine's Debian mirror, read from its own apt sources, so the trixie entry goes where
// the machine already may go.
function debianMirror() {
  const files = ['/etc/apt/sources.list', ...listDir('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f))];
  for (const file of files) {
    if (!existsSync(file) || file === SOURCES_FILE) continue;
    const text = readFileSync(file, 'utf8');
    const uri = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s/m.exec(text);
    if (uri) return uri[1];
  }
  return 'http://deb.debian.org/debian';
}

function listDir(dir) {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function prepareMachine() {
  if (process.getuid?.() !== 0) {
    log('not root: assuming the build dependencies and a trixie deb-src entry are in place');
    return;
  }
  if (!existsSync(SOURCES_FILE)) {
    writeFileSync(
      SOURCES_FILE,
      [
        '# Added by snakepit scripts/build-free-threaded-python.mjs: sources only, no trixie binaries.',
        'Types: deb-src',
        `URIs: ${debianMirror()}`,
        'Suites: trixie',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
      ].join('\n'),
    );
    log(`added ${SOURCES_FILE}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { env });
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', '--no-upgrade', ...BUILD_DEPS], { env });
}

function build() {
  rmSync(workDir, { recursive: true, force: true });
  rmSync(prefix, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  run('apt-get', ['source', '--download-only', '-qq', 'python3.13'], { cwd: workDir });
  const dsc = listDir(workDir).find((f) => f.endsWith('.dsc'));
  if (!dsc) fail(`apt-get source left no .dsc in ${workDir}`);
  run('dpkg-source', ['--skip-patches', '-x', dsc, 'src'], { cwd: workDir });
  const src = join(workDir, 'src');
  nice('./configure', ['--disable-gil', `--prefix=${prefix}`, '--quiet'], { cwd: src });
  nice('make', ['-j2', '-s'], { cwd: src });
  nice('make', ['-s', 'install'], { cwd: src });
  if (!isFreeThreaded(python)) fail(`${python} is not a free-threaded interpreter after the build`);
  writeFileSync(stampFile, `${STAMP_VERSION}\n${dsc}\n`);
  rmSync(workDir, { recursive: true, force: true });
}

function built() {
  return existsSync(python) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').startsWith(`${STAMP_VERSION}\n`);
}

// One build at a time per prefix, across worktrees and concurrent test runs: mkdir is atomic.
// A lock left by a killed build goes after an hour (a build takes minutes).
function lockTime() {
  try {
    return statSync(lockDir).mtimeMs;
  } catch {
    return Date.now();
  }
}

function withLock(fn) {
  mkdirSync(join(prefix, '..'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      if (Date.now() - lockTime() > 60 * 60 * 1000) rmSync(lockDir, { recursive: true, force: true });
      else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function main() {
  const named = process.env.SNAKEPIT_PYTHON_313T;
  if (named) {
    if (!isFreeThreaded(named)) fail(`SNAKEPIT_PYTHON_313T=${named} is not a free-threaded Python`);
    process.stdout.write(`${named}\n`);
  } else if (process.argv.includes('--no-build') && !built()) {
    fail(`no free-threaded Python in ${prefix}: build it with \`npm run setup:python313t\` (or point SNAKEPIT_PYTHON_313T at one)`);
  } else {
    if (!built()) {
      withLock(() => {
        if (built()) return;
        const started = Date.now();
        log(`building free-threaded CPython 3.13 into ${prefix} (several minutes)`);
        prepareMachine();
        build();
        log(`built in ${((Date.now() - started) / 60000).toFixed(1)} min`);
      });
    }
    process.stdout.write(`${python}\n`);
  }
}

try {
  main();
} catch (err) {
  if (!(err instanceof BuildError)) throw err;
  log(`ERROR: ${err.message}`);
  process.exitCode = 1;
}
