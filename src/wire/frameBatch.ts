// A burst of calls leaves as one frame per worker: inside `inOneFrame`, every connection holds
// even the first call of the tick until the tick ends. One scope for all connections, because
// the bursts that use it (the dispatcher's pump, the replies one frame brought) span workers.
let batching = 0;

/** Runs `start`, which starts several calls, so that each worker receives them in one frame. */
export function inOneFrame(start: () => void): void {
  batching++;
  try {
    start();
  } finally {
    batching--;
  }
}

/** Whether a burst is being started: a connection then sends at the end of the tick. */
export function inOneFrameNow(): boolean {
  return batching > 0;
}
