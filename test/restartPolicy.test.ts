// OTP's restart rules as pure functions: no process, no timer, no machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  affectedChildren,
  exceedsIntensity,
  isNormalExit,
  shouldRestart,
} from '../machines/restartPolicy.js';
import { checkNoLeaks } from './helpers.js';

checkNoLeaks();

const normal = { exitCode: 0, signal: null };
const failed = { exitCode: 3, signal: null };
const killed = { exitCode: null, signal: 'SIGKILL' };

test('a normal exit is exit code 0 with no signal; a start-up failure (no exit) is abnormal', () => {
  assert.equal(isNormalExit(normal), true);
  assert.equal(isNormalExit(failed), false);
  assert.equal(isNormalExit(killed), false);
  assert.equal(isNormalExit({ exitCode: 0, signal: 'SIGTERM' }), false);
  assert.equal(isNormalExit(undefined), false);
});

test('permanent always restarts, transient only after an abnormal exit, temporary never', () => {
  const exits = [normal, failed, killed, undefined];
  assert.deepEqual(exits.map((exit) => shouldRestart('permanent', exit)), [true, true, true, true]);
  assert.deepEqual(exits.map((exit) => shouldRestart('transient', exit)), [false, true, true, true]);
  assert.deepEqual(exits.map((exit) => shouldRestart('temporary', exit)), [false, false, false, false]);
});

test('intensity N allows N restarts within the window; one more exceeds it', () => {
  assert.equal(exceedsIntensity(0, 0), true, 'intensity 0: the first restart already exceeds');
  assert.equal(exceedsIntensity(0, 1), false);
  assert.equal(exceedsIntensity(1, 1), true);
  assert.equal(exceedsIntensity(2, 3), false);
  assert.equal(exceedsIntensity(3, 3), true);
});

test('one_for_one takes the crashed child alone; one_for_all every child; rest_for_one it and those started after it', () => {
  const order = ['a', 'b', 'c', 'd'];
  assert.deepEqual(affectedChildren('one_for_one', order, 'b'), ['b']);
  assert.deepEqual(affectedChildren('one_for_all', order, 'b'), ['a', 'b', 'c', 'd']);
  assert.deepEqual(affectedChildren('rest_for_one', order, 'b'), ['b', 'c', 'd']);
  assert.deepEqual(affectedChildren('rest_for_one', order, 'd'), ['d']);
  assert.deepEqual(affectedChildren('rest_for_one', order, 'a'), order);
  // A child no longer in the start order (already retired) is restarted alone.
  assert.deepEqual(affectedChildren('rest_for_one', order, 'z'), ['z']);
});
