/**
 * `npm run bench` — what a Snakepit call costs, against plain gRPC and against the other
 * Node→Python bridges a user would pick instead, all measured in one run, interleaved in
 * rounds because the machine is shared. `npm run bench -- --quick` does the same in under
 * two minutes with fewer rounds.
 *
 *   latency   (latency.ts)   Snakepit's execute against two plain-gRPC floors (floors.ts).
 *   peers     (peers.ts)     python-shell, pythonia, node-calls-python, hand-written JSON lines
 *                            and Snakepit's pools, each in its own Node process: sequential
 *                            latency and calls/s with 16 in flight.
 *   cpu       (cpu.ts)       200 × ≈10 ms NumPy and pure-Python calls on 2 cores.
 *   freethreaded (freeThreaded.ts) the same pure-Python calls on free-threaded 3.13t.
 *   capacity  (capacity.ts)  64 concurrent 50 ms sleeps on 4 × 16 threads.
 *   payloads  (payloads.ts)  50 MiB each way against a plain pipe.
 *   lifecycle (lifecycle.ts) start-up of 1 / 8 workers, import time, kill -9 recovery.
 *   preload   (preload.ts)   recovery, memory and start-up of a 2 s, 200 MB NumPy model (or a forest) with
 *                            `preload` against spawning.
 *   remote    (remote.ts)    a call to bridge servers on loopback (TLS) against a local one.
 * The named figures (figures.ts) with goals and MET / NOT MET go to the console,
 * bench/results/latest.json and bench/RESULTS.md, with the machine's noise (noise.ts).
 *
 * Tunables (environment, read in config.ts; --quick lowers the defaults): BENCH_SECTIONS
 * (all of the above), BENCH_N (calls per latency round, 50), BENCH_ROUNDS (40; quick 8),
 * BENCH_WARMUP (5000: calls before a path is measured), BENCH_PEER_SEQ_ROUNDS (30; 12), BENCH_PEER_SEQ_CALLS (100),
 * BENCH_PEER_ROUNDS (burst rounds, 5; 3), BENCH_PEER_BURST_MS (500; 300), BENCH_MATMUL_CALLS (200), BENCH_MATMUL_N (adapter default),
 * BENCH_CPU_ROUNDS (3; 1), BENCH_PAYLOAD_MIB (50), BENCH_PAYLOAD_ROUNDS (5; 3),
 * BENCH_LIFECYCLE_ROUNDS (5; 3), BENCH_PRELOAD_ROUNDS (3), BENCH_MODEL_KIND=random_forest (the preload section's
 * model a scikit-learn forest; BENCH_MODEL_MB, BENCH_MODEL_FILE), BENCH_BLAS_DEFAULTS=1 (leave the profiles' BLAS thread
 * defaults instead of pinning 1 BLAS thread per call), BENCH_JSON=<file> (also write the
 * JSON there), BENCH_SNAKEPIT_MODULE=<file> (load the library from another entry;
 * `npm run bench` builds and measures dist/src/index.js, what ships).
 *
 * This file runs the chosen sections, sets the exit code (1 if anything was not measured or
 * a Python process had to be killed) and makes sure clean-up runs on every way out.
 */
import { writeFileSync } from 'node:fs';
import { capacitySection } from './capacity.js';
import { JSON_FILE, N, PYTHON, QUICK, ROUNDS, SECTIONS } from './config.js';
import { cpuSection } from './cpu.js';
import { freeThreadedSection } from './freeThreaded.js';
import { computeFigures, formatValue, verdict, type SectionResults } from './figures.js';
import { latencySection } from './latency.js';
import { lifecycleSection } from './lifecycle.js';
import { noiseSummary, sampleNoise } from './noise.js';
import { payloadsSection } from './payloads.js';
import { remoteSection } from './remote.js';
import { peersSection } from './peers.js';
import { preloadSection } from './preload.js';
import { cleanup, workerPidsSeen } from './processes.js';
import { errorExcerpt, fmt, table } from './report.js';
import { LATEST_JSON, RESULTS_MD, writeResults } from './resultsFiles.js';

async function main(): Promise<number> {
  const results: Record<string, unknown> = { at: new Date().toISOString(), python: PYTHON, n: N, rounds: ROUNDS, quick: QUICK };
  const sections: SectionResults = {};
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

  // A failing section is reported in place; the others' figures still stand.
  const run = async (name: string, fn: () => Promise<void>) => {
    if (!SECTIONS.has(name) || interrupted) return;
    sampleNoise();
    try {
      await fn();
    } catch (e) {
      failed = true;
      const text = errorExcerpt((e as Error).stack ?? String(e));
      console.log(`  ${name} section NOT MEASURED — it failed:\n    ${text}`);
      results[`${name}Error`] = String(e);
    }
    sampleNoise();
  };
  try {
    await run('latency', () => latencySection(results));
    if (results.snakepitError) failed = true;
    sections.grpcOverLocal = (results.ratios as { grpcTransportVsFastLane?: number } | undefined)?.grpcTransportVsFastLane;
    await run('peers', async () => void (sections.peers = await peersSection(results)));
    await run('cpu', async () => void (sections.cpu = await cpuSection(results)));
    await run('freethreaded', async () => void (sections.freeThreaded = await freeThreadedSection(results)));
    await run('capacity', async () => void (sections.capacity = await capacitySection(results)));
    await run('payloads', async () => void (sections.payloads = await payloadsSection(results)));
    await run('lifecycle', async () => void (sections.lifecycle = await lifecycleSection(results)));
    await run('preload', async () => void (sections.preload = await preloadSection(results)));
    await run('remote', async () => void (sections.remote = await remoteSection(results)));
  } catch (e) {
    failed = true;
    if (!interrupted) console.error(`\nbenchmark failed: ${(e as Error).stack ?? e}`);
  } finally {
    const problems = await cleanup();
    for (const p of problems) console.error(`  cleanup: ${p}`);
    if (problems.length) failed = true;
  }
  if (interrupted) return 130;

  const figures = computeFigures(sections);
  const noise = noiseSummary();
  const seconds = (Date.now() - t0) / 1000;
  console.log('\n== Figures\n');
  console.log(table(['figure', 'value', 'goal', '', 'measured as'], figures.map((f) => [f.name, formatValue(f), f.goal, verdict(f), f.note]), [2, 3, 4]));
  console.log(
    `\n  machine noise: a fixed CPU loop took ${fmt(noise.loopMs.min, 1)}–${fmt(noise.loopMs.max, 1)} ms ` +
      `(spread ${fmt(noise.spread * 100)} % of its median over ${noise.samples} samples; load average ${fmt(noise.loadAverage1m.min, 2)}–${fmt(noise.loadAverage1m.max, 2)})`,
  );
  results.workerPids = workerPidsSeen();
  writeResults({ results, figures, noise, peers: sections.peers, sections: [...SECTIONS], seconds });
  if (JSON_FILE) writeFileSync(JSON_FILE, JSON.stringify({ ...results, figures, noise }, null, 2) + '\n');
  console.log(`\n(total ${fmt(seconds, 1)} s; ${workerPidsSeen().length} Python process(es) seen, none left running; written: ${LATEST_JSON}, ${RESULTS_MD})`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
