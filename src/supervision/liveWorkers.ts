// The live handles of running workers (a local process and its connection, or a connection to a
// bridge server), keyed by worker id. They stay out of the machines' contexts, which users
// inspect and persist: a handle holds the worker's token and environment, and cannot be serialised.
import type { LiveWorker } from '../process/liveWorker.js';

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
