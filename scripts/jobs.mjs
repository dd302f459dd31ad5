// Runs test jobs side by side with a cap: most of the suite's time is waiting (on timers, on
// Python starting, on deadlines a test proves), so a few jobs at once fill the machine's cores
// without overloading them. Each job's output is kept and shown whole when it fails, so a
// failure reads as if the job had run alone; a passing job prints one line. With `logDir`, every
// job's output is also written there, one file per job (test/output/jobs/ for the suite).
//
// A job: { label, cmd, args, env?, weight? (slots it takes, default 1), after? (labels of jobs
// that must pass first), quiet? (false: print its output even when it passes) }.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const seconds = (ms) => (ms / 1000).toFixed(1);

/** node:test's closing counts (spec reporter: "ℹ pass 12"; TAP: "# pass 12"). */
export function nodeTestCounts(output) {
  const count = (word) => Number(new RegExp(`^(?:ℹ|#) ${word} (\\d+)$`, 'm').exec(output)?.[1] ?? 0);
  return { tests: count('tests'), passed: count('pass'), failed: count('fail') + count('cancelled') };
}

/**
 * Runs `jobs` with at most `slots` slots taken at once, in the order given (put the long ones
 * first, so the run does not end waiting on one). Resolves with every job's result
 * { label, ok, exit, seconds, output, skipped? } in the jobs' order.
 */
export function runJobs(jobs, { slots, cwd, log = console.log, logDir }) {
  if (logDir) {
    rmSync(logDir, { recursive: true, force: true });
    mkdirSync(logDir, { recursive: true });
  }
  const results = new Map();
  const running = new Set();
  const waiting = [...jobs];
  let free = slots;
  const started = Date.now();

  const forward = (signal) => () => {
    for (const child of running) child.kill(signal);
    process.exit(1);
  };
  const handlers = ['SIGINT', 'SIGTERM'].map((signal) => [signal, forward(signal)]);
  for (const [signal, handler] of handlers) process.on(signal, handler);

  return new Promise((resolve) => {
    const finish = (job, result) => {
      results.set(job.label, { label: job.label, ...result });
      if (logDir && !result.skipped) writeFileSync(join(logDir, `${job.label.replace(/[^\w.-]+/g, '-')}.log`), result.output);
      const line = `${result.skipped ? 'SKIPPED' : result.ok ? 'passed ' : 'FAILED '} ${job.label} in ${seconds(result.ms ?? 0)} s`;
      if (!result.ok && !result.skipped) {
        log(`---- ${job.label}: exited with ${result.exit}; its output:`);
        log(result.output.trimEnd());
        log(`---- end of ${job.label}`);
      } else if (job.quiet === false && result.output) {
        log(result.output.trimEnd());
      }
      log(`${line} (${seconds(Date.now() - started)} s into the run)`);
    };

    const pump = () => {
      for (let i = 0; i < waiting.length; i++) {
        const job = waiting[i];
        const before = (job.after ?? []).map((label) => results.get(label));
        if (before.some((r) => r && !r.ok)) {
          waiting.splice(i--, 1);
          finish(job, { ok: false, skipped: true, exit: 'not run', output: '', ms: 0 });
          continue;
        }
        if (before.some((r) => !r)) continue;
        const weight = Math.min(job.weight ?? 1, slots);
        if (weight > free) continue;
        waiting.splice(i--, 1);
        free -= weight;
        const t0 = Date.now();
        const child = spawn(job.cmd, job.args, { cwd, env: { ...process.env, ...job.env }, stdio: ['ignore', 'pipe', 'pipe'] });
        running.add(child);
        let output = '';
        child.stdout.on('data', (d) => (output += d));
        child.stderr.on('data', (d) => (output += d));
        let spawnError;
        child.on('error', (error) => (spawnError = error));
        child.on('close', (code, signal) => {
          running.delete(child);
          free += weight;
          if (spawnError) output += `\n${spawnError.message}`;
          finish(job, { ok: code === 0 && !spawnError, exit: code ?? signal ?? spawnError?.message, output, ms: Date.now() - t0 });
          pump();
        });
      }
      if (running.size === 0 && waiting.length === 0) {
        for (const [signal, handler] of handlers) process.off(signal, handler);
        resolve(jobs.map((job) => results.get(job.label)));
      }
    };
    pump();
  });
}
