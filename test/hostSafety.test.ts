// Nothing an application callback does reaches the process: exposed functions that throw values
// whose text cannot be made, onProgress callbacks and event listeners that throw or reject. Each
// call still settles once, every host call gets its reply, and Node lives on — proven in a child
// process with no handler of its own, where an unhandled rejection would end it with code 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkNoLeaks, errorOf, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const here = path.dirname(fileURLToPath(import.meta.url));

function runFixture(name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', name)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
  return new Promise((resolve) => child.once('exit', (code) => (clearTimeout(timer), resolve({ code, stdout, stderr }))));
}

test('exposed functions throwing values whose String() throws, and callbacks that throw or reject, do not end Node; every call settles', async () => {
  const { code, stdout, stderr } = await runFixture('hostileCallbacks.ts');
  assert.equal(code, 0, `the Node process ended with code ${code}:\n${stderr.slice(-3000)}`);
  const outcome = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, any>;
  const answers = Object.entries(outcome).filter(([key]) => /^(throws|rejects|thenable|then_throws)_/.test(key));
  assert.equal(answers.length, 28);
  for (const [key, answer] of answers) {
    assert.equal(answer.code, 'NODE_ERROR', `${key}: ${JSON.stringify(answer)}`);
    assert.equal(typeof answer.error, 'string', key);
    assert.ok(answer.error.length > 0, `${key}: an empty message`);
  }
  assert.equal(outcome.throws_throwingName.error, 'name getter throws');
  assert.equal(outcome.rejects_symbol.error, 'Symbol(thrown)');
  assert.match(outcome.then_throws_nullPrototype.error, /not an Error and has no text/);
  assert.equal(outcome.completed, 'done', 'an async onProgress that rejects costs nothing');
  assert.equal(outcome.syncProgress, 'done');
  assert.equal(outcome.failed, 'PYTHON_ERROR', 'a throwing request:failed listener does not keep the rejection from its caller');
  assert.equal(outcome.restarted, true, 'a throwing worker:crashed listener does not stop the restart');
  assert.equal(outcome.heard, 3, 'the listeners registered after a throwing one still hear every event');
  assert.match(stderr, /SnakepitWarning: Snakepit ignored what a listener of "request:completed" threw/);
  assert.match(stderr, /Snakepit ignored what an onProgress callback threw \(Error: async onProgress\)/);
  assert.equal(stderr.match(/listener of "request:completed" threw/g)!.length, 1, 'reported once per source');
});

test('arguments whose Proxy trap throws a value with no text are INVALID_ARGUMENT, not a raw TypeError', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'context_adapters.Contextual' }] });
  const args = new Proxy({}, { ownKeys: () => { throw Object.create(null); } });
  const error = await errorOf(pit.execute('pid', args));
  assert.equal(error.code, 'INVALID_ARGUMENT');
  assert.match(error.message, /The arguments object of tool "pid" could not be read: Error: a thrown value that is not an Error/);
});

test('a throwing request:completed or request:failed listener never leaves a call half-settled; the failure is a process warning', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'context_adapters.Contextual' }] });
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  process.on('warning', onWarning);
  try {
    const broken = () => {
      throw new TypeError('listener bug');
    };
    pit.on('request:completed', broken);
    pit.on('request:failed', broken);
    pit.on('request:failed', async () => Promise.reject(Object.create(null)));
    assert.equal(await pit.execute('report', { n: 1 }), 'done');
    assert.equal((await errorOf(pit.execute('fail', { message: 'x' }))).code, 'PYTHON_ERROR');
    await waitFor(() => warnings.length >= 2, 5000, 'the warnings');
    const texts = warnings.map((w) => `${w.name} ${(w as { code?: string }).code} ${w.message}`);
    assert.ok(texts.some((t) => /SnakepitWarning SNAKEPIT_CALLBACK_FAILED .*"request:completed" threw \(TypeError: listener bug\)/.test(t)), texts.join('\n'));
    pit.off('request:completed', broken);
    pit.off('request:failed', broken);
    pit.off('request:failed');
    assert.equal(await pit.execute('report', { n: 1 }), 'done');
  } finally {
    process.off('warning', onWarning);
  }
});
