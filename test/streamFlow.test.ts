// Stream back-pressure: a generator runs at most `highWaterMark` chunks ahead of its consumer
// (credits across the wire), so a paused consumer holds Python still and memory stays bounded;
// streams honour timeoutMs and signal — on both profiles, with real workers.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { checkNoLeaks, errorOf, sleep, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const dir = mkdtempSync(path.join(tmpdir(), 'snakepit-stream-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const producedIn = (file: string) => Number(readFileSync(file, 'utf8') || 0);

const PROFILES = [
  { profile: 'process', pool: { adapter: 'context_adapters.Contextual' } },
  { profile: 'thread', pool: { adapter: 'context_adapters.ThreadedContextual', workerProfile: 'thread' as const, threadsPerWorker: 2 } },
];

for (const { profile, pool } of PROFILES) {
  describe(`${profile} profile`, () => {
    test('a consumer that reads 10 of 1,000,000 chunks and pauses 1.5 s holds the generator at the window', async (t) => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, ...pool }] });
      const file = path.join(dir, `pause-${profile}`);
      const taken: unknown[] = [];
      let produced = 0;
      const rssBefore = process.memoryUsage().rss;
      for await (const chunk of pit.stream('counter', { n: 1_000_000, progress_file: file })) {
        taken.push(chunk);
        if (taken.length === 10) {
          await sleep(1500);
          produced = producedIn(file);
          break;
        }
      }
      assert.deepEqual(taken, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.ok(produced >= 10 && produced <= 64 + 10, `Python produced ${produced} chunks while the consumer paused after 10 (window 64)`);
      t.diagnostic(`${profile}: Python had produced ${produced} chunks when the consumer had taken 10 and paused 1.5 s`);
      assert.ok(process.memoryUsage().rss - rssBefore < 64 * 1024 * 1024, 'Node buffered nothing unbounded');
      await waitFor(() => pit.stats('p').inFlight === 0, 5000, 'breaking out to cancel the stream and free its place');
    });

    test('a slow consumer gets every chunk in order, with the generator never more than highWaterMark ahead', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, ...pool }] });
      const file = path.join(dir, `slow-${profile}`);
      const taken: number[] = [];
      let furthestAhead = 0;
      for await (const chunk of pit.stream('counter', { n: 60, progress_file: file }, { highWaterMark: 4 })) {
        taken.push(chunk as number);
        await sleep(5);
        furthestAhead = Math.max(furthestAhead, producedIn(file) - taken.length);
      }
      assert.deepEqual(taken, Array.from({ length: 60 }, (_, i) => i));
      assert.ok(furthestAhead <= 4, `the generator ran ${furthestAhead} chunks ahead (window 4)`);
      assert.ok(furthestAhead >= 1, 'the generator did run ahead within its window');
      const bad = await errorOf((async () => {
        for await (const _ of pit.stream('counter', { n: 1, progress_file: path.join(dir, 'unused') }, { highWaterMark: 0 })) break;
      })());
      assert.equal(bad.code, 'INVALID_ARGUMENT');
      assert.match(bad.message, /highWaterMark/);
    });

    test('streams honour timeoutMs and signal', async () => {
      const pit = await startPit({ pools: [{ name: 'p', poolSize: 1, ...pool }] });
      const endless = { n: 10 ** 12, progress_file: path.join(dir, `endless-${profile}`) };
      let seen = 0;
      const timedOut = await errorOf((async () => {
        for await (const _ of pit.stream('counter', endless, { timeoutMs: 300 })) seen++;
      })());
      assert.equal(timedOut.code, 'TIMEOUT');
      assert.ok(seen > 0);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const aborted = await errorOf((async () => {
        for await (const _ of pit.stream('counter', endless, { signal: controller.signal })) await sleep(1);
      })());
      assert.equal(aborted.code, 'ABORTED');
      assert.equal(typeof (await pit.execute('pid', {}, { timeoutMs: 5000 })), 'number', 'the worker serves on');
    });
  });
}
