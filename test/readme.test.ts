// Every code block in README.md runs as shown: the Python files are written where their first
// line says (`# py/calc.py`), each TypeScript block runs against them with this checkout as the
// `snakepit` package, and the `npx snakepit` commands (doctor, types) run against them too. The
// other shell lines run elsewhere: the development commands are .ci/run's, and installing the
// package with `setup` is what test/consumer.test.ts does with the packed tarball.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkNoLeaks } from './helpers.js';

checkNoLeaks();

const repo = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');

interface Block {
  language: string;
  code: string;
  line: number;
}

function codeBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  const pattern = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (const match of markdown.matchAll(pattern)) {
    blocks.push({ language: match[1], code: match[2], line: markdown.slice(0, match.index).split('\n').length });
  }
  return blocks;
}

/** Runs a TypeScript file with tsx; resolves with its exit code and output. */
function runTs(file: string, cwd: string, args: string[] = []): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), file, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve) => child.once('exit', (code) => (clearTimeout(timer), resolve({ code, output }))));
}

const project = mkdtempSync(path.join(tmpdir(), 'snakepit-readme-'));
after(() => rmSync(project, { recursive: true, force: true }));

test('the README has TypeScript and Python blocks, and every Python block names its file', () => {
  const blocks = codeBlocks(readme);
  assert.ok(blocks.some((b) => b.language === 'ts') && blocks.some((b) => b.language === 'python'));
  for (const block of blocks.filter((b) => b.language === 'python')) {
    assert.match(block.code, /^# [\w/]+\.py\n/, `the Python block at README.md:${block.line} starts with "# path/file.py"`);
  }
});

function writePythonFiles(): void {
  for (const block of codeBlocks(readme).filter((b) => b.language === 'python')) {
    const file = path.join(project, /^# ([\w/]+\.py)/.exec(block.code)![1]);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, block.code);
  }
}

test('every TypeScript block of the README runs against the adapters the README shows', async () => {
  const blocks = codeBlocks(readme);
  writePythonFiles();
  const entry = path.join(repo, 'src', 'index.ts');
  for (const block of blocks.filter((b) => b.language === 'ts')) {
    const file = path.join(project, `readme-${block.line}.mts`);
    // `snakepit` is this checkout; other packages a block imports are this repository's (dev) dependencies.
    const source = block.code
      .replaceAll("from 'snakepit'", `from '${entry}'`)
      .replaceAll("from 'snakepit/dashboard'", `from '${path.join(repo, 'src', 'dashboard', 'index.ts')}'`)
      .replaceAll("from 'snakepit/machines'", `from '${path.join(repo, 'machines', 'index.ts')}'`)
      .replace(/from '((?:@[\w.-]+\/)?[\w.-]+(?:\/[\w.-]+)*)'/g, (match, spec: string) => (spec.startsWith('/') ? match : `from '${import.meta.resolve(spec)}'`));
    writeFileSync(file, source);
    const { code, output } = await runTs(file, project);
    assert.equal(code, 0, `README.md:${block.line} exited with ${code}:\n${output}`);
    console.log(`README.md:${block.line} ran: ${output.split("\n").length} lines of output`);
  }
});

test('the shell blocks: the development commands are .ci/run\'s, and every `npx snakepit` line runs', async () => {
  const commands = codeBlocks(readme)
    .filter((b) => b.language === 'sh')
    .flatMap((b) => b.code.split('\n'))
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
  const ci = readFileSync(path.join(repo, '.ci', 'run'), 'utf8');
  for (const command of ['npm install && npm start', 'npm test']) {
    assert.ok(commands.includes(command) && ci.includes(command), `"${command}" is in the README and in .ci/run`);
  }
  writePythonFiles();
  const cli = path.join(repo, 'src', 'cli.ts');
  const doctor = commands.filter((c) => c.startsWith('npx snakepit doctor'));
  const types = commands.filter((c) => c.startsWith('npx snakepit types'));
  assert.ok(doctor.length > 0 && types.length > 0);
  for (const command of [...doctor, ...types]) {
    const { code, output } = await runTs(cli, project, command.split(/\s+/).slice(2));
    assert.equal(code, 0, `${command}:\n${output}`);
  }
  // What the Typed tools section imports, with the types its comments show.
  const calcTools = readFileSync(path.join(project, 'calc.tools.ts'), 'utf8');
  assert.match(calcTools, /export interface CalcTools \{[\s\S]*add: \{\n    args: \{ a: number \| bigint; b: number \| bigint \};\n    result: number;[\s\S]*count: \{\n    args: \{ n: number \| bigint \};\n    chunk: number;/);
});
