// The consumer side of a streaming call: its chunks as an async iterator, with back-pressure.
// The worker may run at most `highWaterMark` chunks ahead of the loop; the room the loop makes
// goes back to it in batches of half the window, one credit per batch rather than per chunk.
import type { StreamOptions, StreamSink } from './calls.js';
import { DEFAULT_HIGH_WATER_MARK } from '../config.js';
import type { Dispatcher } from './dispatcher.js';
import { Fifo } from './fifo.js';

/** Submits the call and yields its chunks; leaving the loop early cancels the call. */
export async function* streamChunks<T>(dispatcher: Dispatcher, tool: string, args: object, options: StreamOptions): AsyncGenerator<T> {
  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const chunks = new Fifo<T>();
  let wake: (() => void) | undefined;
  let finished = false;
  let failure: unknown;
  const sink: StreamSink = {
    highWaterMark: options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    chunk: (chunk) => {
      chunks.push(chunk as T);
      wake?.();
    },
  };
  const batch = Math.max(1, Math.floor(sink.highWaterMark / 2));
  let taken = 0;
  dispatcher
    .submit(tool, args, { ...options, signal }, sink)
    .then(
      () => (finished = true),
      (error) => ((failure = error), (finished = true)),
    )
    .finally(() => wake?.());
  try {
    for (;;) {
      if (chunks.size > 0) {
        const chunk = chunks.shift()!;
        if (++taken >= batch) {
          sink.grant?.(taken);
          taken = 0;
        }
        yield chunk;
      } else if (failure) throw failure;
      else if (finished) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    if (!finished) stop.abort();
  }
}
