#!/usr/bin/env node
// `npm test` after its set-up steps: the type check, the interpreter matrix
// (scripts/test-pythons.mjs), the grpcio/protobuf range (scripts/test-python-range.mjs) and
// every Node test file of every pass (scripts/test-node.mjs), as jobs side by side
// (scripts/jobs.mjs) with at most `--jobs N` at once (default SNAKEPIT_TEST_JOBS, else 4). The
// Python environments are built first, one at a time (pip and apt are no place for two at
// once); then each interpreter and each end of the range is a job. Each failure shows its job's
// whole output; the end lists what failed.
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
const envs = [
  script('pythons environments', 'test-pythons.mjs', ['--prepare']),
  script('python-range environments', 'test-python-range.mjs', ['--prepare'], { after: ['pythons environments'] }),
];
// The main .venv's interpreter runs the whole pytest suite and is the longest job: it goes first.
const mainMinor = /^version(?:_info)?\s*=\s*(\d+\.\d+)/m.exec(readFileSync(join(repo, '.venv', 'pyvenv.cfg'), 'utf8'))?.[1];
const python = [
  ...[...TARGET_NAMES].sort((a, b) => Number(b === mainMinor) - Number(a === mainMinor)).map((name) =>
    script(`pythons ${name}`, 'test-pythons.mjs', ['--only', name], { after: ['pythons environments'] })),
  ...RANGE_ENDS.map((end) => script(`python-range ${end}`, 'test-python-range.mjs', ['--only', end, '--unless-main'], { after: ['python-range environments'] })),
];
const files = nodeJobs();
// The type check and the environments first, then the Python jobs (the longest); the Node files
// fill the slots around them, longest first.
const jobs = [tsc, ...envs, ...python, ...files];

log(`${jobs.length} jobs: tsc, ${python.length} Python, ${files.length} Node file runs; ${slots} at a time`);
const started = Date.now();
const results = await runJobs(jobs, { slots, cwd: repo, log, logDir: join(repo, 'test', 'output', 'jobs') });
summarize(files, results.slice(jobs.length - files.length), log);
const failed = results.filter((r) => !r.ok).map((r) => r.label);
log(`${failed.length === 0 ? 'passed' : `FAILED (${failed.join(', ')})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed.length === 0 ? 0 : 1);
