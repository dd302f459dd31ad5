// The package as a user gets it: `npm pack`, installed into fresh consumer projects (strict
// TypeScript with nodenext, their own adapter), `npx snakepit setup`, a real call, a stop.
// The README's "Getting started" word for word, its code blocks read from README.md, in a
// project made by `npm init -y`: ESM and CommonJS, and the adapter's own pytest. Also from a
// CommonJS .js file, and on a PATH with no python3 at all.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkNoLeaks, isAlive, sleep } from './helpers.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = path.join(repo, 'test', 'fixtures', 'consumer');
const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const typesNode = `@types/node@${JSON.parse(readFileSync(path.join(repo, 'node_modules', '@types', 'node', 'package.json'), 'utf8')).version}`;

// The children must not inherit this run's npm configuration (when run by `npm test`) or an
// interpreter choice: each consumer starts from a clean slate. PIP_RETRIES=0 keeps an index
// that cannot be reached from costing minutes of retries; the pip and npm caches are shared.
const cleanEnv: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|INIT_CWD$|SNAKEPIT_|VIRTUAL_ENV$|PYTHONPATH$)/i.test(key))),
  PIP_RETRIES: '0',
};

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024, timeout: 240_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs and fails the test with the command's output when it does not exit 0. */
async function ok(command: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<Outcome> {
  const outcome = await run(command, args, cwd, env);
  assert.equal(outcome.code, 0, `${command} ${args.join(' ')} exited ${outcome.code}\n${outcome.stdout}\n${outcome.stderr}`);
  return outcome;
}

const temp = mkdtempSync(path.join(os.tmpdir(), 'snakepit-consumer-'));
const runIds: string[] = [];
let tarball = '';

/** A fresh consumer project made from a fixture. */
function project(name: string, fixture: string): string {
  const dir = path.join(temp, name);
  cpSync(path.join(fixtures, fixture), dir, { recursive: true });
  return dir;
}

/** Runs a consumer's script; returns the tool's reply, remembering the run id for the leak check. */
async function callFrom(dir: string, args: string[], env: NodeJS.ProcessEnv = cleanEnv): Promise<{ greeting: string; python: string; six: string | null; machines?: string[]; dashboard?: string }> {
  const outcome = await run('node', args, dir, env);
  const runId = /^RUN (\w+)$/m.exec(outcome.stdout)?.[1];
  if (runId) runIds.push(runId);
  const result = /^RESULT (.*)$/m.exec(outcome.stdout)?.[1];
  assert.ok(result && outcome.code === 0, `the consumer's call failed (exit ${outcome.code})\n${outcome.stdout}\n${outcome.stderr}`);
  return JSON.parse(result);
}

before(async () => {
  const packed = await ok('npm', ['pack', '--json', '--pack-destination', temp], repo);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
  tarball = path.join(temp, info.filename);
  console.log(`tarball ${info.filename}: ${(statSync(tarball).size / 1024).toFixed(1)} KiB packed, ${(info.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${info.entryCount} files`);

  const files: string[] = info.files.map((f: { path: string }) => f.path);
  for (const needed of ['LICENSE', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli.js', 'proto/snakepit.proto', 'python/pyproject.toml']) {
    assert.ok(files.includes(needed), `the tarball lacks ${needed}`);
  }
  // The whole bridge ships, whatever it is made of (code, descriptor, py.typed), and nothing else of python/.
  const bridge = (readdirSync(path.join(repo, 'python', 'snakepit_bridge'), { recursive: true }) as string[])
    .map((f) => `python/snakepit_bridge/${f}`)
    .filter((f) => !/__pycache__|\.pyc$/.test(f) && statSync(path.join(repo, f)).isFile());
  assert.deepEqual(files.filter((f) => f.startsWith('python/snakepit_bridge/')).sort(), bridge.sort());
  const unwanted = files.filter((f) => /\.map$|__pycache__|\.pyc$|egg-info|^python\/tests\/|^src\/|^test\/|^bench\/|^dist\/(test|bench|examples)\//.test(f));
  assert.deepEqual(unwanted, [], 'the tarball ships files that do not run');
});

after(() => rmSync(temp, { recursive: true, force: true }));

describe('an ESM TypeScript consumer', () => {
  test('installs the tarball, sets up Python with its requirements, type-checks, calls its adapter and stops', async () => {
    const dir = project('esm', 'esm');
    await ok('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, typesNode], dir);
    assert.ok(!existsSync(path.join(dir, 'node_modules', 'snakepit', '.venv')), 'the install built a venv inside node_modules');

    const setup = await ok('npx', ['snakepit', 'setup', '--requirements', 'requirements.txt'], dir);
    assert.match(setup.stdout, /Python environment ready: .*\.snakepit\/venv/);
    const again = await ok('npx', ['snakepit', 'setup', '--requirements', 'requirements.txt'], dir);
    assert.match(again.stdout, /up to date/, 'a second setup with nothing changed does nothing');
    // Setup wrote the bridge's bytecode: a worker reads it even where Python may not write any.
    const bridgeDir = path.join(dir, 'node_modules', 'snakepit', 'python');
    const imports = await ok(path.join(dir, '.snakepit', 'venv', 'bin', 'python'), ['-v', '-c', 'import snakepit_bridge.worker, snakepit_bridge.lane'], dir,
      { ...cleanEnv, PYTHONDONTWRITEBYTECODE: '1', PYTHONPATH: bridgeDir });
    const bridgeLoads = imports.stderr.split('\n').filter((line) => line.startsWith('# code object from') && line.includes(path.join(bridgeDir, 'snakepit_bridge')));
    assert.ok(bridgeLoads.length >= 10, imports.stderr);
    assert.deepEqual(bridgeLoads.filter((line) => !line.endsWith(".pyc'")), [], 'bridge modules compiled from source at import');

    await ok('node', [tsc, '-p', '.'], dir); // strict, nodenext; an error fails it (noEmitOnError)
    const reply = await callFrom(dir, ['out/main.mjs']);
    assert.equal(reply.greeting, 'hello consumer');
    assert.deepEqual(reply.machines, ['worker', 'pool', 'snakepit'], 'snakepit/machines is importable');
    assert.equal(reply.dashboard, 'function', 'snakepit/dashboard is importable');
    assert.equal(reply.python, path.join(dir, '.snakepit', 'venv', 'bin', 'python'), 'the setup environment is the default interpreter');
    assert.ok(reply.six, 'the requirements file was installed into that environment');

    const doctor = await ok('npx', ['snakepit', 'doctor', '--adapter', 'greeter.Greeter', '--python-path', 'py'], dir);
    assert.match(doctor.stdout, /`npx snakepit setup` made this environment/);
    assert.match(doctor.stdout, /^ok +NumPy +not installed: typed arrays and \{ dtype, shape, data \} values arrive in tools as memoryviews/m);
  });

});

interface Block {
  language: string;
  code: string;
}

/** The code blocks of the README's first section, "Getting started", in order. */
function gettingStarted(): Block[] {
  const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Getting started\n');
  const end = readme.indexOf('\n## ', start + 1);
  assert.ok(start >= 0 && end > start, 'README.md has a "## Getting started" section');
  assert.equal(readme.indexOf('\n## '), start, '"Getting started" is the first section of README.md');
  return [...readme.slice(start, end).matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ language: m[1], code: m[2] }));
}

/** Python processes running from a project's folder (its .snakepit/venv) that are still alive after a short wait. */
async function pythonsLeftIn(dir: string): Promise<string[]> {
  const find = () =>
    readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry) && isAlive(Number(entry)))
      .map((entry) => {
        try {
          return readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
        } catch {
          return '';
        }
      })
      .filter((cmdline) => cmdline.includes('snakepit_bridge') && cmdline.includes(dir));
  for (const deadline = Date.now() + 3000; find().length > 0 && Date.now() < deadline; ) await sleep(50);
  return find();
}

test("the README's Getting started, word for word, in a project made by `npm init -y`: ESM, CommonJS and the adapter's pytest", async () => {
  const dir = path.join(temp, 'readme');
  mkdirSync(dir);
  // npm's own settings, not the commands', keep the install on the local cache.
  const env = { ...cleanEnv, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' };
  const ran: string[] = [];
  try {
    for (const block of gettingStarted()) {
      if (block.language === 'python' || block.language === 'ts') {
        const file = /^(?:#|\/\/) ([\w./-]+\.\w+)\n/.exec(block.code)?.[1];
        assert.ok(file, `a ${block.language} block of Getting started names its file on its first line:\n${block.code}`);
        mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        writeFileSync(path.join(dir, file), block.code);
        continue;
      }
      assert.equal(block.language, 'sh', `Getting started has only sh, python and ts blocks:\n${block.code}`);
      for (const line of block.code.split('\n').filter((l) => l.trim())) {
        const command = line.replace(/\s+#.*$/, '').trim();
        const prints = /# prints: (.*)$/.exec(line)?.[1];
        // The one change: the package comes from the packed tarball instead of the registry.
        const started = Date.now();
        const outcome = await ok('/bin/sh', ['-c', command === 'npm install snakepit' ? `npm install ${tarball}` : command], dir, env);
        console.log(`${command}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
        if (prints !== undefined) assert.equal(outcome.stdout.trim().split('\n').at(-1), prints, `${command}:\n${outcome.stdout}\n${outcome.stderr}`);
        if (command.includes('-m pytest')) assert.match(outcome.stdout, /\b1 passed\b/, outcome.stdout);
        ran.push(command);
      }
    }
  } finally {
    assert.deepEqual(await pythonsLeftIn(dir), [], 'Python worker processes were left alive');
  }
  for (const step of ['npm init -y', 'npm install snakepit', 'npx snakepit setup', 'npx tsx main.mts', 'npx tsx main.ts']) {
    assert.ok(ran.includes(step), `Getting started runs \`${step}\` (ran: ${ran.join('; ')})`);
  }
  assert.ok(ran.some((c) => c.includes('-m pytest')), 'Getting started runs pytest');

  // What the section says about that project, checked.
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  assert.equal(manifest.type, 'commonjs', '`npm init -y` writes "type": "commonjs", so main.ts ran as CommonJS');
  const installed = JSON.parse(readFileSync(path.join(dir, 'node_modules', 'snakepit', 'package.json'), 'utf8'));
  assert.deepEqual(Object.keys(installed.scripts ?? {}).filter((s) => /^(pre|post)?install$/.test(s)), [], 'the package has no install script');
  const esm = readFileSync(path.join(dir, 'main.mts'), 'utf8');
  writeFileSync(path.join(dir, 'esm-in-cjs.ts'), esm);
  const topLevelAwait = await run('npx', ['tsx', 'esm-in-cjs.ts'], dir, env);
  assert.notEqual(topLevelAwait.code, 0);
  assert.match(topLevelAwait.stderr, /Top-level await is currently not supported with the "?cjs"? output format/);

  // The environment `setup` made imports the bridge by itself, from the installed package.
  const python = path.join(dir, '.snakepit', 'venv', 'bin', 'python');
  const bridge = await ok(python, ['-c', 'import snakepit_bridge, os; print(os.path.dirname(os.path.dirname(snakepit_bridge.__file__)))'], dir);
  assert.equal(bridge.stdout.trim(), path.join(dir, 'node_modules', 'snakepit', 'python'));
});

test('a CommonJS consumer require()s the package and makes a call', async () => {
  const dir = project('cjs', 'cjs');
  await ok('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball], dir);
  // The interpreter of the first consumer, chosen through SNAKEPIT_PYTHON.
  const python = path.join(temp, 'esm', '.snakepit', 'venv', 'bin', 'python');
  const reply = await callFrom(dir, ['main.js', path.join(fixtures, 'esm', 'py')], { ...cleanEnv, SNAKEPIT_PYTHON: python });
  assert.equal(reply.greeting, 'hello require');
  assert.equal(reply.python, python);
});

test('without python3 on PATH the install succeeds; doctor and setup name what is missing and the fix', async () => {
  // A PATH holding only node, npm, npx and sh.
  const bin = path.join(temp, 'node-only-bin');
  mkdirSync(bin);
  for (const tool of ['node', 'npm', 'npx']) symlinkSync(path.join(path.dirname(process.execPath), tool), path.join(bin, tool));
  symlinkSync('/bin/sh', path.join(bin, 'sh')); // npx runs the bin through sh
  const env = { ...cleanEnv, PATH: bin };
  const lookup = await run('/bin/sh', ['-c', 'command -v npm; command -v python3 python; true'], repo, env);
  assert.equal(lookup.stdout.trim(), path.join(bin, 'npm'), 'the node-only PATH must find npm and no python');

  const dir = project('no-python', 'cjs');
  await ok('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], dir, env);

  const doctor = await run('npx', ['snakepit', 'doctor'], dir, env);
  assert.equal(doctor.code, 1, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, /FAIL interpreter +python3 \(.*python3 from PATH\): python3 was not found/);
  assert.match(doctor.stdout, /fix: run `npx snakepit setup`/);

  const setup = await run('npx', ['snakepit', 'setup'], dir, env);
  assert.equal(setup.code, 1, setup.stdout + setup.stderr);
  assert.match(setup.stdout, /python3 was not found or does not run\n  fix: install Python/);
  assert.ok(!existsSync(path.join(dir, '.snakepit', 'venv')), 'a failed setup leaves no half-made environment');
});

checkNoLeaks(() => runIds);
