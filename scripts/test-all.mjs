#!/usr/bin/env node
// `npm test` after its set-up steps: the type check, the interpreter matrix
// (scripts/test-pythons.mjs), the grpcio/protobuf range (scripts/test-python-range.mjs) and
// every Node test file of every pass (scripts/test-node.mjs), as jobs side by side
// (scripts/jobs.mjs) with at most `--jobs N` at once (default SNAKEPIT_TEST_JOBS, else 4): each
// interpreter and each end of the range is a job, after its environment. Each failure shows its
// job's whole output; the end lists what failed.
//
//   node scripts/test-all.mjs [--jobs N]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runJobs } from './jobs.mjs';
import { nodeJobs, summarize, takeJobsOption } from './test-node.mjs';
import { RANGE_ENDS } from './test-python-range.mjs';
import { TARGET_NAMES } from './test-pythons.mjs';

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const log = (msg) => console.log(`[test] ${msg}`);
if (!process.env.SNAKEPIT_TEST_JOBS && !process.argv.includes('--jobs')) process.env.SNAKEPIT_TEST_JOBS = '4';
const { slots, rest } = takeJobsOption(process.argv.slice(2));
if (rest.length) {
  console.error(`[test] ERROR: unknown arguments ${rest.join(' ')}; usage: test-all.mjs [--jobs N]`);
  process.exit(1);
}

const script = (label, file, args, extra) => ({ label, cmd: process.execPath, args: [join('scripts', file), ...args], quiet: false, ...extra });
const tsc = { label: 'tsc', cmd: process.execPath, args: [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.check.json'] };
// The main .venv's interpreter runs the whole pytest suite and is the longest job: it goes first,
// needing no environment of its own. The others' environments are built one after another (pip
// and apt are no place for two at once), each interpreter's tests starting as soon as its own is.
const mainMinor = /^version(?:_info)?\s*=\s*(\d+\.\d+)/m.exec(readFileSync(join(repo, '.venv', 'pyvenv.cfg'), 'utf8'))?.[1];
// Longest first: the main .venv, then 3.13t (built without PGO, and free-threaded).
const cost = (name) => (name === mainMinor ? 0 : name.endsWith('t') ? 1 : 2);
const envs = [];
const envFor = (label, file, args) => {
  const job = script(label, file, ['--prepare', ...args], { after: envs.length ? [envs.at(-1).label] : [] });
  envs.push(job);
  return job.label;
};
const python = [
  ...[...TARGET_NAMES].sort((a, b) => cost(a) - cost(b)).map((name) => script(`pythons ${name}`, 'test-pythons.mjs', ['--only', name], {
    after: name === mainMinor ? [] : [envFor(`environment ${name}`, 'test-pythons.mjs', ['--only', name])],
  })),
  ...RANGE_ENDS.map((end) => script(`python-range ${end}`, 'test-python-range.mjs', ['--only', end, '--unless-main'], {
    after: [envFor(`environment ${end}`, 'test-python-range.mjs', ['--only', end])],
  })),
];
const files = nodeJobs();
// The type check, the main interpreter and the first environment first, then the other Python
// jobs as their environments are ready; the Node files fill the slots around them, longest first.
const jobs = [tsc, ...python.slice(0, 1), ...envs, ...python.slice(1), ...files];

log(`${jobs.length} jobs: tsc, ${envs.length} Python environments, ${python.length} Python runs, ${files.length} Node file runs; ${slots} at a time`);
const started = Date.now();
const results = await runJobs(jobs, { slots, cwd: repo, log, logDir: join(repo, 'test', 'output', 'jobs') });
summarize(files, results.slice(jobs.length - files.length), log);
const failed = results.filter((r) => !r.ok).map((r) => r.label);
log(`${failed.length === 0 ? 'passed' : `FAILED (${failed.join(', ')})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed.length === 0 ? 0 : 1);
