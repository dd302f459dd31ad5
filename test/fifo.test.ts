// The queue under the dispatcher (src/fifo.ts): first in, first out; a handed-back call can go
// to the head; any entry can leave from anywhere (a timed-out or aborted call), once.
// Real processes: fairness.test.ts ("a new call waits behind the queued ones"), execute.test.ts
// (QUEUE_TIMEOUT), prefetch.test.ts (handed-back calls run first, in order).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Fifo } from '../src/calls/fifo.js';

test('values leave in the order pushed; unshift puts one at the head; peek leaves it there', () => {
  const fifo = new Fifo<string>();
  for (const v of ['a', 'b', 'c']) fifo.push(v);
  fifo.unshift('z');
  assert.equal(fifo.peek(), 'z');
  assert.equal(fifo.size, 4);
  assert.deepEqual([fifo.shift(), fifo.shift()], ['z', 'a']);
  fifo.push('d');
  assert.deepEqual(fifo.drain(), ['b', 'c', 'd']);
  assert.equal(fifo.size, 0);
  assert.equal(fifo.shift(), undefined);
  assert.equal(fifo.peek(), undefined);
});

test('any entry can be removed, head, middle or tail, and removing it again changes nothing', () => {
  const fifo = new Fifo<string>();
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((v) => fifo.push(v));
  fifo.remove(b);
  fifo.remove(b);
  assert.equal(fifo.size, 3);
  fifo.remove(a);
  fifo.remove(d);
  assert.equal(fifo.peek(), 'c');
  fifo.push('e');
  fifo.remove(c);
  fifo.remove(a);
  assert.deepEqual(fifo.drain(), ['e']);
  const alone = fifo.push('f');
  fifo.remove(alone);
  assert.equal(fifo.size, 0);
  fifo.unshift('g');
  assert.deepEqual(fifo.drain(), ['g'], 'head and tail are reset when the last entry leaves');
});
