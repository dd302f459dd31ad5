// `npm run test:chaos -- --minutes N [--seed S] [--transport local|grpc]`: runs the fault harness
// (test/chaos.test.ts) for about N minutes of fault schedules in all, as several runs of 2–3
// minutes, each with its own seed, alternating the transport unless one is named. Prints each
// run's figures and a total; exits 1 if any run failed (its seed replays it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '10' }, seed: { type: 'string' }, transport: { type: 'string' } },
});
const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error(`--minutes ${values.minutes}: expected a number of minutes above 0`);
if (values.transport && !['local', 'grpc'].includes(values.transport)) throw new Error(`--transport ${values.transport}: expected local or grpc`);

const runs = Math.max(2, Math.round(minutes / 2.5));
const dir = mkdtempSync(path.join(tmpdir(), 'snakepit-chaos-run-'));
const reportFile = path.join(dir, 'figures.jsonl');
let failed = 0;
for (let run = 0; run < runs; run++) {
  const seed = values.seed ? (Number(values.seed) + run) >>> 0 : Math.floor(Math.random() * 2 ** 32);
  const transport = values.transport ?? (run % 2 === 0 ? 'local' : 'grpc');
  console.log(`\n== run ${run + 1}/${runs}: seed ${seed}, transport ${transport}, ${(minutes / runs).toFixed(2)} min of faults`);
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=3600000', '--test-reporter=spec', 'test/chaos.test.ts'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      maxBuffer: 1 << 30,
      env: { ...process.env, SNAKEPIT_TEST_TRANSPORT: transport, SNAKEPIT_CHAOS_SEED: String(seed), SNAKEPIT_CHAOS_MINUTES: String(minutes / runs), SNAKEPIT_CHAOS_REPORT: reportFile },
    },
  );
  // The figures, any violation, and why each failed test failed (once: the reporter repeats them).
  const shown = new Set();
  for (const line of child.stdout.split('\n')) {
    if (!/chaos|^\s+(call|the journal|stats|recycleWorker)|Error/.test(line) || /^\s+at /.test(line) || shown.has(line)) continue;
    shown.add(line);
    console.log(line);
  }
  if (child.status !== 0) {
    failed++;
    console.log(`run ${run + 1} FAILED: replay with SNAKEPIT_CHAOS_SEED=${seed} SNAKEPIT_TEST_TRANSPORT=${transport} SNAKEPIT_CHAOS_MINUTES=${minutes / runs}`);
  }
}

const figures = readFileSync(reportFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
rmSync(dir, { recursive: true, force: true });
const sum = (pick) => figures.reduce((total, f) => total + pick(f), 0);
const faults = {};
for (const f of figures) for (const [kind, n] of Object.entries(f.faults)) faults[kind] = (faults[kind] ?? 0) + n;
console.log(`\n== total over ${figures.length} schedules (${runs} runs, ${minutes} min of faults):`);
console.log(`calls ${sum((f) => f.calls)} (ok ${sum((f) => f.outcomes.ok ?? 0)}); faults ${JSON.stringify(faults)}`);
console.log(`started twice ${sum((f) => f.startedTwice)} (within the crash rule ${sum((f) => f.startedTwiceAfterCrash)}); ok run twice ${sum((f) => f.okRunTwice)}; ` +
  `never settled ${sum((f) => f.neverSettled)}; settled twice ${sum((f) => f.settledTwice)}; WORKER_CRASHED but never started ${sum((f) => f.crashedUnstarted)}`);
console.log(`leaks: python ${sum((f) => f.leaks.pythonProcesses + f.leaks.strayWhileRunning)}, fds grown ${sum((f) => Math.max(0, f.leaks.fdGrowth))}, ` +
  `most actor children over pool size ${Math.max(...figures.map((f) => f.leaks.actorChildrenAtRest - f.poolSize))}, ` +
  `largest heap growth ${Math.max(...figures.map((f) => f.leaks.heapGrowthMb))} MB; violations ${sum((f) => f.violations)}; failed runs ${failed}`);
process.exitCode = failed > 0 ? 1 : 0;
