// Stately's inspector over a real WebSocket on loopback: examples/inspector.ts, run as its own
// process, sends the actor tree with readable ids, the worker goes starting → ready → busy →
// ready, and the process exits on its own after stop() (the inspector does not keep Node alive).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { checkNoLeaks, createPit } from './helpers.js';

checkNoLeaks();

const example = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'inspector.ts');

interface StatelyEvent {
  type: string;
  name?: string;
  sessionId: string;
  snapshot?: { value?: unknown };
}

test('examples/inspector.ts: the inspector sees the worker go starting → ready → busy → ready, and the process exits after stop()', async () => {
  const server = new WebSocket.Server({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => server.once('listening', resolve));
  const received: StatelyEvent[] = [];
  server.on('connection', (socket) => socket.on('message', (data) => received.push(JSON.parse(String(data)))));
  try {
    const { port } = server.address() as { port: number };
    const child = spawn(process.execPath, ['--import', 'tsx', example], {
      env: { ...process.env, SNAKEPIT_INSPECT_URL: `ws://127.0.0.1:${port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    assert.equal(signal, null, `the example did not exit on its own after stop()\n${output}`);
    assert.equal(code, 0, output);

    const names = new Map(received.filter((e) => e.type === '@xstate.actor').map((e) => [e.sessionId, e.name]));
    assert.ok(['snakepit', 'pool:ml', 'worker:ml-1'].every((name) => [...names.values()].includes(name)), [...names.values()].join(', '));
    const worker = [...names].find(([, name]) => name === 'worker:ml-1')![0];
    const states: string[] = [];
    for (const e of received) {
      if (e.type !== '@xstate.snapshot' || e.sessionId !== worker || e.snapshot?.value === undefined) continue;
      const value = e.snapshot.value;
      const state = typeof value === 'string' ? value : Object.values(value as Record<string, string>)[0];
      if (states.at(-1) !== state) states.push(state);
    }
    assert.deepEqual(states.slice(0, 4), ['starting', 'ready', 'busy', 'ready'], states.join(' → '));
    assert.ok(!JSON.stringify(received).includes('SNAKEPIT_TOKEN'), 'no secret reaches the inspector');
  } finally {
    server.close();
  }
});

test('the inspect option takes an inspector object or its observer, and refuses anything else clearly', () => {
  const seen: string[] = [];
  const observer = (event: { type: string }) => seen.push(event.type);
  const pools = [{ name: 'a', poolSize: 1, adapter: 'sample_adapters.Calc', transport: 'local' as const }];
  createPit({ inspect: { inspect: observer, stop: () => undefined }, pools });
  createPit({ inspect: { next: observer }, pools });
  assert.throws(
    // @ts-expect-error a URL is not an inspector: a type error, and INVALID_CONFIG for JavaScript callers
    () => createPit({ inspect: { url: 'ws://x' }, pools }),
    (error: Error & { code?: string }) => error.code === 'INVALID_CONFIG' && /createWebSocketInspector/.test(error.message),
  );
});
