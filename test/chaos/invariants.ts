// The properties a fault schedule must leave true, checked from the ledger (what each caller saw)
// against the journal (what each worker process started): every call settled exactly once, with
// a coded error or its own reply; an `ok` call started exactly once; a call started twice only
// if its first run was on a worker that crashed, and then not `ok`. Each broken property is
// reported with the call's story, so a failing seed says what happened to which call.
import type { DriveResult } from './driver.js';
import type { CallRecord, Ledger } from './ledger.js';

export interface CallFigures {
  calls: number;
  /** Calls by plan kind, nested calls of chains included. */
  byKind: Record<string, number>;
  /** Calls by outcome (`ok`, error codes, `LEFT`). */
  outcomes: Record<string, number>;
  startedTwice: number;
  /** Of those, how many are within the rule (first run on a crashed worker, not `ok`). */
  startedTwiceAfterCrash: number;
  okRunTwice: number;
  neverSettled: number;
  settledTwice: number;
  /** WORKER_CRASHED calls the journal shows never started (failed to stay on the safe side). */
  crashedUnstarted: number;
}

export function checkCalls(ledger: Ledger, drive: DriveResult): { figures: CallFigures; violations: string[] } {
  const starts = ledger.starts();
  const violations: string[] = [];
  const figures: CallFigures = {
    calls: ledger.calls.size, byKind: {}, outcomes: {}, startedTwice: 0, startedTwiceAfterCrash: 0,
    okRunTwice: 0, neverSettled: 0, settledTwice: 0, crashedUnstarted: 0,
  };
  const broken = (record: CallRecord, what: string) => violations.push(`${what}: ${story(record, starts.get(record.key) ?? [], drive)}`);

  for (const record of ledger.calls.values()) {
    const pids = starts.get(record.key) ?? [];
    count(figures.byKind, record.plan.kind);
    count(figures.outcomes, record.outcome ?? 'never settled');
    if (record.settles === 0) (figures.neverSettled++, broken(record, 'never settled'));
    if (record.settles > 1) (figures.settledTwice++, broken(record, `settled ${record.settles} times`));
    if (record.outcome === 'NOT_CODED') broken(record, 'rejected with an error that is not a SnakepitError');
    if (record.outcome === 'WORKER_CRASHED' && pids.length === 0) figures.crashedUnstarted++;
    if (record.outcome === 'ok' && pids.length === 0) broken(record, 'ok, but the journal shows no start');
    if (pids.length >= 2) {
      figures.startedTwice++;
      if (record.outcome === 'ok') (figures.okRunTwice++, broken(record, `ok, but started ${pids.length} times`));
      else if (drive.crashedPids.has(pids[0])) figures.startedTwiceAfterCrash++;
      else broken(record, `started ${pids.length} times, the first time on a worker that did not crash`);
    }
    const wrong = record.outcome === 'ok' || record.outcome === 'LEFT' ? wrongReply(record, pids) : undefined;
    if (wrong) broken(record, wrong);
  }
  for (const [key, pids] of starts) {
    if (!ledger.calls.has(key)) violations.push(`the journal shows ${pids.length} start(s) of ${key}, a call the test never made`);
  }
  return { figures, violations };
}

/** What is wrong with what an `ok` (or left) call got back, if anything. */
function wrongReply(record: CallRecord, pids: number[]): string | undefined {
  const plan = record.plan;
  if (plan.kind === 'stream') {
    const chunks = record.value as unknown[];
    const expected = Array.from({ length: record.outcome === 'LEFT' ? plan.leaveAfter! : plan.n }, (_, i) => i);
    return JSON.stringify(chunks) === JSON.stringify(expected) ? undefined : `its chunks were ${JSON.stringify(chunks)}`;
  }
  const value = record.value as { key?: string; pid?: number; nested?: { key?: string } };
  if (value?.key !== record.key || value.pid !== pids[0]) return `it got the reply ${JSON.stringify(value)}`;
  if (plan.kind === 'chain' && value.nested?.key !== `${record.key}n`) return `its nested call replied ${JSON.stringify(value.nested)}`;
  return undefined;
}

/** A call's story: its plan, how it settled and when, where it started, and what befell those workers. */
function story(record: CallRecord, pids: number[], drive: DriveResult): string {
  const fate = (pid: number) => {
    const faults = drive.faults.filter((f) => f.pid === pid).map((f) => `${f.kind}@${f.at - record.openedAt}ms`);
    const end = drive.crashedPids.has(pid) ? 'crashed' : drive.recycledPids.get(pid) ?? 'lived';
    return `pid ${pid} (${[end, ...faults].join(', ')})`;
  };
  const settled = record.settledAt === undefined ? 'never' : `after ${record.settledAt - record.openedAt} ms`;
  return `call ${record.key} ${JSON.stringify(record.plan)} → ${record.outcome ?? '(none)'} settled ${record.settles}× (${settled}); ` +
    `started ${pids.length}×: [${pids.map(fate).join('; ')}]`;
}

function count(tally: Record<string, number>, key: string): void {
  tally[key] = (tally[key] ?? 0) + 1;
}
