// The `snakepit` command and what it relies on: the interpreter order, the bridge's declared
// bounds, and `doctor`/`setup` against real interpreters — each failure with its fix. (A
// successful `setup` in a consumer project is shown by consumer.test.ts.)
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseRequirement, readBridgeRequirements, satisfies } from '../src/cli/bridgeRequirements.js';
import { dependencyCheck, grpcExtraCheck, numpyCheck } from '../src/cli/doctor.js';
import { PACKAGE_ROOT } from '../src/packageRoot.js';
import { explainPythonExecutable, findProjectRoot } from '../src/process/pythonExecutable.js';
import { checkNoLeaks } from './helpers.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(repo, 'src', 'cli.ts');
const temp = mkdtempSync(path.join(os.tmpdir(), 'snakepit-cli-'));
after(() => rmSync(temp, { recursive: true, force: true }));

// No interpreter choice leaks in from the environment running the tests.
const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^(SNAKEPIT_|VIRTUAL_ENV$|PYTHONPATH$)/.test(key)),
);

function snakepit(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', import.meta.resolve('tsx'), cli, ...args], { cwd, env: { ...cleanEnv, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** A directory with an (empty) bin/python, which is all the order looks for. */
function fakeVenv(dir: string): string {
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  writeFileSync(path.join(dir, 'bin', 'python'), '');
  return path.join(dir, 'bin', 'python');
}

describe('the interpreter order', () => {
  const project = path.join(temp, 'order', 'project');
  const nested = path.join(project, 'src', 'deep');
  mkdirSync(nested, { recursive: true });
  writeFileSync(path.join(project, 'package.json'), '{}');
  const activeVenv = fakeVenv(path.join(temp, 'order', 'active'));
  const setupVenv = fakeVenv(path.join(project, '.snakepit', 'venv'));
  const projectVenv = fakeVenv(path.join(project, '.venv'));

  test('each rule wins over the ones after it', () => {
    const env = { SNAKEPIT_PYTHON: '/opt/py/bin/python3', VIRTUAL_ENV: path.dirname(path.dirname(activeVenv)) };
    const choose = (configured: string | undefined, e: NodeJS.ProcessEnv) => explainPythonExecutable(configured, e, nested);
    assert.deepEqual(choose('/configured/python', env), { path: '/configured/python', source: 'python.executable', reason: 'python.executable is configured' });
    assert.equal(choose(undefined, env).source, 'SNAKEPIT_PYTHON');
    assert.equal(choose(undefined, env).path, '/opt/py/bin/python3');
    assert.deepEqual([choose(undefined, { VIRTUAL_ENV: env.VIRTUAL_ENV }).path, choose(undefined, { VIRTUAL_ENV: env.VIRTUAL_ENV }).source], [activeVenv, 'VIRTUAL_ENV']);
    assert.deepEqual([choose(undefined, {}).path, choose(undefined, {}).source], [projectVenv, 'project .venv']);
    rmSync(path.join(project, '.venv'), { recursive: true });
    assert.deepEqual([choose(undefined, {}).path, choose(undefined, {}).source], [setupVenv, 'snakepit setup']);
  });

  test('a VIRTUAL_ENV without bin/python is passed over', () => {
    const choice = explainPythonExecutable(undefined, { VIRTUAL_ENV: path.join(temp, 'order', 'gone') }, nested);
    assert.equal(choice.source, 'snakepit setup');
  });

  test("outside any project, this checkout's own .venv comes before python3", () => {
    const outside = path.join(temp, 'no-project');
    mkdirSync(outside, { recursive: true });
    assert.equal(findProjectRoot(outside), outside, 'with no package.json above it, the project is the working directory');
    const choice = explainPythonExecutable(undefined, {}, outside);
    assert.deepEqual([choice.path, choice.source], [path.join(PACKAGE_ROOT, '.venv', 'bin', 'python'), 'snakepit dev checkout']);
  });
});

describe("the bridge's declared requirements", () => {
  test('are read from pyproject.toml: requires-python, bounds, extras and markers', () => {
    const file = path.join(temp, 'pyproject.toml');
    writeFileSync(
      file,
      [
        '[build-system]',
        'requires = ["setuptools>=61"]',
        '[project]',
        'name = "snakepit-bridge"',
        'requires-python = ">=3.11"',
        'dependencies = [',
        '  "typing-extensions>=4,<5",  # the oldest tested',
        `  "protobuf[extra] >= 3.21 ; python_version >= '3.8'",`,
        ']',
        '[project.optional-dependencies]',
        '# comment',
        'grpc = ["grpcio>=1.51.1"]',
        'test = ["pytest"]',
      ].join('\n'),
    );
    assert.deepEqual(readBridgeRequirements(file), {
      requiresPython: '>=3.11',
      dependencies: [
        { name: 'typing-extensions', specifier: '>=4,<5' },
        { name: 'protobuf', specifier: '>=3.21' },
      ],
      grpc: [{ name: 'grpcio', specifier: '>=1.51.1' }],
    });
    assert.deepEqual(parseRequirement('grpcio'), { name: 'grpcio', specifier: '' });
    const shipped = readBridgeRequirements();
    assert.deepEqual(shipped.dependencies, [], 'the local lane needs the standard library only');
    assert.deepEqual(shipped.grpc.map((d) => d.name), ['grpcio']);
    assert.match(shipped.requiresPython, /^>=3\.\d+/);
  });

  test('versions are compared by release numbers against every clause', () => {
    const cases: [string, string, boolean][] = [
      ['1.84.0', '>=1.51,<2', true],
      ['1.50.9', '>=1.51', false],
      ['3.21.12', '>=3.21', true],
      ['7.36.2', '<7', false],
      ['3.11.7', '>=3.11', true],
      ['3.10.13', '>=3.11', false],
      ['1.84.0rc1', '>=1.84', true],
      ['1.9', '~=1.4', true],
      ['2.0', '~=1.4', false],
      ['1.2.5', '==1.2.*', true],
      ['1.3', '!=1.3.0', false],
      ['1.3', '', true],
    ];
    for (const [version, specifier, expected] of cases) assert.equal(satisfies(version, specifier), expected, `${version} ${specifier}`);
  });

  test('a package outside the bounds fails its check with the pip command that fixes it', () => {
    const protobuf = { name: 'protobuf', specifier: '>=3.21,<7' };
    assert.deepEqual(dependencyCheck(protobuf, '7.36.2', '/venv/bin/python'), {
      name: 'protobuf',
      ok: false,
      detail: '7.36.2, out of range (the bridge needs >=3.21,<7)',
      fix: 'run `npx snakepit setup`, or: /venv/bin/python -m pip install "protobuf>=3.21,<7"',
    });
    assert.equal(dependencyCheck(protobuf, '6.33.6', '/venv/bin/python').ok, true);
  });

  test('NumPy may be missing: the line says what arrays then become and how to get it', () => {
    assert.deepEqual(numpyCheck('2.1.3'), {
      name: 'NumPy',
      ok: true,
      detail: '2.1.3: typed arrays and { dtype, shape, data } values arrive in tools as ndarrays, and ndarrays a tool returns arrive as { dtype, shape, data }',
    });
    const missing = numpyCheck(null);
    assert.equal(missing.ok, true);
    assert.match(missing.detail, /^not installed: .* as memoryviews \(add numpy to `npx snakepit setup --requirements FILE` for ndarrays\)$/);
  });

  test('the gRPC extra may be missing, but not out of its bounds', () => {
    const grpcio = { name: 'grpcio', specifier: '>=1.51.1' };
    assert.equal(grpcExtraCheck(grpcio, null, '/venv/bin/python').ok, true);
    assert.deepEqual(grpcExtraCheck(grpcio, '1.50.0', '/venv/bin/python'), {
      name: 'grpcio',
      ok: false,
      detail: '1.50.0, out of range (the bridge needs >=1.51.1)',
      fix: 'run `npx snakepit setup --grpc`, or: /venv/bin/python -m pip install "grpcio>=1.51.1"',
    });
    assert.equal(grpcExtraCheck(grpcio, '1.84.0', '/venv/bin/python').ok, true);
  });
});

describe('snakepit doctor', () => {
  const adapters = path.join('python', 'tests', 'adapters');

  test('passes every check with a working interpreter and an importable adapter', async () => {
    const { code, stdout } = await snakepit(['doctor', '--adapter', 'sample_adapters.Calc', '--python-path', adapters], repo);
    assert.equal(code, 0, stdout);
    for (const check of ['interpreter', 'Python', 'grpcio', 'NumPy', 'bridge', 'adapter']) assert.match(stdout, new RegExp(`^ok +${check} `, 'm'));
    // This checkout's .venv has NumPy; the line names its version and what it changes.
    const numpy = execFileSync(path.join(repo, '.venv', 'bin', 'python'), ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' }).trim();
    assert.match(stdout, new RegExp(`^ok +NumPy +${numpy.replaceAll('.', '\\.')}: typed arrays and \\{ dtype, shape, data \\} values arrive in tools as ndarrays`, 'm'));
    assert.match(stdout, new RegExp(`sample_adapters.Calc imports \\(python path ${path.join(repo, adapters)}\\)`));
  });

  test('an adapter off the python path: says to pass its folder and how relative folders resolve', async () => {
    const { code, stdout } = await snakepit(['doctor', '--adapter', 'sample_adapters.Calc'], repo);
    assert.equal(code, 1);
    assert.match(stdout, /^FAIL adapter +sample_adapters.Calc: ModuleNotFoundError: No module named 'sample_adapters'/m);
    assert.match(stdout, new RegExp(`fix: pass the folder holding sample_adapters.py as --python-path .*against the working directory, ${repo}`));
  });

  test("an adapter whose own import is missing, or a class that is not there: names each", async () => {
    const broken = await snakepit(['doctor', '--adapter', 'broken_import.Anything', '--python-path', adapters], repo);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /fix: the adapter needs not_a_real_module_xyz: .* -m pip install not_a_real_module_xyz/);
    const noClass = await snakepit(['doctor', '--adapter', 'sample_adapters.Nope', '--python-path', adapters], repo);
    assert.equal(noClass.code, 1);
    assert.match(noClass.stdout, /FAIL adapter +sample_adapters.Nope: AttributeError: no class named Nope/);
    const malformed = await snakepit(['doctor', '--adapter', 'no-dot'], repo);
    assert.equal(malformed.code, 1);
    assert.match(malformed.stdout, /"no-dot" is not of the form module.Class/);
  });

  test('an interpreter with nothing installed passes: grpcio is reported as needed only for transport grpc', async () => {
    const bare = path.join(temp, 'bare-venv');
    execFileSync('python3', ['-m', 'venv', '--without-pip', bare], { env: cleanEnv });
    const { code, stdout } = await snakepit(['doctor'], temp, { VIRTUAL_ENV: bare });
    assert.equal(code, 0, stdout);
    assert.match(stdout, /^ok +interpreter .*bare-venv\/bin\/python \(a virtualenv is active \(VIRTUAL_ENV\)\)/m);
    assert.match(stdout, /^ok +grpcio +not installed: only transport 'grpc' and bridge servers need it \(`npx snakepit setup --grpc`\)/m);
    assert.match(stdout, /^ok +NumPy +not installed: typed arrays and \{ dtype, shape, data \} values arrive in tools as memoryviews/m);
    assert.match(stdout, /^ok +bridge +imports from /m);
  });

  test('an interpreter that does not exist: says so, which rule chose it, and the fix', async () => {
    const { code, stdout } = await snakepit(['doctor'], temp, { SNAKEPIT_PYTHON: '/nonexistent/python3' });
    assert.equal(code, 1);
    assert.match(stdout, /^FAIL interpreter +\/nonexistent\/python3 \(SNAKEPIT_PYTHON is set\): \/nonexistent\/python3 was not found/m);
    assert.match(stdout, /fix: run `npx snakepit setup` in the project/);
  });
});

describe('snakepit setup and the command line', () => {
  test('refuses a missing requirements file, a missing bootstrap Python and one too old, creating nothing', async () => {
    const project = path.join(temp, 'setup-project');
    mkdirSync(project, { recursive: true });
    writeFileSync(path.join(project, 'package.json'), '{}');

    const noFile = await snakepit(['setup', '--requirements', 'nope.txt'], project);
    assert.equal(noFile.code, 1);
    assert.match(noFile.stdout, new RegExp(`the requirements file ${path.join(project, 'nope.txt')} does not exist`));

    const noPython = await snakepit(['setup'], project, { SNAKEPIT_PYTHON_BOOTSTRAP: '/nonexistent/python3' });
    assert.equal(noPython.code, 1);
    assert.match(noPython.stdout, /\/nonexistent\/python3 was not found or does not run\n  fix: install Python >=3\.\d+/);

    // Stands in for an old interpreter: it answers the version question the way Python 3.7 would.
    const old = path.join(temp, 'python3.7');
    writeFileSync(old, '#!/bin/sh\necho 3.7.17\n');
    chmodSync(old, 0o755);
    const tooOld = await snakepit(['setup'], project, { SNAKEPIT_PYTHON_BOOTSTRAP: old });
    assert.equal(tooOld.code, 1);
    assert.match(tooOld.stdout, /is Python 3\.7\.17; the bridge needs >=3\.\d+\n  fix: set SNAKEPIT_PYTHON_BOOTSTRAP/);
    assert.ok(!existsSync(path.join(project, '.snakepit')), 'nothing was created');
  });

  test('an unknown command or option prints the usage and exits 1', async () => {
    const unknown = await snakepit(['install'], temp);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown command "install"\nusage:/);
    const badOption = await snakepit(['doctor', '--adaptor', 'x.Y'], temp);
    assert.equal(badOption.code, 1);
    assert.match(badOption.stderr, /--adaptor/);
    const help = await snakepit(['--help'], temp);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /npx snakepit setup \[--grpc\] \[--requirements FILE\]/);
    assert.match(help.stdout, /npx snakepit doctor \[--adapter module\.Class\]/);
    assert.match(help.stdout, /npx snakepit types --adapter module\.Class \[--python-path DIR\]\.\.\. \[--out FILE\]/);
    assert.match(help.stdout, /--version/);
    const none = await snakepit([], temp);
    assert.equal(none.code, 1, 'no command is a usage error');
    assert.match(none.stdout, /^usage: npx snakepit <command>/);
  });

  test('every command has --help (and -h, and `help <command>`): its usage and options, exit 0, nothing run', async () => {
    const project = path.join(temp, 'help-project');
    mkdirSync(project, { recursive: true });
    writeFileSync(path.join(project, 'package.json'), '{}');
    const options = {
      setup: ['--requirements FILE', '--grpc'],
      doctor: ['--adapter module.Class', '--python-path DIR'],
      types: ['--adapter module.Class', '--python-path DIR', '--out FILE'],
    };
    const asked = { setup: [['--grpc', '--help']], doctor: [['--adapter', 'calc.Calc', '--help']], types: [['--adapter', 'calc.Calc', '--out', 'calc.tools.ts', '--help']] };
    for (const [command, expected] of Object.entries(options) as [keyof typeof options, string[]][]) {
      for (const args of [[command, '--help'], [command, '-h'], ['help', command], ...asked[command].map((a) => [command, ...a])]) {
        const { code, stdout, stderr } = await snakepit(args, project);
        assert.equal(code, 0, `${args.join(' ')}: ${stdout}${stderr}`);
        assert.match(stdout, new RegExp(`^usage: npx snakepit ${command} `), args.join(' '));
        for (const option of expected) assert.ok(stdout.includes(option), `${args.join(' ')} names ${option}`);
      }
    }
    // A failing doctor would have printed checks; a setup would have made the environment, types its file.
    assert.ok(!existsSync(path.join(project, '.snakepit')), '`setup --help` made nothing');
    assert.ok(!existsSync(path.join(project, 'calc.tools.ts')), '`types --help` wrote nothing');
  });

  test('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const { code, stdout } = await snakepit([flag], temp);
      assert.equal(code, 0);
      assert.equal(stdout.trim(), version);
    }
  });
});

checkNoLeaks();
