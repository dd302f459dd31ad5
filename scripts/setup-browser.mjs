#!/usr/bin/env node
// Makes sure a headless Chromium is there for the dashboard's browser test (Debian's `chromium`
// package, driven by playwright-core). As root it is installed with apt-get when missing;
// otherwise this says what to install. Usage: node scripts/setup-browser.mjs
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.SNAKEPIT_CHROMIUM || '/usr/bin/chromium';
const log = (msg) => console.log(`[setup-browser] ${msg}`);

if (existsSync(CHROMIUM)) {
  log(`Chromium is installed (${CHROMIUM})`);
  process.exit(0);
}
if (process.getuid?.() !== 0) {
  console.error(`[setup-browser] ERROR: no Chromium at ${CHROMIUM}; install it (sudo apt-get install chromium) or set SNAKEPIT_CHROMIUM`);
  process.exit(1);
}
const t0 = Date.now();
for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', 'chromium']]) {
  log(`apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) {
    console.error(`[setup-browser] ERROR: apt-get ${args[0]} failed (${r.error?.message ?? `exit ${r.status}`})`);
    process.exit(1);
  }
}
log(`Chromium installed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
