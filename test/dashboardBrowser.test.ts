// The dashboard in a real headless browser (Debian's Chromium via playwright-core; installed by
// scripts/setup-browser.mjs): after a call and a kill -9, the page shows the worker go
// busy → ready and crashed → ready, and a screenshot is saved (test/output/dashboard.png); a page
// opened after a kill -9 shows the crash in its event history and the worker machine with each
// worker's state lit (a screenshot in a temporary directory). The page shows the pool's state,
// the same on either transport, so the pools name one.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serveDashboard } from '../src/dashboard/index.js';
import { checkNoLeaks, sleep, startMarker, startPit, waitFor } from './helpers.js';

checkNoLeaks();

const CHROMIUM = process.env.SNAKEPIT_CHROMIUM || '/usr/bin/chromium';
const output = path.join(path.dirname(fileURLToPath(import.meta.url)), 'output');

test('the page shows a worker go busy → ready and crashed → ready, live', async () => {
  const pit = await startPit({ pools: [{ name: 'web', poolSize: 2, prefetch: 0, adapter: 'sample_adapters.Calc', transport: 'local' }] });
  const dashboard = await serveDashboard(pit);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    await page.goto(dashboard.url);
    const worker = pit.inspect().pools[0].workers[0];
    const card = page.locator(`[data-worker="${worker.id}"]`);
    await card.waitFor({ timeout: 10_000 });
    assert.equal(await card.getAttribute('data-state'), 'ready');

    await pit.execute('sleep', { seconds: 0.5 }, { pool: 'web' });
    await waitFor(() => pit.inspect().pools[0].workers[0].state === 'ready', 5000, 'the worker to be ready again');
    await page.waitForFunction((id) => /busy ready$/.test(document.querySelector(`[data-worker="${id}"]`)?.getAttribute('data-history') ?? ''), worker.id, { timeout: 10_000 });

    process.kill(worker.pid!, 'SIGKILL');
    await page.waitForFunction(
      (id) => /crashed( starting)? ready$/.test(document.querySelector(`[data-worker="${id}"]`)?.getAttribute('data-history') ?? ''),
      worker.id,
      { timeout: 20_000 },
    );
    const history = (await card.getAttribute('data-history'))!;
    assert.match(history, /busy ready.*crashed.*ready$/, history);
    assert.match((await page.locator('#events').textContent())!, /worker:crashed/);
    assert.match((await page.locator('#health').textContent())!, /^ready/);
    mkdirSync(output, { recursive: true });
    await page.screenshot({ path: path.join(output, 'dashboard.png'), fullPage: true });
  } finally {
    await browser.close();
    await dashboard.close();
  }
});

test('with a token, the page opened at ?token= keeps it in a cookie and stays live', async () => {
  const pit = await startPit({ pools: [{ name: 'web', poolSize: 1, prefetch: 0, adapter: 'sample_adapters.Calc', transport: 'local' }] });
  const token = 'browser-token-3c1d';
  const dashboard = await serveDashboard(pit, { token });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    const refused = await page.goto(dashboard.url);
    assert.equal(refused?.status(), 401, 'without the token');
    await page.goto(`${dashboard.url}?token=${token}`);
    assert.equal(page.url(), dashboard.url, 'the token left the address bar');
    const worker = pit.inspect().pools[0].workers[0];
    await page.locator(`[data-worker="${worker.id}"]`).waitFor({ timeout: 10_000 });
    await pit.execute('sleep', { seconds: 0.5 }, { pool: 'web' });
    await page.waitForFunction((id) => /busy ready$/.test(document.querySelector(`[data-worker="${id}"]`)?.getAttribute('data-history') ?? ''), worker.id, { timeout: 10_000 });
    assert.match((await page.locator('#health').textContent())!, /^ready/);
  } finally {
    await browser.close();
    await dashboard.close();
  }
});

/** The worker machine's leaf states as the page draws them: name, the workers it names, lit or not. */
const drawnStates = () =>
  [...document.querySelectorAll('.statechart .node')].map((g) => ({
    state: g.getAttribute('data-state')!,
    workers: g.getAttribute('data-workers') ?? '',
    lit: g.classList.contains('lit'),
  }));

test('a page opened after a kill -9 shows the crash in its history and the worker machine with each worker\'s state lit', async () => {
  const pit = await startPit({ pools: [{ name: 'web', poolSize: 2, prefetch: 0, adapter: 'sample_adapters.Calc', transport: 'local' }] });
  const dashboard = await serveDashboard(pit);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const marker = startMarker();
  let call: Promise<unknown> | undefined;
  try {
    const before = await browser.newPage();
    await before.goto(dashboard.url);
    const victim = pit.inspect().pools[0].workers[0];
    await before.locator(`[data-worker="${victim.id}"]`).waitFor({ timeout: 10_000 });
    process.kill(victim.pid!, 'SIGKILL');
    await waitFor(() => pit.inspect().pools[0].workers.every((w) => w.state === 'ready') && pit.inspect().pools[0].workers[0].pid !== victim.pid, 30_000, 'the restart');
    await before.close();
    // One worker busy, the other ready: two states lit.
    call = pit.execute('sleep', { seconds: 4, started: marker.file }, { pool: 'web' });
    await marker.started();
    await waitFor(() => pit.inspect().pools[0].workers.some((w) => w.state === 'busy'), 5000, 'a busy worker');

    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const failed: string[] = [];
    page.on('response', (res) => res.status() >= 400 && failed.push(`${res.status()} ${res.url()}`));
    await page.goto(dashboard.url);
    await page.locator('.statechart .node').first().waitFor({ timeout: 10_000 });

    // The crash, from before the page was opened, in its event history.
    await page.waitForFunction(() => /worker:crashed/.test(document.getElementById('events')?.textContent ?? ''), undefined, { timeout: 10_000 });
    const events = (await page.locator('#events').textContent())!;
    assert.match(events, new RegExp(`worker:crashed\\s+web ${victim.id} exited SIGKILL`), events);
    assert.match(events, new RegExp(`supervisor:restart\\s+web ${victim.id}`), events);
    assert.match((await page.locator(`[data-worker="${victim.id}"]`).getAttribute('data-history'))!, /crashed( starting)? ready/);

    // The machine drawn from its JSON: every state, the transitions' events, and each worker lit where inspect() puts it.
    const drawn = await page.evaluate(drawnStates);
    assert.deepEqual(drawn.map((s) => s.state).sort(), ['busy', 'crashed', 'draining', 'ready', 'recycling', 'starting', 'stopped']);
    const chart = (await page.locator('.statechart').textContent())!;
    for (const label of ['alive', 'LOAD', 'DRAINED', 'EXITED', 'RESTART', 'boot done']) assert.ok(chart.includes(label), `${label} in the drawing`);
    let shown: typeof drawn = [];
    let expected: typeof drawn = [];
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
      const workers = pit.inspect().pools[0].workers;
      expected = drawn.map(({ state }) => {
        const ids = workers.filter((w) => w.state === state).map((w) => w.id);
        return { state, workers: ids.join(' '), lit: ids.length > 0 };
      });
      shown = await page.evaluate(drawnStates);
      if (JSON.stringify(shown) === JSON.stringify(expected)) break;
    }
    assert.deepEqual(shown, expected, 'the lit states are the workers\' states');
    assert.deepEqual(shown.filter((s) => s.lit).map((s) => s.state).sort(), ['busy', 'ready']);
    const busy = pit.inspect().pools[0].workers.find((w) => w.state === 'busy')!;
    assert.match((await page.locator(`[data-worker="${busy.id}"] .load`).textContent())!, /running 1\/1/);
    assert.match((await page.locator(`[data-worker="${busy.id}"] .state`).textContent())!, /^busy$/);

    const shot = path.join(mkdtempSync(path.join(os.tmpdir(), 'snakepit-dashboard-')), 'after-kill.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10_000, 'a screenshot with something in it');
    console.log(`# screenshot: ${shot}`);
    assert.deepEqual(failed, [], 'every request the page made was answered');
    assert.equal((await page.request.get(`${dashboard.url}favicon.ico`)).status(), 200);
  } finally {
    await call?.catch(() => undefined);
    await browser.close();
    await dashboard.close();
  }
});
