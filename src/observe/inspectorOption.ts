// The `inspect` option: an xstate inspection observer (a function or `{ next }`), or an
// inspector object such as @statelyai/inspect's, whose `inspect` observer is used and which is
// stopped with the pit, so its connection never keeps Node alive after stop().
import { InvalidConfigError } from '../errors.js';

type Observer = ((event: unknown) => void) | { next: (event: unknown) => void };

export interface Inspection {
  observer: Observer;
  /** Ends the inspector we were given (its socket); absent for a bare observer. */
  stop?: () => void;
}

export function resolveInspection(option: unknown): Inspection | undefined {
  if (option === undefined) return undefined;
  if (isObserver(option)) return { observer: option };
  if (option !== null && typeof option === 'object' && isObserver((option as { inspect?: unknown }).inspect)) {
    const inspector = option as { inspect: Observer; stop?: unknown };
    const stop = typeof inspector.stop === 'function' ? () => (inspector.stop as () => void).call(inspector) : undefined;
    return { observer: inspector.inspect, stop };
  }
  throw new InvalidConfigError(
    'Invalid configuration: inspect must be an inspection observer (a function, or an object with next()) or an inspector ' +
      'with an inspect observer, e.g. createWebSocketInspector({ url }) from @statelyai/inspect.',
    [{ path: 'inspect', message: 'not an inspection observer or inspector' }],
  );
}

function isObserver(value: unknown): value is Observer {
  return typeof value === 'function' || (value !== null && typeof value === 'object' && typeof (value as { next?: unknown }).next === 'function');
}
