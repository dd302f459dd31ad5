// The fault harness's books: every call the test made (its plan, how often and how it settled,
// what it returned) and the journal in which the chaos adapter notes every start of every call,
// `<key> <pid>` per line, from whichever worker process ran it.
import { readFileSync, writeFileSync } from 'node:fs';
import { SnakepitError } from '../../src/index.js';
import type { CallPlan } from './schedule.js';

/** `ok`, an error code, `LEFT` (a stream its consumer left early) or `NOT_CODED` (not a SnakepitError). */
export type Outcome = string;

export interface CallRecord {
  key: string;
  plan: CallPlan | { kind: 'nested'; seconds: number; parent: string };
  settles: number;
  outcome: Outcome | undefined;
  /** What an `ok` call returned: the key and pid the tool saw, or a stream's chunks. */
  value: unknown;
  openedAt: number;
  settledAt: number | undefined;
}

export class Ledger {
  readonly calls = new Map<string, CallRecord>();
  private next = 0;

  constructor(readonly journal: string) {
    writeFileSync(journal, '');
  }

  open(plan: CallRecord['plan'], key = `c${++this.next}`): CallRecord {
    while (this.calls.has(key)) key += "'"; // a nested call opened twice: its parent ran twice
    const record: CallRecord = { key, plan, settles: 0, outcome: undefined, value: undefined, openedAt: Date.now(), settledAt: undefined };
    this.calls.set(key, record);
    return record;
  }

  /** Counts every settlement; the first one is the call's outcome. */
  settle(record: CallRecord, outcome: Outcome, value?: unknown): void {
    record.settles++;
    if (record.settles > 1) return;
    record.outcome = outcome;
    record.value = value;
    record.settledAt = Date.now();
  }

  /** Settles `record` with what `promise` ends with. */
  track<T>(record: CallRecord, promise: Promise<T>): Promise<void> {
    return promise.then(
      (value) => this.settle(record, 'ok', value),
      (error) => this.settle(record, outcomeOf(error)),
    );
  }

  /** Every start the journal holds: call key → the pids that started it, in order. */
  starts(): Map<string, number[]> {
    const starts = new Map<string, number[]>();
    for (const line of readFileSync(this.journal, 'utf8').split('\n')) {
      if (!line) continue;
      const [key, pid] = line.split(' ');
      starts.set(key, [...(starts.get(key) ?? []), Number(pid)]);
    }
    return starts;
  }
}

export function outcomeOf(error: unknown): Outcome {
  return error instanceof SnakepitError ? error.code : 'NOT_CODED';
}
