// What a page is sent when it connects, so that after an incident it shows what happened: the
// last events, kept as the bytes that were broadcast (serialised once, nothing else held). A
// ring bounded by count and by bytes: the replay fits well inside a client's SSE budget, so a
// page that connects is never dropped for its own replay.
import { InvalidConfigError } from '../errors.js';

/** Events a page is sent on connect by default (serveDashboard's `history`). */
export const DEFAULT_HISTORY = 200;
export const MAX_HISTORY = 1000;
/** Bytes one ring may hold: two rings (events, state changes) stay under half a client's 256 KiB budget. */
export const HISTORY_BYTES = 64 * 1024;

export class EventRing {
  private readonly slots: (Buffer | undefined)[];
  private head = 0;
  private count = 0;
  private bytes = 0;

  constructor(readonly limit: number, readonly maxBytes = HISTORY_BYTES) {
    this.slots = new Array<Buffer | undefined>(limit);
  }

  get size(): number {
    return this.count;
  }

  push(message: Buffer): void {
    if (this.limit === 0 || message.length > this.maxBytes) return;
    while (this.count === this.limit || this.bytes + message.length > this.maxBytes) this.dropOldest();
    this.slots[(this.head + this.count) % this.limit] = message;
    this.count++;
    this.bytes += message.length;
  }

  /** Oldest first. */
  messages(): Buffer[] {
    return Array.from({ length: this.count }, (_, i) => this.slots[(this.head + i) % this.limit]!);
  }

  private dropOldest(): void {
    this.bytes -= this.slots[this.head]!.length;
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.limit;
    this.count--;
  }
}

/** serveDashboard's `history`: a whole number of events from 0 (no replay) to MAX_HISTORY. */
export function historySize(value: unknown = DEFAULT_HISTORY): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_HISTORY) {
    throw new InvalidConfigError(`serveDashboard({ history }) needs a whole number from 0 to ${MAX_HISTORY}.`, [{ path: 'history', message: `a whole number from 0 to ${MAX_HISTORY}` }]);
  }
  return value;
}
