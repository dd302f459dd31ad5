// Runs one fault schedule against a live pool: callers that each make one planned call after
// another, and a fault loop that kills, freezes and recycles workers meanwhile. Everything it
// does is noted: the ledger keeps the calls, `faults` the faults, and the pool's own events say
// which worker processes crashed (a call that started on one of those may have started twice).
import { readFileSync } from 'node:fs';
import type { Snakepit } from '../../src/index.js';
import { type Ledger, outcomeOf } from './ledger.js';
import { type CallPlan, type FaultPlan, nextCall, nextFault, prng } from './schedule.js';

export interface Schedule {
  pool: string;
  seed: number;
  durationMs: number;
  /** Callers making calls at once. */
  callers: number;
  cancelGraceMs: number;
  /** Mean gap between faults. */
  meanFaultGapMs: number;
  /** How long a frozen worker lives at most before the heartbeat has it killed. */
  frozenDetectedMs: number;
  /** How long after the schedule ends every call must have settled. */
  settleWithinMs: number;
}

export interface FaultRecord {
  at: number;
  kind: 'kill' | 'stop-short' | 'stop-long' | 'recycle';
  pid: number;
  workerId: string;
  /** A recycle's outcome (`ok` or an error code), once known. */
  outcome?: string;
}

export interface DriveResult {
  faults: FaultRecord[];
  /** Pids of worker processes the pool saw crash (kill -9, heartbeat, a stuck-call kill is not one). */
  crashedPids: Set<number>;
  /** Pid → why the pool replaced it while alive (`stuck_call`, `manual`). */
  recycledPids: Map<number, string>;
  /** The most actor children the pool actor held at any sample. */
  mostActorChildren: number;
  /** Callers still waiting on a call when `settleWithinMs` ran out. */
  stalledCallers: number;
}

export async function drive(pit: Snakepit, ledger: Ledger, schedule: Schedule): Promise<DriveResult> {
  const result: DriveResult = { faults: [], crashedPids: new Set(), recycledPids: new Map(), mostActorChildren: 0, stalledCallers: 0 };
  pit.on('worker:crashed', (e) => e.pid !== undefined && result.crashedPids.add(e.pid));
  pit.on('worker:recycling', (e) => e.pid !== undefined && result.recycledPids.set(e.pid, e.reason));
  pit.expose('chaos_nested', (args) => {
    const { key, seconds } = args as { key: string; seconds: number };
    const record = ledger.open({ kind: 'nested', seconds, parent: key.replace(/n$/, '') }, key);
    const call = pit.execute('run', { journal: ledger.journal, key: record.key, seconds }, { pool: schedule.pool });
    void ledger.track(record, call);
    return call;
  });

  const end = Date.now() + schedule.durationMs;
  const callRandom = prng(schedule.seed);
  const faultRandom = prng(schedule.seed ^ 0x9e3779b9);
  const sampler = setInterval(() => {
    result.mostActorChildren = Math.max(result.mostActorChildren, actorChildren(pit, schedule.pool));
  }, 100);

  const caller = async () => {
    while (Date.now() < end) await makeCall(pit, ledger, schedule.pool, nextCall(callRandom, schedule.cancelGraceMs));
  };
  const callers = Array.from({ length: schedule.callers }, caller);
  const frozen = new Map<number, NodeJS.Timeout>(); // pid → its SIGCONT timer
  const recycles: Promise<void>[] = [];
  while (Date.now() < end) {
    const plan = nextFault(faultRandom, schedule.meanFaultGapMs, schedule.frozenDetectedMs);
    await sleep(Math.min(plan.afterMs, Math.max(0, end - Date.now())));
    if (Date.now() >= end) break;
    const fault = inject(pit, schedule.pool, plan, frozen, recycles);
    if (fault) result.faults.push(fault);
  }

  // Let every call settle: a frozen worker is thawed (or has been killed), the rest must end.
  let waiting = callers.length;
  const settled = Promise.all(callers.map((c) => c.then(() => waiting--)));
  await Promise.race([settled, bound(schedule.settleWithinMs)]);
  result.stalledCallers = waiting;
  for (const [pid, thaw] of frozen) {
    clearTimeout(thaw);
    signal(pid, 'SIGCONT');
  }
  await Promise.race([Promise.all(recycles), bound(schedule.settleWithinMs)]);
  clearInterval(sampler);
  return result;
}

/** One planned call, settled into the ledger; never rejects. */
async function makeCall(pit: Snakepit, ledger: Ledger, pool: string, plan: CallPlan): Promise<void> {
  const record = ledger.open(plan);
  const args = { journal: ledger.journal, key: record.key };
  switch (plan.kind) {
    case 'plain':
      return ledger.track(record, pit.execute('run', { ...args, seconds: plan.seconds }, { pool }));
    case 'deadline':
      return ledger.track(record, pit.execute('run', { ...args, seconds: plan.seconds }, { pool, timeoutMs: plan.timeoutMs }));
    case 'stuck':
      return ledger.track(record, pit.execute('run', { ...args, seconds: plan.seconds, obey: false }, { pool, timeoutMs: plan.timeoutMs }));
    case 'abort': {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), plan.abortAfterMs);
      await ledger.track(record, pit.execute('run', { ...args, seconds: plan.seconds }, { pool, signal: controller.signal }));
      clearTimeout(timer);
      return;
    }
    case 'chain':
      return ledger.track(record, pit.execute('chain', { ...args, child: `${record.key}n`, seconds: plan.seconds }, { pool }));
    case 'stream': {
      const chunks: unknown[] = [];
      try {
        for await (const chunk of pit.stream('chunks', { ...args, n: plan.n, seconds: plan.seconds }, { pool })) {
          chunks.push(chunk);
          if (chunks.length === plan.leaveAfter) break;
        }
        ledger.settle(record, chunks.length === plan.leaveAfter ? 'LEFT' : 'ok', chunks);
      } catch (error) {
        ledger.settle(record, outcomeOf(error), chunks);
      }
    }
  }
}

/** Acts on one live worker of the pool; undefined when none is up to be hit. */
function inject(pit: Snakepit, pool: string, plan: FaultPlan, frozen: Map<number, NodeJS.Timeout>, recycles: Promise<void>[]): FaultRecord | undefined {
  const workers = pit.inspect().pools.find((p) => p.name === pool)!.workers
    .filter((w) => w.pid !== undefined && (w.state === 'ready' || w.state === 'busy') && !frozen.has(w.pid) && isWorkerOf(pit, w.pid));
  if (workers.length === 0) return undefined;
  const worker = workers[Math.floor(plan.target * workers.length)];
  const pid = worker.pid!;
  const fault: FaultRecord = { at: Date.now(), kind: plan.kind === 'stop' ? 'stop-short' : plan.kind, pid, workerId: worker.id };
  switch (plan.kind) {
    case 'kill':
      signal(pid, 'SIGKILL');
      break;
    case 'stop':
      fault.kind = plan.forMs > 500 ? 'stop-long' : 'stop-short';
      signal(pid, 'SIGSTOP');
      frozen.set(pid, setTimeout(() => {
        frozen.delete(pid);
        signal(pid, 'SIGCONT');
      }, plan.forMs));
      break;
    case 'recycle':
      recycles.push(pit.recycleWorker(worker.id).then(
        () => void (fault.outcome = 'ok'),
        (error) => void (fault.outcome = error?.code ?? 'NOT_CODED'),
      ));
      break;
  }
  return fault;
}

/** The pool actor's children as xstate holds them (live worker actors, and any it failed to release). */
export function actorChildren(pit: Snakepit, pool: string): number {
  const actor = pit.actor.system.get(`pool:${pool}`);
  return actor ? Object.keys(actor.getSnapshot().children ?? {}).length : 0;
}

/** Guards against a pid reused by another process since inspect() named it. */
function isWorkerOf(pit: Snakepit, pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(pit.runId);
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A bound to race against: it never keeps the process alive after the run. */
const bound = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());
