// The machines as users get them: importable, exported as JSON that loads back with
// createMachine into the same statechart, and drawn in the README from that JSON.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createMachine } from 'xstate';
import { machineConfig } from '../machines/index.js';
import { MACHINES, machineJson, readmeWithDiagram } from '../scripts/export-machines.js';

const repo = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

test('machines:export output is up to date and loads back with createMachine as the same statechart', () => {
  for (const [name, machine] of Object.entries(MACHINES)) {
    const file = path.join(repo, 'machines', `${name}.json`);
    const committed = readFileSync(file, 'utf8');
    assert.equal(committed, machineJson(machine), `machines/${name}.json is stale: run npm run machines:export`);
    const loaded = createMachine(JSON.parse(committed));
    assert.deepEqual(machineConfig(loaded), JSON.parse(committed), `${name}: states, events, targets, guards and actors survive the round trip`);
  }
  const worker = JSON.parse(readFileSync(path.join(repo, 'machines', 'worker.json'), 'utf8'));
  assert.deepEqual(Object.keys(worker.states), ['starting', 'alive', 'recycling', 'crashed', 'stopped']);
  assert.deepEqual(Object.keys(worker.states.alive.states), ['ready', 'busy', 'draining']);
  assert.deepEqual(worker.states.alive.states.draining.on.DRAINED, [{ target: ['#worker.recycling'] }]);
});

test('the README draws the worker machine as it is', () => {
  const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
  assert.equal(readmeWithDiagram(readme), readme, 'the README diagram is stale: run npm run machines:export');
  assert.match(readme, /alive_draining --> recycling: DRAINED/);
});
