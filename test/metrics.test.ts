// Stats and Prometheus metrics with real workers: wait and run percentiles per pool and per
// tool (p99 moves when calls are slow), reset, and pit.metrics() read by a Prometheus text parser.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkNoLeaks, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const venvPython = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '.venv', 'bin', 'python');
// The official client's parser (prometheus-client, a dev dependency of the Python side).
const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.setdefault(s.name, []).append({"labels": s.labels, "value": s.value})
print(json.dumps(samples))
`;

type Samples = Record<string, { labels: Record<string, string>; value: number }[]>;

async function scrape(pit: { metrics(): Promise<string> }): Promise<Samples> {
  const text = await pit.metrics();
  return JSON.parse(execFileSync(venvPython, ['-c', PARSE], { input: text, encoding: 'utf8' }));
}

/** The value of the one sample of `name` carrying these labels (NaN if none). */
const value = (samples: Samples, name: string, labels: Record<string, string>) =>
  samples[name]?.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? NaN;

test('stats: wait and run percentiles per pool and per tool; p99 moves when calls are slow; reset starts afresh', async () => {
  const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, prefetch: 0, adapter: 'sample_adapters.Calc' }] });
  for (let i = 0; i < 50; i++) await pit.execute('sleep', { seconds: 0 }, { pool: 'p' });
  const fast = pit.stats('p');
  assert.equal(fast.runMs.count, 50);
  assert.ok(fast.runMs.p99 < 100, `fast p99 ${fast.runMs.p99} ms`);
  assert.equal(fast.tools.sleep.completed, 50);
  for (const key of ['p50', 'p90', 'p99', 'max', 'count', 'mean'] as const) assert.equal(typeof fast.waitMs[key], 'number');

  // Two slow calls at once on one worker: the second waits for the first.
  await Promise.all([pit.execute('sleep', { seconds: 0.4 }, { pool: 'p' }), pit.execute('sleep', { seconds: 0.4 }, { pool: 'p' })]);
  await pit.execute('fail', { message: 'x' }, { pool: 'p' }).catch(() => undefined);
  const slow = pit.stats('p', { reset: true });
  assert.ok(slow.runMs.p99 >= 390, `p99 ${slow.runMs.p99} ms after 400 ms calls`);
  assert.ok(slow.waitMs.max >= 350, `the second slow call waited ${slow.waitMs.max} ms`);
  assert.equal(slow.tools.fail.failures, 1);
  assert.ok(slow.tools.sleep.runMs.max >= 390 && slow.tools.pid === undefined);
  const afresh = pit.stats('p');
  assert.equal(afresh.runMs.count, 0);
  assert.deepEqual(afresh.tools, {});
  assert.ok(afresh.completed >= 52, 'the totals keep counting');
});

test('metrics(): Prometheus text with calls, durations, queue, workers, restarts, recycles and memory', async () => {
  const pit = await startPit({ pools: [{ name: 'm', poolSize: 2, prefetch: 0, adapter: 'sample_adapters.Calc' }] });
  const before = await scrape(pit);
  assert.equal(value(before, 'snakepit_workers', { pool: 'm', state: 'ready' }), 2);
  assert.equal(value(before, 'snakepit_queue_depth', { pool: 'm' }), 0);

  for (let i = 0; i < 20; i++) await pit.execute('sleep', { seconds: 0 }, { pool: 'm' });
  await pit.execute('fail', { message: 'x' }, { pool: 'm' }).catch(() => undefined);
  const fast = await scrape(pit);
  assert.equal(value(fast, 'snakepit_calls_total', { pool: 'm', tool: 'sleep', outcome: 'ok' }), 20);
  assert.equal(value(fast, 'snakepit_calls_total', { pool: 'm', tool: 'fail', outcome: 'PYTHON_ERROR' }), 1);
  const sleep = { pool: 'm', tool: 'sleep' };
  assert.equal(value(fast, 'snakepit_call_duration_seconds_count', sleep), 20);
  assert.equal(value(fast, 'snakepit_call_duration_seconds_bucket', { ...sleep, le: '0.25' }), 20, 'every fast call under 250 ms');

  const slow = [0, 1, 2].map(() => pit.execute('sleep', { seconds: 0.4 }, { pool: 'm' }));
  await waitFor(() => pit.stats('m').queued === 1, 5000, 'one slow call to wait');
  const during = await scrape(pit);
  assert.equal(value(during, 'snakepit_queue_depth', { pool: 'm' }), 1, 'three slow calls on two workers: one waits');
  assert.equal(value(during, 'snakepit_workers', { pool: 'm', state: 'busy' }) + value(during, 'snakepit_workers', { pool: 'm', state: 'ready' }), 2);
  await Promise.all(slow);
  const after = await scrape(pit);
  assert.equal(value(after, 'snakepit_call_duration_seconds_count', sleep), 23);
  assert.equal(value(after, 'snakepit_call_duration_seconds_bucket', { ...sleep, le: '0.25' }), 20, 'the slow calls moved past 250 ms: the 99th percentile moved');
  assert.equal(value(after, 'snakepit_queue_wait_seconds_count', sleep), 23);
  assert.ok(value(after, 'snakepit_queue_wait_seconds_bucket', { ...sleep, le: '0.25' }) <= 22, 'one slow call waited for a worker');
  for (const w of pit.inspect().pools[0].workers) assert.ok(value(after, 'snakepit_worker_rss_bytes', { pool: 'm', worker: w.id }) > 5e6);

  const victim = pit.inspect().pools[0].workers[0];
  process.kill(victim.pid!, 'SIGKILL');
  await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.state === 'ready' && w.pid !== victim.pid), 20_000, 'the restart');
  await pit.recycleWorker(pit.inspect().pools[0].workers[1].id);
  const end = await scrape(pit);
  assert.equal(value(end, 'snakepit_restarts_total', { pool: 'm' }), 1);
  assert.equal(value(end, 'snakepit_recycles_total', { pool: 'm', reason: 'manual' }), 1);
});
