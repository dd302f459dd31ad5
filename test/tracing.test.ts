// OpenTelemetry: with @opentelemetry/api installed and a tracer provider registered, every
// call is one span carrying its pool, tool, worker and outcome, ended when the caller settles.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trace } from '@opentelemetry/api';
import { loadTracer } from '../src/observe/tracing.js';
import { checkNoLeaks, errorOf, startPit } from './helpers.js';

checkNoLeaks();

interface Recorded {
  name: string;
  attributes: Record<string, string | number>;
  status?: { code: number; message?: string };
  ended: boolean;
}

test('without a registered tracer provider, calls make no spans at all', async () => {
  assert.equal(await loadTracer(), undefined);
});

test('each call is a span with its pool, tool, worker and outcome', async () => {
  const spans: Recorded[] = [];
  const tracer = {
    startSpan(name: string, options: { attributes?: Record<string, string> }) {
      const span: Recorded = { name, attributes: { ...options.attributes }, ended: false };
      spans.push(span);
      return {
        setAttribute(key: string, value: string | number) {
          span.attributes[key] = value;
          return this;
        },
        setStatus(status: { code: number; message?: string }) {
          span.status = status;
          return this;
        },
        end() {
          span.ended = true;
        },
      };
    },
  };
  assert.ok(trace.setGlobalTracerProvider({ getTracer: () => tracer as never }));
  try {
    const pit = await startPit({ pools: [{ name: 'traced', poolSize: 1, adapter: 'sample_adapters.Calc' }] });
    await pit.execute('add', { a: 1, b: 2 }, { pool: 'traced' });
    assert.equal((await errorOf(pit.execute('fail', { message: 'boom' }, { pool: 'traced' }))).code, 'PYTHON_ERROR');
    assert.equal((await errorOf(pit.execute('sleep', { seconds: 1 }, { pool: 'traced', timeoutMs: 100 }))).code, 'TIMEOUT');
    const worker = pit.inspect().pools[0].workers[0].id;
    assert.deepEqual(
      spans.map((s) => [s.name, s.attributes['snakepit.pool'], s.attributes['snakepit.tool'], s.attributes['snakepit.worker'], s.attributes['snakepit.outcome'], s.status?.code, s.ended]),
      [
        ['snakepit.call add', 'traced', 'add', worker, 'ok', undefined, true],
        ['snakepit.call fail', 'traced', 'fail', worker, 'PYTHON_ERROR', 2, true],
        ['snakepit.call sleep', 'traced', 'sleep', worker, 'TIMEOUT', 2, true],
      ],
    );
    assert.match(spans[1].status!.message!, /boom/);
  } finally {
    trace.disable();
  }
});
