/**
 * `npm run bench` — what a Snakepit call costs, and what a pool buys on CPU-bound work.
 *
 *   Section 1, "Tiny call latency" (latency.ts): Snakepit's execute against two plain-gRPC
 *   floors (floors.ts). Goals: snakepit / unary floor < 1 and snakepit / stream floor ≤ 1.25.
 *   Section 2, "CPU-bound NumPy on 2 cores" (cpu.ts): process vs thread pools vs 1 worker.
 *
 * Tunables (environment, read in config.ts): BENCH_N (calls per latency round, 50),
 * BENCH_ROUNDS (40), BENCH_WARMUP (300, once per path), BENCH_MATMUL_CALLS (200), BENCH_MATMUL_N (adapter
 * default), BENCH_CPU_ROUNDS (3), BENCH_SECTIONS ("latency,cpu"), BENCH_BLAS_DEFAULTS=1 (leave
 * the profiles' BLAS thread defaults instead of pinning 1 BLAS thread per call),
 * BENCH_JSON=<file> (also write the figures as JSON), BENCH_SNAKEPIT_MODULE=<file> (load the
 * library from another entry; `npm run bench` builds and measures dist/src/index.js, what ships).
 *
 * This file runs the chosen sections, sets the exit code (1 if anything was not measured or
 * a Python process had to be killed) and makes sure clean-up runs on every way out.
 */
import { writeFileSync } from 'node:fs';
import { JSON_FILE, N, PYTHON, ROUNDS, SECTIONS } from './config.js';
import { cpuSection } from './cpu.js';
import { latencySection } from './latency.js';
import { cleanup, workerPidsSeen } from './processes.js';
import { errorExcerpt, fmt } from './report.js';

async function main(): Promise<number> {
  const results: Record<string, unknown> = { at: new Date().toISOString(), python: PYTHON, n: N, rounds: ROUNDS };
  const t0 = Date.now();
  let failed = false;
  let interrupted = false;
  // Ctrl-C / kill: stop the Python processes before exiting, not after.
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = true;
    console.error(`\n${sig}: stopping Python processes…`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (SECTIONS.has('latency')) await latencySection(results);
    if (SECTIONS.has('cpu')) {
      // A CPU failure is reported in place; the latency figures above still stand.
      try {
        await cpuSection(results);
      } catch (e) {
        failed = true;
        const text = errorExcerpt((e as Error).stack ?? String(e));
        console.log(`  CPU section NOT MEASURED — the library could not be started or failed:\n    ${text}`);
        results.cpuError = String(e);
      }
    }
    if (results.snakepitError) failed = true;
  } catch (e) {
    failed = true;
    if (!interrupted) console.error(`\nbenchmark failed: ${(e as Error).stack ?? e}`);
  } finally {
    const problems = await cleanup();
    for (const p of problems) console.error(`  cleanup: ${p}`);
    if (problems.length) failed = true;
    console.log(`\n(total ${fmt((Date.now() - t0) / 1000, 1)} s; ${workerPidsSeen().length} Snakepit worker process(es) seen, none left running)`);
  }
  results.workerPids = workerPidsSeen();
  if (JSON_FILE) writeFileSync(JSON_FILE, JSON.stringify(results, null, 2) + '\n');
  return failed ? 1 : 0;
}

process.exitCode = await main();
