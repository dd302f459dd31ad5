// The live handles of running workers (a local process and its connection, or a connection to a
// bridge server), keyed by worker id. They stay out of the machines' contexts, which users
// inspect and persist: a handle holds the worker's token and environment, and cannot be serialised.
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

export class LiveWorkers {
  private readonly handles = new Map<string, LiveWorker>();

  /** Records a booted worker's handle, dropped again once it is gone. */
  add(workerId: string, handle: LiveWorker): void {
    this.handles.set(workerId, handle);
    handle.exited.then(() => {
      if (this.handles.get(workerId) === handle) this.handles.delete(workerId);
    });
  }

  get(workerId: string): LiveWorker | undefined {
    return this.handles.get(workerId);
  }
}
