#!/usr/bin/env node
// Runs the Node test files (test/*.test.ts) in tiers; every file is in exactly one of them:
//
//   unit       no Python process: the machines, the models on a simulated clock, the codecs. Run
//              with SNAKEPIT_PYTHON pointing nowhere, so a file that starts one fails here.
//   once       real Python processes, but the file does not leave the transport to the suite:
//              each pool it starts names one (or is remote), or it runs its own programs. Run once
//              with SNAKEPIT_TEST_TRANSPORT=none, under which test/helpers.ts refuses a pool that
//              names no transport.
//   transport  run twice, with SNAKEPIT_TEST_TRANSPORT=grpc and =local: the pools the suite's
//              helpers start take that transport.
//
// A file in no tier, or a tier naming a file that is not there, fails the run before any test.
//
//   node scripts/test-node.mjs [unit] [once] [transport | grpc | local]   (none: all three tiers;
//                                                     grpc or local: one pass of the transport tier)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));

const TIERS = {
  unit: [
    'layout', 'machines', 'pool.machine', 'poolLifecycle.model', 'poolRestarts.model', 'remotePool.model', 'restartPolicy',
    'supervisor.model', 'sessionCodec', 'wireFuzz', 'worker.machine',
    // The dispatcher, its queue, balancing, affinity and recycler with fake workers (test/dispatchHarness.ts).
    'affinity', 'balancing', 'dispatcher', 'fifo', 'recycler',
  ],
  once: [
    // Their own programs, which leave the transport to the product's default.
    'cli', 'consumer', 'deploy', 'examples', 'readme', 'inspector',
    // Each pool names its transport: where both matter the file starts both.
    'descendants', 'processOutput', 'registry', 'remote', 'dashboardBrowser', 'validation',
    'freeThreaded', 'idlePoll', 'localLane',
  ],
  transport: [
    'arrays', 'badArguments', 'badFrames', 'callChains', 'callContext', 'chaos', 'dashboard', 'execute', 'fairness',
    'faults', 'heartbeat', 'hostSafety', 'inspection', 'largePayload', 'manyInstances', 'messageBudgets', 'metrics',
    'pools', 'prefetch', 'production', 'protocolVersion', 'recycling', 'restartStrategies', 'sessions', 'shutdown',
    'startup', 'streamFlow', 'supervision', 'threadProfile', 'toolExits', 'tracing', 'workerToken',
  ],
};

// What each argument runs: a tier's files, with the environment of each of its passes.
const PASSES = {
  unit: [{ tier: 'unit', env: { SNAKEPIT_TEST_TRANSPORT: 'none', SNAKEPIT_PYTHON: join(repo, 'no-python-in-the-unit-tier') } }],
  once: [{ tier: 'once', env: { SNAKEPIT_TEST_TRANSPORT: 'none' } }],
  grpc: [{ tier: 'transport', env: { SNAKEPIT_TEST_TRANSPORT: 'grpc' } }],
  local: [{ tier: 'transport', env: { SNAKEPIT_TEST_TRANSPORT: 'local' } }],
};
PASSES.transport = [...PASSES.grpc, ...PASSES.local];

function fail(msg) {
  console.error(`[test-node] ERROR: ${msg}`);
  process.exit(1);
}

/** Every test file in exactly one tier, every tier's file on disk. */
function checkTiers() {
  const onDisk = readdirSync(join(repo, 'test')).filter((f) => f.endsWith('.test.ts')).map((f) => f.slice(0, -'.test.ts'.length));
  const listed = Object.values(TIERS).flat();
  const twice = listed.filter((name, i) => listed.indexOf(name) !== i);
  const missing = listed.filter((name) => !onDisk.includes(name));
  const unlisted = onDisk.filter((name) => !listed.includes(name));
  if (twice.length) fail(`in more than one tier: ${twice.join(', ')}`);
  if (missing.length) fail(`tiers name files that are not in test/: ${missing.join(', ')}`);
  if (unlisted.length) fail(`test files in no tier (add them to TIERS in scripts/test-node.mjs): ${unlisted.join(', ')}`);
}

const wanted = process.argv.slice(2);
for (const arg of wanted) if (!(arg in PASSES)) fail(`unknown argument ${arg}; usage: test-node.mjs [unit] [once] [transport | grpc | local]`);
checkTiers();

const failed = [];
for (const { tier, env } of (wanted.length ? wanted : ['unit', 'once', 'transport']).flatMap((arg) => PASSES[arg])) {
  const label = tier === 'transport' ? `transport ${env.SNAKEPIT_TEST_TRANSPORT}` : tier;
  const files = TIERS[tier].map((name) => join('test', `${name}.test.ts`));
  console.log(`[test-node] ${label}: ${files.length} files`);
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=300000', ...files], {
    cwd: repo,
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  const ok = !r.error && r.status === 0;
  console.log(`[test-node] ${label}: ${ok ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (!ok) failed.push(label);
}
if (failed.length) fail(`failed: ${failed.join(', ')}`);
