// One process 'exit' listener for any number of workers and instances: it is added with the
// first cleanup and removed with the last, so many instances never pile up listeners.
const cleanups = new Set<() => void>();

/** Last registered, first run: a run's workers are killed before its files are removed. */
function runAll(): void {
  for (const cleanup of [...cleanups].reverse()) {
    try {
      cleanup();
    } catch {
      // The process is exiting; the other cleanups must still run.
    }
  }
}

/** Runs `cleanup` (synchronously) if Node exits before the returned function is called. */
export function onProcessExit(cleanup: () => void): () => void {
  if (cleanups.size === 0) process.on('exit', runAll);
  cleanups.add(cleanup);
  return () => {
    if (cleanups.delete(cleanup) && cleanups.size === 0) process.off('exit', runAll);
  };
}
