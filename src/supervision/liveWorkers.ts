// The live worker processes of one Snakepit, and the booted workers' handles. A process counts
// from its spawn (before it is ready, so a start cut short still ends it) until its group has
// ended; the run's record on disk lists their PIDs. A booted worker's handle (its process and
// connection, or a bridge server's connection) is held by the worker's slot until it exits, so
// the dispatcher routes over it and the machines' effects find it there. Handles stay out of the
// machines' contexts, which users inspect and persist: a handle holds the worker's token and
// environment, and cannot be serialised.
import type { WorkerSlot } from '../calls/workerSlot.js';
import type { LiveWorker } from '../process/liveWorker.js';

/** A process of the run: a worker, or a pool's fork server. */
export interface RunProcess {
  readonly pid: number | undefined;
  /** Its whole process group has ended. */
  readonly ended: Promise<unknown>;
  terminate(graceMs: number): Promise<unknown>;
}

export class LiveWorkers {
  private readonly processes = new Set<RunProcess>();

  constructor(
    private readonly slotOf: (pool: string, workerId: string) => WorkerSlot | undefined,
    /** Persists the PIDs of the live processes (the run's record), after each change. */
    private readonly record: (pids: number[]) => void,
  ) {}

  /** A worker process (or fork server) was started: it is live until its whole group has ended. */
  spawned(python: RunProcess): void {
    this.processes.add(python);
    this.record(this.pids());
    void python.ended.then(() => {
      this.processes.delete(python);
      this.record(this.pids());
    });
  }

  /**
   * A worker booted: its slot holds the handle until it exits. False if the worker has left its
   * pool meanwhile (its start was given up): nobody will route to it or retire it.
   */
  booted(pool: string, workerId: string, handle: LiveWorker): boolean {
    const slot = this.slotOf(pool, workerId);
    slot?.attach(handle);
    return slot !== undefined;
  }

  get(pool: string, workerId: string): LiveWorker | undefined {
    return this.slotOf(pool, workerId)?.live;
  }

  pids(): number[] {
    const pids: number[] = [];
    for (const python of this.processes) if (python.pid !== undefined) pids.push(python.pid);
    return pids;
  }

  /** Ends every process still live; one spawned meanwhile (a launch under way) is ended too. */
  async endAll(): Promise<void> {
    while (this.processes.size > 0) await Promise.all([...this.processes].map((python) => python.terminate(0)));
  }
}
