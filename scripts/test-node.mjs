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
//   node scripts/test-node.mjs [--jobs N] [unit] [once] [transport | grpc | local]
//     (none: all three tiers; grpc or local: one pass of the transport tier). Each file of each
//     pass runs alone in its own `node --test`, N at a time (default SNAKEPIT_TEST_JOBS, else 3),
//     the longest first (scripts/jobs.mjs).
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeTestCounts, runJobs } from './jobs.mjs';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));

const TIERS = {
  unit: [
    'layout', 'machines', 'forkServer.machine', 'pool.machine', 'poolLifecycle.model', 'poolRestarts.model', 'remotePool.model', 'restartPolicy',
    'supervisor.model', 'sessionCodec', 'valueCodec', 'wireFuzz', 'worker.machine',
    // The dispatcher, its queue, balancing, affinity and recycler with fake workers (test/dispatchHarness.ts).
    'affinity', 'balancing', 'dispatcher', 'fifo', 'recycler', 'workerPinning',
  ],
  once: [
    // Their own programs, which leave the transport to the product's default.
    'cli', 'consumer', 'deploy', 'examples', 'readme', 'inspector',
    // Each pool names its transport: where both matter the file starts both.
    'descendants', 'processOutput', 'registry', 'remote', 'dashboardBrowser', 'validation',
    'freeThreaded', 'idlePoll', 'localLane', 'pythonWarnings',
    // `snakepit types` and tsc runs of their own; its one pool names its transport.
    'toolTypes',
  ],
  transport: [
    'arrays', 'badArguments', 'badFrames', 'callChains', 'callContext', 'chaos', 'dashboard', 'execute', 'fairness',
    'faults', 'heartbeat', 'hostSafety', 'inspection', 'largePayload', 'manyInstances', 'messageBudgets', 'metrics',
    'pools', 'prefetch', 'preload', 'production', 'protocolVersion', 'reachWorkers', 'recycling', 'restartStrategies', 'sessions',
    'shutdown', 'startup', 'streamFlow', 'supervision', 'threadProfile', 'toolExits', 'tracing', 'workerToken',
  ],
};

// What each argument runs: a tier's files, with the environment of each of its passes.
const PASSES = {
  unit: [{ tier: 'unit', label: 'unit', env: { SNAKEPIT_TEST_TRANSPORT: 'none', SNAKEPIT_PYTHON: join(repo, 'no-python-in-the-unit-tier') } }],
  once: [{ tier: 'once', label: 'once', env: { SNAKEPIT_TEST_TRANSPORT: 'none' } }],
  grpc: [{ tier: 'transport', label: 'grpc', env: { SNAKEPIT_TEST_TRANSPORT: 'grpc' } }],
  local: [{ tier: 'transport', label: 'local', env: { SNAKEPIT_TEST_TRANSPORT: 'local' } }],
};
PASSES.transport = [...PASSES.grpc, ...PASSES.local];

// Seconds a file took here (2 cores, alone); the longest start first, so the run does not end
// waiting on one of them. A file not named counts as 3 s. Only the order depends on these.
const SECONDS = {
  freeThreaded: 50, consumer: 50, chaos: 30, heartbeat: 25, recycling: 20, remote: 18, prefetch: 15, sessions: 14,
  faults: 13, reachWorkers: 14, restartStrategies: 12, dashboard: 10, threadProfile: 10, fairness: 9, examples: 9, readme: 9, toolTypes: 9, supervision: 8,
};

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

/**
 * One job per file and pass (scripts/jobs.mjs): the file alone in its own `node --test`, with
 * its pass's environment and each test's 5-minute limit; the longest first.
 */
export function nodeJobs(args = []) {
  for (const arg of args) if (!(arg in PASSES)) fail(`unknown argument ${arg}; usage: test-node.mjs [--jobs N] [unit] [once] [transport | grpc | local]`);
  checkTiers();
  const passes = (args.length ? args : ['unit', 'once', 'transport']).flatMap((arg) => PASSES[arg]);
  const jobs = passes.flatMap(({ tier, label, env }) => TIERS[tier].map((name) => ({
    label: `${label} ${name}`,
    pass: label,
    cmd: process.execPath,
    args: ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=300000', '--test-reporter=spec', join('test', `${name}.test.ts`)],
    env,
    estimate: SECONDS[name] ?? 3,
  })));
  return jobs.sort((a, b) => b.estimate - a.estimate);
}

/** Per pass: files, tests and failures; then the slowest files. */
export function summarize(jobs, results, log = console.log) {
  const byPass = new Map();
  jobs.forEach((job, i) => {
    const r = results[i];
    const pass = byPass.get(job.pass) ?? { files: 0, tests: 0, passed: 0, failed: [], seconds: 0 };
    const counts = nodeTestCounts(r.output);
    pass.files++;
    pass.tests += counts.tests;
    pass.passed += counts.passed;
    pass.seconds += r.ms / 1000;
    if (!r.ok) pass.failed.push(job.label);
    byPass.set(job.pass, pass);
  });
  for (const [label, p] of byPass) {
    log(`${label}: ${p.files} files, ${p.passed} of ${p.tests} tests passed, ${p.seconds.toFixed(0)} s of file time${p.failed.length ? `; FAILED: ${p.failed.join(', ')}` : ''}`);
  }
  const slowest = jobs.map((job, i) => [job.label, results[i].ms / 1000]).sort((a, b) => b[1] - a[1]).slice(0, 10);
  log(`slowest: ${slowest.map(([label, s]) => `${label} ${s.toFixed(1)} s`).join(', ')}`);
  return [...byPass.values()].every((p) => p.failed.length === 0);
}

/** `--jobs N` (default SNAKEPIT_TEST_JOBS, else 3) and what is left. */
export function takeJobsOption(argv) {
  const rest = [...argv];
  const at = rest.indexOf('--jobs');
  let slots = Number(process.env.SNAKEPIT_TEST_JOBS || 3);
  if (at >= 0) {
    slots = Number(rest[at + 1]);
    rest.splice(at, 2);
  }
  if (!Number.isInteger(slots) || slots < 1) fail('--jobs (or SNAKEPIT_TEST_JOBS) must be a whole number of at least 1');
  return { slots, rest };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { slots, rest } = takeJobsOption(process.argv.slice(2));
  const jobs = nodeJobs(rest);
  const log = (msg) => console.log(`[test-node] ${msg}`);
  log(`${jobs.length} file runs, ${slots} at a time`);
  const started = Date.now();
  const results = await runJobs(jobs, { slots, cwd: repo, log, logDir: join(repo, 'test', 'output', 'jobs') });
  const ok = summarize(jobs, results, log);
  log(`${ok ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(ok ? 0 : 1);
}
