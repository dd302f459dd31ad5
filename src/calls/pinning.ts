// Calls made for one worker (`workerId`, and each call of a broadcast): which worker that is, and
// what the caller hears when it cannot run the call. Such a call waits for its own worker, in
// that worker's queue, and never runs on another one: whatever befalls the worker befalls it.
import { setMaxListeners } from 'node:events';
import type { WorkerExitInfo } from '../../machines/worker.machine.js';
import { InvalidArgumentError, type SnakepitError, WorkerCrashedError, type WorkerExit } from '../errors.js';
import { isRoutable } from './balancing.js';
import { describeValue } from './callChecks.js';
import type { WorkerSlot } from './workerSlot.js';

/** The worker a call made for `workerId` waits for, or why it cannot: unknown, retired or down. */
export function pinnedWorker(slots: readonly WorkerSlot[], pool: string, tool: string, workerId: string): WorkerSlot | SnakepitError {
  const slot = slots.find((s) => s.id === workerId);
  if (!slot) {
    const ids = slots.map((s) => s.id).join(', ') || 'none right now';
    return new InvalidArgumentError(tool, `Pool "${pool}" has no worker ${describeValue(workerId)} (unknown, or retired); its workers: ${ids}. See inspect() for worker ids.`);
  }
  if (isRetiring(slot)) return workerRetired(slot, tool);
  if (slot.state === 'crashed' || slot.restarting) return workerDown(slot, tool);
  return slot; // ready or busy; starting: the call waits until it is ready
}

/** The workers a broadcast reaches: those that take calls at the moment it is made. */
export function broadcastTargets(slots: readonly WorkerSlot[]): WorkerSlot[] {
  return slots.filter(isRoutable);
}

/**
 * A signal for a broadcast's `calls` calls that follows the caller's: the caller's holds one
 * listener however many workers there are (over 10, Node would warn of a leak), removed by
 * `release` once the broadcast has settled.
 */
export function broadcastSignal(signal: AbortSignal | undefined, calls: number): { signal?: AbortSignal; release(): void } {
  if (!signal) return { release() {} };
  const own = new AbortController();
  setMaxListeners(Math.max(calls, 10), own.signal);
  const follow = () => own.abort(signal.reason);
  signal.addEventListener('abort', follow, { once: true });
  return { signal: own.signal, release: () => signal.removeEventListener('abort', follow) };
}

/**
 * Why a call made for `slot` will never run there: the worker is retiring (or, a call on it
 * being stuck, handed back the calls sent ahead behind that one), or it went down.
 */
export function pinnedCallLost(slot: WorkerSlot, tool: string, exit?: WorkerExitInfo): SnakepitError {
  return isRetiring(slot) ? workerRetired(slot, tool) : workerDown(slot, tool, exit);
}

/** A call given both a session bound to one worker and another worker's id. */
export function sessionElsewhere(tool: string, sessionId: string, bound: WorkerSlot, asked: WorkerSlot): InvalidArgumentError {
  return new InvalidArgumentError(
    tool,
    `Session "${sessionId}" is bound to worker ${bound.id}, but the call names worker ${asked.id} (workerId): give one of them, or the session's own worker.`,
  );
}

/** Leaving, or to be replaced because a call on it is stuck: it runs no new call. (One its pool restarts keeps its id: it is down.) */
function isRetiring(slot: WorkerSlot): boolean {
  return !slot.restarting && (slot.state === 'draining' || slot.state === 'recycling' || slot.state === 'stopped' || slot.stuck > 0);
}

function workerRetired(slot: WorkerSlot, tool: string): InvalidArgumentError {
  const why = slot.stuck > 0 ? 'a call on it is stuck' : slot.state;
  return new InvalidArgumentError(
    tool,
    `Worker ${slot.id} of pool "${slot.pool}" is being retired (${why}) and takes no calls; tool "${tool}" was made for it alone (workerId), ` +
      'so it does not run on another worker. See inspect() for the workers that serve now.',
  );
}

function workerDown(slot: WorkerSlot, tool: string, exit?: WorkerExitInfo): WorkerCrashedError {
  const status: WorkerExit = { exitCode: exit?.exitCode ?? null, signal: (exit?.signal ?? null) as NodeJS.Signals | null };
  const how = slot.restarting
    ? " (restarted with its pool's other workers, by the pool's restart strategy)"
    : exit ? (exit.signal ? ` (signal ${exit.signal})` : ` (exit code ${exit.exitCode})`) : '';
  const message =
    `Worker ${slot.id} of pool "${slot.pool}" went down${how} before it ran tool "${tool}", which was made for it alone (workerId), ` +
    'so it does not run on another worker. The supervisor restarts the worker under the same id; retry once it is ready if the call is safe to repeat.';
  return new WorkerCrashedError(slot.id, slot.pid, status, undefined, undefined, message);
}
