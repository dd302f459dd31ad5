// Which worker takes the next call: the policy, on its own so it can change without touching
// the queue. Today: the least-loaded worker that can take a call now, so thread workers fill
// evenly and an idle worker is taken at once.
import type { WorkerSlot } from './workerSlot.js';

/** What balancing reads of a worker's slot. */
export type Routing = Pick<WorkerSlot, 'state' | 'connection' | 'startedCalls' | 'callLimit' | 'stuck' | 'inFlight' | 'capacity' | 'prefetch'>;

/**
 * Takes calls at all: serving, connected, not past its workerMaxRequests, and running no stuck
 * call (one given up on, past cancelGraceMs: the worker is being replaced).
 */
export function isRoutable(slot: Routing): boolean {
  return (
    (slot.state === 'ready' || slot.state === 'busy') && slot.connection?.usable === true && slot.startedCalls < slot.callLimit && slot.stuck === 0
  );
}

/** Has a call place free: a process worker running nothing, a thread worker with an idle thread. */
export function isFree(slot: Routing): boolean {
  return slot.inFlight < slot.capacity && isRoutable(slot);
}

/** Can take one more call now, counting the calls a process worker may hold sent ahead. */
export function hasRoom(slot: Routing): boolean {
  return slot.inFlight < slot.capacity + slot.prefetch && isRoutable(slot);
}

/** The least-loaded worker with room; with `sendAhead` false, only one with a place free now. */
export function pickWorker<S extends Routing>(slots: readonly S[], sendAhead = true): S | undefined {
  let best: S | undefined;
  for (const slot of slots) {
    if (!(sendAhead ? hasRoom(slot) : isFree(slot))) continue;
    if (!best || slot.inFlight < best.inFlight) best = slot;
    if (slot.inFlight === 0) break;
  }
  return best;
}
