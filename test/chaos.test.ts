// The fault harness: a seeded random schedule of kill -9, SIGSTOP/SIGCONT, recycles, deadlines,
// aborts, stuck calls, ctx.call chains and streams, run against real workers (process profile
// with prefetch 0, 2 and 8, and the thread profile; the transport is the suite's). The chaos
// adapter journals every start of every call, and afterwards the invariants must hold: every
// call settled exactly once; no `ok` call ran twice; a call started twice only if its first run
// was on a worker that crashed; the pool's books balance; and no Python process, fd or actor
// leaked, the heap stayed bounded, nothing went unhandled in Node.
//
// SNAKEPIT_CHAOS_SEED replays a run's schedule (timing still varies); SNAKEPIT_CHAOS_MINUTES
// runs longer (`npm run test:chaos -- --minutes N`); SNAKEPIT_CHAOS_REPORT names a file the
// figures of each run are appended to as JSON lines.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Snakepit } from '../src/index.js';
import { actorChildren, drive, type DriveResult, type Schedule } from './chaos/driver.js';
import { type CallFigures, checkCalls } from './chaos/invariants.js';
import { Ledger } from './chaos/ledger.js';
import { checkNoLeaks, createPit, isAlive, sleep, TEST_TRANSPORT, waitFor, workerProcesses } from './helpers.js';

checkNoLeaks();

const SEED = process.env.SNAKEPIT_CHAOS_SEED ? Number(process.env.SNAKEPIT_CHAOS_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 32);
const MINUTES = Number(process.env.SNAKEPIT_CHAOS_MINUTES ?? 0);
const TRANSPORT = TEST_TRANSPORT ?? 'local';
const REPLAY = `SNAKEPIT_CHAOS_SEED=${SEED} SNAKEPIT_TEST_TRANSPORT=${TRANSPORT}`;
console.log(`chaos: seed ${SEED}, transport ${TRANSPORT}; replay with ${REPLAY} node --import tsx --test test/chaos.test.ts`);

const dir = mkdtempSync(path.join(tmpdir(), 'snakepit-chaos-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Whatever goes unhandled in Node during a run is a failure of that run.
const unhandled: string[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(`unhandledRejection: ${String(reason)}`));
process.on('uncaughtException', (error) => unhandled.push(`uncaughtException: ${String(error)}`));
afterEach(() => assert.deepEqual(unhandled.splice(0), [], `nothing goes unhandled in Node (${REPLAY})`));

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heartbeats that find a frozen worker within FROZEN_DETECTED_MS. */
const HEARTBEAT = { enabled: true, pingIntervalMs: 250, timeoutMs: 750, maxMissedHeartbeats: 2 };
const FROZEN_DETECTED_MS = HEARTBEAT.pingIntervalMs * HEARTBEAT.maxMissedHeartbeats + HEARTBEAT.timeoutMs;
const CANCEL_GRACE_MS = 300;
const COMMON = {
  cancelGraceMs: CANCEL_GRACE_MS, heartbeat: HEARTBEAT, queueTimeoutMs: 20_000, nestedQueueTimeoutMs: 2000,
  restart: { intensity: 100_000, periodMs: 1000 },
};
const CONFIGS = [
  { label: 'process, prefetch 0', poolSize: 3, pool: { workerProfile: 'process' as const, poolSize: 3, prefetch: 0, adapter: 'chaos_adapters.Chaos' } },
  { label: 'process, prefetch 2', poolSize: 3, pool: { workerProfile: 'process' as const, poolSize: 3, prefetch: 2, adapter: 'chaos_adapters.Chaos' } },
  { label: 'process, prefetch 8', poolSize: 3, pool: { workerProfile: 'process' as const, poolSize: 3, prefetch: 8, adapter: 'chaos_adapters.Chaos' } },
  { label: 'thread, 2 × 4 threads', poolSize: 2, pool: { workerProfile: 'thread' as const, poolSize: 2, threadsPerWorker: 4, adapter: 'chaos_adapters.ThreadedChaos' } },
];
/** The schedule of one configuration: 6 s each in `npm test`, else the minutes asked for, shared. */
const DURATION_MS = MINUTES > 0 ? (MINUTES * 60_000) / CONFIGS.length : 6000;
/** Slack over the pool size for actors and heap, since replacements overlap the workers they replace. */
const ACTOR_SLACK = 1;
const FD_SLACK = 8;
const HEAP_GROWTH_MB = 64;

interface Leaks {
  pythonProcesses: number;
  strayWhileRunning: number;
  fdGrowth: number;
  actorChildrenAtRest: number;
  mostActorChildren: number;
  heapGrowthMb: number;
}

for (const [index, config] of CONFIGS.entries()) {
  test(`chaos, ${config.label}: every call settles once, none runs twice, nothing leaks`, { timeout: DURATION_MS + 240_000 }, async () => {
    const seed = (SEED + index * 7919) >>> 0;
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const fdsBefore = openFds();

    const pit = createPit({ supervisor: { intensity: 100_000, periodMs: 1000 }, pools: [{ name: 'chaos', ...COMMON, ...config.pool }] });
    await pit.start();
    const ledger = new Ledger(path.join(dir, `journal-${index}`));
    const prefetch = 'prefetch' in config.pool ? config.pool.prefetch ?? 0 : 0;
    const capacity = pit.inspect().pools[0].capacity;
    const schedule: Schedule = {
      pool: 'chaos', seed, durationMs: DURATION_MS, callers: Math.min(30, config.poolSize * prefetch + capacity + 2),
      cancelGraceMs: CANCEL_GRACE_MS, meanFaultGapMs: 400, frozenDetectedMs: FROZEN_DETECTED_MS, settleWithinMs: 60_000,
    };
    const driven = await drive(pit, ledger, schedule);
    const atRest = await quiesce(pit, config.poolSize);
    const { figures, violations } = checkCalls(ledger, driven);
    violations.push(...checkBooks(pit, ledger, driven));

    await pit.stop();
    const pythonProcesses = await survivors(pit);
    gc();
    const leaks: Leaks = {
      pythonProcesses, strayWhileRunning: atRest.stray, fdGrowth: openFds() - fdsBefore,
      actorChildrenAtRest: atRest.actorChildren, mostActorChildren: driven.mostActorChildren,
      heapGrowthMb: Math.round((process.memoryUsage().heapUsed - heapBefore) / 2 ** 20),
    };
    report(config, seed, figures, driven, leaks, violations);

    const replay = `(seed ${seed}; replay with ${REPLAY})`;
    assert.deepEqual(violations, [], `the call invariants hold ${replay}`);
    assert.equal(leaks.pythonProcesses, 0, `no Python process outlives stop() ${replay}`);
    assert.equal(leaks.strayWhileRunning, 0, `no worker process lives on outside the pool ${replay}`);
    assert.ok(leaks.fdGrowth <= FD_SLACK, `fds grew by ${leaks.fdGrowth} ${replay}`);
    assert.ok(leaks.actorChildrenAtRest <= config.poolSize + ACTOR_SLACK,
      `the pool actor holds ${leaks.actorChildrenAtRest} children for ${config.poolSize} workers ${replay}`);
    assert.ok(leaks.heapGrowthMb <= HEAP_GROWTH_MB, `the heap grew by ${leaks.heapGrowthMb} MB ${replay}`);
  });
}

/** Waits until the pool is whole again and idle; how many actors and stray processes it has then. */
async function quiesce(pit: Snakepit, poolSize: number): Promise<{ actorChildren: number; stray: number }> {
  const restful = () => {
    const pool = pit.inspect().pools[0];
    const ready = pool.workers.filter((w) => w.state === 'ready' && w.inFlight === 0);
    return ready.length === poolSize && pool.workers.length === poolSize && pit.stats('chaos').queued === 0;
  };
  await waitFor(restful, 60_000, 'the pool to be whole and idle again').catch(() => undefined);
  // A process the pool killed may take a moment to be reaped; one it no longer knows must not live on.
  const known = () => new Set(pit.inspect().pools[0].workers.map((w) => w.pid));
  const stray = () => workerProcesses([pit.runId]).filter((p) => !known().has(p.pid) && isAlive(p.pid));
  const deadline = Date.now() + 5000;
  while (stray().length > 0 && Date.now() < deadline) await sleep(50);
  return { actorChildren: actorChildren(pit, 'chaos'), stray: stray().length };
}

/** The pool's own books: each call counted once, none still held. */
function checkBooks(pit: Snakepit, ledger: Ledger, driven: DriveResult): string[] {
  const stats = pit.stats('chaos');
  const problems: string[] = [];
  if (stats.completed + stats.failures !== stats.requests) problems.push(`stats: ${stats.completed} completed + ${stats.failures} failed ≠ ${stats.requests} requests`);
  if (stats.requests !== ledger.calls.size) problems.push(`stats: ${stats.requests} requests, but the test made ${ledger.calls.size} calls`);
  if (stats.inFlight !== 0 || stats.queued !== 0) problems.push(`stats: ${stats.inFlight} in flight and ${stats.queued} queued once every call settled`);
  if (driven.stalledCallers > 0) problems.push(`${driven.stalledCallers} callers still waited on a call when the settle bound ran out`);
  for (const fault of driven.faults) if (fault.kind === 'recycle' && fault.outcome === undefined) problems.push(`recycleWorker(${fault.workerId}) never settled`);
  return problems;
}

/** Worker processes of the pit still alive after stop() (given 3 s to be reaped). */
async function survivors(pit: Snakepit): Promise<number> {
  const deadline = Date.now() + 3000;
  let left = workerProcesses([pit.runId]).filter((p) => isAlive(p.pid));
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(50);
    left = left.filter((p) => isAlive(p.pid));
  }
  return left.length;
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

function report({ label, poolSize }: { label: string; poolSize: number }, seed: number, figures: CallFigures, driven: DriveResult, leaks: Leaks, violations: string[]): void {
  const faults: Record<string, number> = {};
  for (const fault of driven.faults) faults[fault.kind] = (faults[fault.kind] ?? 0) + 1;
  for (const kind of ['deadline', 'abort', 'stuck', 'chain', 'stream'] as const) faults[kind] = figures.byKind[kind] ?? 0;
  const line = { label, poolSize, transport: TRANSPORT, seed, durationMs: DURATION_MS, ...figures, faults, leaks, violations: violations.length };
  console.log(
    `chaos [${TRANSPORT}, ${label}, seed ${seed}]: ${figures.calls} calls ${JSON.stringify(figures.outcomes)}; ` +
    `faults ${JSON.stringify(faults)}; started twice ${figures.startedTwice} (within the crash rule ${figures.startedTwiceAfterCrash}); ` +
    `ok run twice ${figures.okRunTwice}; never settled ${figures.neverSettled}; crashed unstarted ${figures.crashedUnstarted}; ` +
    `leaks ${JSON.stringify(leaks)}; violations ${violations.length}`,
  );
  for (const violation of violations.slice(0, 20)) console.log(`  ${violation}`);
  if (process.env.SNAKEPIT_CHAOS_REPORT) appendFileSync(process.env.SNAKEPIT_CHAOS_REPORT, `${JSON.stringify(line)}\n`);
}
