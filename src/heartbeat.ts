// Liveness: every pingIntervalMs the worker is asked for a heartbeat that Python code answers
// (on a gRPC thread that tool calls never occupy), each with its own deadline. After
// maxMissedHeartbeats misses in a row the process is frozen or wedged: it is killed, and the
// supervisor restarts it like any crash. A long call does not miss heartbeats.
import type { PoolConfig } from './config.js';
import type { WorkerHandle } from './workerHandle.js';

export function watchHeartbeat(
  handle: WorkerHandle,
  config: PoolConfig['heartbeat'],
  onMiss: (missed: number, error: Error, fatal: boolean) => void,
): () => void {
  let missed = 0;
  let seq = 0;
  let dead = false;
  const ping = () => {
    handle.connection.heartbeat(++seq, config.timeoutMs).then(
      () => {
        missed = 0;
      },
      (error: Error) => {
        if (dead || handle.process.exit) return;
        missed++;
        dead = missed >= config.maxMissedHeartbeats;
        onMiss(missed, error, dead);
        if (dead) handle.process.signalGroup('SIGKILL');
      },
    );
  };
  const timer = setInterval(ping, config.pingIntervalMs);
  return () => clearInterval(timer);
}
