// The application's callbacks — event listeners and `onProgress` — run inside Snakepit's own
// machinery: a call being settled, a worker machine's transition, a frame being read. What one
// throws, or rejects with if it is async, must reach neither that machinery (a call left half
// settled, a worker never restarted) nor the process (an unhandled rejection ends Node). So each
// callback runs isolated: the others still run, and the failure is reported as a process warning
// (type `SnakepitWarning`, code `SNAKEPIT_CALLBACK_FAILED`), which Node prints on stderr and
// `process.on('warning')` hears — once per callback source and instance, since a broken listener
// fails the same way on every event.
import { cutText, describeThrown } from './calls/safeText.js';

type Callback = (...args: any[]) => unknown;

export const CALLBACK_WARNING_CODE = 'SNAKEPIT_CALLBACK_FAILED';
const WARNING_TEXT_BYTES = 4096;

export class CallbackGuard {
  /** Sources already reported (`a listener of "worker:crashed"`, `an onProgress callback`). */
  private readonly reported = new Set<string>();
  /** Each listener's guarded stand-in per event: the same one every time, so `off` finds it. */
  private readonly listeners = new WeakMap<Callback, Map<string, Callback>>();

  /** Calls `fn(...args)`; anything it throws or rejects with is reported, never passed on. */
  run(source: string, fn: Callback, args: unknown[]): void {
    let returned: unknown;
    try {
      returned = fn(...args);
    } catch (thrown) {
      return this.failed(source, thrown);
    }
    if (returned === null || (typeof returned !== 'object' && typeof returned !== 'function')) return;
    try {
      const then = (returned as { then?: unknown }).then;
      if (typeof then === 'function') then.call(returned, undefined, (thrown: unknown) => this.failed(source, thrown));
    } catch (thrown) {
      this.failed(source, thrown);
    }
  }

  /** `fn` wrapped to run guarded (for a call's `onProgress`). */
  wrap<F extends Callback>(source: string, fn: F): (...args: Parameters<F>) => void {
    return (...args) => this.run(source, fn, args);
  }

  /** The guarded stand-in that is registered in place of `listener` for `event`. */
  listener(event: string, listener: Callback): Callback {
    let byEvent = this.listeners.get(listener);
    if (!byEvent) this.listeners.set(listener, (byEvent = new Map()));
    let guarded = byEvent.get(event);
    if (!guarded) byEvent.set(event, (guarded = (...args: unknown[]) => this.run(`a listener of "${event}"`, listener, args)));
    return guarded;
  }

  /** The stand-in registered for `listener` on `event`, if any. */
  registered(event: string, listener: Callback): Callback | undefined {
    return this.listeners.get(listener)?.get(event);
  }

  private failed(source: string, thrown: unknown): void {
    if (this.reported.has(source)) return;
    this.reported.add(source);
    const { type, message, stack } = describeThrown(thrown, WARNING_TEXT_BYTES);
    process.emitWarning(`Snakepit ignored what ${source} threw (${type}: ${message}); calls and workers are not affected. Reported once per source.`, {
      type: 'SnakepitWarning',
      code: CALLBACK_WARNING_CODE,
      detail: cutText(stack, WARNING_TEXT_BYTES) || undefined,
    });
  }
}
