// Liveness: every pingIntervalMs the worker is asked for a heartbeat that Python code answers
// on a thread that tool calls never occupy (a gRPC handler thread, or on the local lane the
// socket's reader: the watcher while a process-profile call runs), each with its own deadline. After
// maxMissedHeartbeats misses in a row the process is frozen or wedged: the watch reports it
// lost, the worker machine kills it, and the supervisor restarts it like any crash. A long call
// does not miss heartbeats.
//
// A frozen worker is therefore killed at most pingIntervalMs × maxMissedHeartbeats + timeoutMs
// after it froze (16 s with the defaults): the last ping before the kill was sent by then and
// has run out its deadline.
import type { PoolConfig } from '../config.js';
import type { LiveWorker } from '../process/liveWorker.js';

export function watchHeartbeat(
  handle: LiveWorker,
  config: PoolConfig['heartbeat'],
  onMiss: (missed: number, error: Error, fatal: boolean) => void,
): () => void {
  let missed = 0;
  let seq = 0;
  // Set when the watch ends (the worker left `alive`) or has reported it lost: answers still
  // on their way count for nothing then, so a worker being retired is never killed by them.
  let over = false;
  const miss = (error: Error) => {
    if (over || handle.hasExited) return;
    missed++;
    over = missed >= config.maxMissedHeartbeats;
    onMiss(missed, error, over);
  };
  const ping = () => {
    let reply: Promise<unknown>;
    try {
      reply = handle.connection.heartbeat(++seq, config.timeoutMs);
    } catch (error) {
      // A connection closed under us throws at once; that is a miss, never a crash of Node.
      reply = Promise.reject(error);
    }
    reply.then(
      () => {
        if (!over) missed = 0;
      },
      (error: unknown) => miss(error instanceof Error ? error : new Error(String(error))),
    );
  };
  const timer = setInterval(ping, config.pingIntervalMs);
  return () => {
    over = true;
    clearInterval(timer);
  };
}
