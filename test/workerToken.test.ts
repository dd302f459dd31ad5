// The worker token never outlives the handshake in a worker's environment: it arrives on the
// control pipe, so /proc/<pid>/environ of the worker, read by its tool or by a child, holds no
// token — for local workers (either transport) and for the relay workers of a process-profile
// bridge server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makePki, startServer } from './bridgeServers.js';
import { checkNoLeaks, startPit, workerToken } from './helpers.js';

checkNoLeaks();

interface Blocks {
  own: string;
  child: string;
  worker_seen_by_child: string;
}

function assertNoToken(blocks: Blocks, secrets: string[]): void {
  for (const [which, block] of Object.entries(blocks) as [string, string][]) {
    assert.ok(block.includes('PYTHONPATH='), `${which} is a real environment block`);
    assert.ok(!block.split('\0').some((entry) => entry.startsWith('SNAKEPIT_TOKEN=')), `${which} holds SNAKEPIT_TOKEN`);
    for (const secret of secrets) assert.ok(!block.includes(secret), `${which} holds the token`);
  }
}

test('the worker token is not in /proc/<pid>/environ of a local worker, nor of its children', async () => {
  const pit = await startPit({ pools: [{ name: 'env', poolSize: 1, adapter: 'node_adapters.EnvironmentBlocks' }] });
  try {
    const [worker] = pit.inspect().pools[0].workers;
    const token = workerToken(pit, worker.id);
    assert.ok(token.length >= 16);
    assertNoToken(await pit.execute<Blocks>('environ_blocks', {}), [token]);
  } finally {
    await pit.stop();
  }
});

test('the worker token is not in /proc/<pid>/environ of a bridge server’s relay worker, nor of its children', async () => {
  const pki = makePki();
  const server = await startServer(pki, { adapter: 'node_adapters.EnvironmentBlocks', processWorkers: 1 });
  const pit = await startPit({
    pools: [{ name: 'remote', workerProfile: 'remote', endpoints: [server.endpoint], tls: { ca: pki.ca }, token: pki.token }],
  });
  try {
    assertNoToken(await pit.execute<Blocks>('environ_blocks', {}), [pki.token]);
  } finally {
    await pit.stop();
    server.child.kill('SIGTERM');
    await server.exited;
  }
});
