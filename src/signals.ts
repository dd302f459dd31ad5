// A service's main process stops its Snakepit on SIGTERM or SIGINT, then exits.

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * On the first SIGTERM or SIGINT: `stop()`, then exit with code 0 (1 if stopping failed). A
 * second signal during the stop is not caught: it ends Node at once. Returns a function that
 * removes the handlers.
 */
export function stopOnSignals(stop: () => Promise<void>): () => void {
  const release = () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
  function onSignal(): void {
    release();
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`snakepit: stopping on a signal failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  }
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return release;
}
