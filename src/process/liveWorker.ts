// A running worker as the supervision sees it, whatever runs it: a local process and its
// connection (workerHandle.ts) or a connection to a bridge server (remote/remoteWorker.ts).
import type { SnakepitError, WorkerExit } from '../errors.js';
import type { WorkerConnection } from '../wire/workerConnection.js';

/** What the runtime needs of a running worker, wherever it runs. */
export interface LiveWorker {
  readonly pid: number;
  readonly connection: WorkerConnection;
  readonly gilEnabled: boolean;
  /** Calls it runs at once, when the worker says so itself (a bridge server). */
  readonly capacity?: number;
  /** Settles once the worker is gone: its process exited, or its server can no longer be reached. */
  readonly exited: Promise<WorkerExit>;
  readonly hasExited: boolean;
  /** Ends it at once; `exited` follows. */
  kill(): void;
  /** Ends it: calls still held fail with `reason` (those not started go back to their queue). */
  retire(graceMs: number, reason?: SnakepitError): Promise<unknown>;
}
