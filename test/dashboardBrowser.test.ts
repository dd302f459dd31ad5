// The dashboard in a real headless browser (Debian's Chromium via playwright-core; installed by
// scripts/setup-browser.mjs): after a call and a kill -9, the page shows the worker go
// busy → ready and crashed → ready, and a screenshot is saved (test/output/dashboard.png). The page
// shows the pool's state, the same on either transport, so the pools name one.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serveDashboard } from '../src/dashboard/index.js';
import { checkNoLeaks, startPit, waitFor } from './helpers.js';

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
