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
  // Below the 390 ms the slow calls must reach, with room for a stall on a busy machine.
  assert.ok(fast.runMs.p99 < 390, `fast p99 ${fast.runMs.p99} ms`);
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

/** Every calls_total sample of `pool`, summed by ok and failed. */
function callTotals(samples: Samples, pool: string): { ok: number; failed: number } {
  const calls = (samples.snakepit_calls_total ?? []).filter((s) => s.labels.pool === pool);
  const sum = (list: typeof calls) => list.reduce((total, s) => total + s.value, 0);
  return { ok: sum(calls.filter((s) => s.labels.outcome === 'ok')), failed: sum(calls.filter((s) => s.labels.outcome !== 'ok')) };
}

test('counters count from the start: 101 calls before the first scrape are in snakepit_calls_total, and metrics agree with stats() after', async () => {
  const pit = await startPit({ pools: [{ name: 'early', poolSize: 2, adapter: 'sample_adapters.Calc' }] });
  for (let i = 0; i < 90; i++) await pit.execute('add', { a: i, b: 1 }, { pool: 'early' });
  for (let i = 0; i < 11; i++) await pit.execute('fail', { message: 'x' }, { pool: 'early' }).catch(() => undefined);
  const victim = pit.inspect().pools[0].workers[0];
  process.kill(victim.pid!, 'SIGKILL');
  await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.state === 'ready' && w.pid !== victim.pid), 20_000, 'the restart');

  const first = await scrape(pit);
  const stats = pit.stats('early');
  assert.deepEqual(callTotals(first, 'early'), { ok: 90, failed: 11 }, 'every call before the first scrape counts');
  assert.deepEqual(callTotals(first, 'early'), { ok: stats.completed, failed: stats.failures });
  assert.equal(value(first, 'snakepit_call_duration_seconds_count', { pool: 'early', tool: 'add' }), 90);
  assert.equal(value(first, 'snakepit_queue_wait_seconds_count', { pool: 'early', tool: 'add' }), 90);
  assert.equal(value(first, 'snakepit_restarts_total', { pool: 'early' }), 1, 'a restart before the first scrape counts');

  // Afterwards, whenever both are read (a reset of stats() starts its distributions afresh, not its totals).
  pit.stats('early', { reset: true });
  await Promise.all([
    ...Array.from({ length: 30 }, (_, i) => pit.execute('add', { a: i, b: 2 }, { pool: 'early' })),
    ...Array.from({ length: 7 }, () => pit.execute('fail', { message: 'y' }, { pool: 'early' }).catch(() => undefined)),
  ]);
  const later = await scrape(pit);
  const after = pit.stats('early');
  assert.deepEqual(callTotals(later, 'early'), { ok: after.completed, failed: after.failures });
  assert.deepEqual(callTotals(later, 'early'), { ok: 120, failed: 18 });
  assert.equal(after.tools.add.completed, 30, 'per-tool stats since the reset');
});

test('calls to thousands of distinct unknown tool names share one label: stats().tools and /metrics stay small', async () => {
  const { MAX_TOOL_LABELS } = await import('../src/observe/toolLabels.js');
  const pit = await startPit({ pools: [{ name: 'names', poolSize: 2, adapter: 'sample_adapters.Calc' }] });
  const unknown = 3000;
  for (let batch = 0; batch < unknown; batch += 200) {
    const calls = Array.from({ length: 200 }, (_, i) => pit.execute(`no_such_tool_${batch + i}`, {}, { pool: 'names' }).catch((e) => e.code));
    assert.deepEqual(new Set(await Promise.all(calls)), new Set(['TOOL_NOT_FOUND']));
  }
  // Distinct names refused before they reach a worker (an aborted signal) fill the cap; the rest share `(other)`.
  const extra = 50;
  for (let i = 0; i < MAX_TOOL_LABELS + extra; i++) {
    await pit.execute(`refused_${i}`, {}, { pool: 'names', signal: AbortSignal.abort() }).catch(() => undefined);
  }
  await pit.execute('add', { a: 1, b: 2 }, { pool: 'names' }); // a real tool past the cap shares it too

  const stats = pit.stats('names');
  assert.equal(stats.tools['(unknown)'].failures, unknown);
  assert.equal(stats.tools['(other)'].failures, extra);
  assert.equal(stats.tools['(other)'].completed, 1);
  assert.equal(Object.keys(stats.tools).length, MAX_TOOL_LABELS + 2, 'at most the cap, (unknown) and (other)');

  const text = await pit.metrics();
  const lines = text.split('\n').length;
  assert.ok(lines < 12_000, `${lines} lines in /metrics`);
  const samples = await scrape(pit);
  assert.equal(value(samples, 'snakepit_calls_total', { pool: 'names', tool: '(unknown)', outcome: 'TOOL_NOT_FOUND' }), unknown);
  assert.equal(value(samples, 'snakepit_calls_total', { pool: 'names', tool: '(other)', outcome: 'ABORTED' }), extra);
  assert.equal(value(samples, 'snakepit_calls_total', { pool: 'names', tool: '(other)', outcome: 'ok' }), 1);
  assert.deepEqual(callTotals(samples, 'names'), { ok: stats.completed, failed: stats.failures });
});
