// The live handles of running workers (process + connection), keyed by worker id. They stay
// out of the machines' contexts, which users inspect and persist: a handle holds the worker's
// token and environment, and cannot be serialised.
import type { WorkerHandle } from './workerHandle.js';

export class LiveWorkers {
  private readonly handles = new Map<string, WorkerHandle>();

  /** Records a booted worker's handle, dropped again once its process has exited. */
  add(workerId: string, handle: WorkerHandle): void {
    this.handles.set(workerId, handle);
    handle.process.exited.then(() => {
      if (this.handles.get(workerId) === handle) this.handles.delete(workerId);
    });
  }

  get(workerId: string): WorkerHandle | undefined {
    return this.handles.get(workerId);
  }
}
