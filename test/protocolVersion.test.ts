// The handshake carries the bridge's protocol version: a bridge that speaks another one, or
// states none, fails start() with STARTUP_FAILED naming both versions, and leaves no process.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PROTOCOL_VERSION } from '../src/wire/sessionCodec.js';
import { checkNoLeaks, createPit, errorOf, isAlive, workerProcesses } from './helpers.js';

checkNoLeaks();

const fakeBridge = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'otherProtocolBridge.sh');

for (const [stated, described] of [[String(PROTOCOL_VERSION + 1), `protocol version ${PROTOCOL_VERSION + 1}`], ['', 'no protocol version']]) {
  test(`a bridge that states ${described} fails start() with STARTUP_FAILED naming both versions`, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'snakepit-fake-bridge-'));
    const pidFile = path.join(dir, 'pids');
    const pit = createPit({
      python: { executable: fakeBridge, env: { FAKE_BRIDGE_PROTOCOL: stated, FAKE_BRIDGE_PIDS: pidFile } },
      pools: [{ name: 'p', poolSize: 2, adapter: 'sample_adapters.Calc' }],
    });
    const error = await errorOf(pit.start());
    assert.equal(error.code, 'STARTUP_FAILED');
    assert.match(error.message, new RegExp(`${described}.*this snakepit package speaks protocol version ${PROTOCOL_VERSION}`));
    assert.match(error.message, /Install matching versions of the npm package and the Python bridge/);
    assert.deepEqual(workerProcesses([pit.runId]).filter((p) => isAlive(p.pid)), [], 'no fake bridge left running');
    const started = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
    assert.ok(started.length > 0, 'the fake bridge was started');
    for (const pid of started) assert.ok(!isAlive(pid), `pid ${pid} left running`);
    rmSync(dir, { recursive: true, force: true });
  });
}
