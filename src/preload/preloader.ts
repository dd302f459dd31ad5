// The runtime side of a pool's fork server: its actor (machines/forkServer.machine.ts) decides
// when it starts, restarts or is given up; this holds the running process, starts it when the
// actor loads, tells the actor when it exits, and answers the pool's worker starts — a fork
// while it is ready, a wait while it (re)starts, and "spawn this one" once it is refused, failed
// or stopped. Every state the actor enters, but `starting`, is one `pool:preload` event.
import type { ForkServerContext, ForkServerStateName, LoadOutcome } from '../../machines/forkServer.machine.js';
import type { WorkerExit } from '../errors.js';
import type { PreloadInfo } from '../events.js';
import type { Preloader as PreloaderPort, StartedProcess } from '../process/pythonProcess.js';
import { ForkServer, ForkServerGone, type ForkServerOptions, type Loaded } from './forkServer.js';

export interface PreloaderHooks {
  /** Tracks its process like a worker's (the run's record, stop()). */
  spawned(server: ForkServer): void;
  changed(info: PreloadInfo): void;
}

export class Preloader implements PreloaderPort {
  private state: ForkServerStateName = 'starting';
  private info: PreloadInfo = { state: 'starting', pid: undefined, restarts: 0 };
  private server: ForkServer | undefined;
  /** Worker starts waiting for the fork server to be ready or given up. */
  private waiting: (() => void)[] = [];

  constructor(
    private readonly options: ForkServerOptions,
    private readonly hooks: PreloaderHooks,
  ) {}

  /** A worker forked from the fork server; undefined when the pool spawns this one instead. */
  async fork(args: string[], signal?: AbortSignal): Promise<StartedProcess | undefined> {
    while (this.state === 'starting' || this.state === 'restarting') {
      if (signal?.aborted) return undefined;
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiting.push(() => {
          signal?.removeEventListener('abort', onAbort); // one listener per wait, not one per restart waited out
          resolve();
        });
      });
    }
    if (this.state !== 'ready' || !this.server) return undefined;
    try {
      return await this.server.fork(args, signal);
    } catch (error) {
      if (error instanceof ForkServerGone) return undefined; // it died under this request: spawned, not kept waiting
      throw error;
    }
  }

  /** The actor's `load`: starts a fork server and resolves once it forks, or says why it will not. */
  async load(signal: AbortSignal): Promise<LoadOutcome> {
    if (process.platform !== 'linux') {
      return { ok: false, refused: false, message: 'preloading needs Linux (/proc, and each fork rewrites its environment block in place)' };
    }
    let server: ForkServer;
    try {
      server = await ForkServer.start(this.options);
    } catch (error) {
      return { ok: false, refused: false, message: `the fork server's link socket could not be opened: ${(error as Error).message}` };
    }
    this.server = server;
    this.hooks.spawned(server);
    const onAbort = () => server.killNow(); // stopped while loading: nothing will fork from it
    if (signal.aborted) onAbort(); // stopped while its link socket was opened
    else signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<Loaded>((resolve) => {
      timer = setTimeout(() => resolve({
        ok: false, refused: false,
        message: `the fork server had not loaded adapter ${this.options.adapter} within ${this.options.startupTimeoutMs} ms (startupTimeoutMs)`,
      }), this.options.startupTimeoutMs);
    });
    const outcome = await Promise.race([server.loaded, timedOut]);
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    if (!outcome.ok) {
      server.killNow();
      return outcome;
    }
    return { ok: true, pid: server.pid! };
  }

  /**
   * The actor's `watchExit`: `exited` once the running fork server exits. The actor stops
   * watching a live one only when it is itself stopped (with its pool): the process goes too.
   */
  watchExit(exited: (exit: WorkerExit) => void): () => void {
    let watching = true;
    const server = this.server;
    void (server ? server.process.exited : Promise.resolve({ exitCode: null, signal: null })).then((exit) => watching && exited(exit));
    return () => {
      watching = false;
      server?.killNow();
    };
  }

  /** The actor entered `state`; `starting` is no news (the first start, or after `restarting`). */
  entered(state: ForkServerStateName, context: ForkServerContext): void {
    if (this.state === 'stopped') return; // closed: the actor's last states come after
    this.state = state;
    if (state !== 'starting') this.report(context);
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** No more forks: what waits spawns, and the process ends with the run's others. A refused or failed one stays so. */
  close(): void {
    const given = this.state === 'refused' || this.state === 'failed';
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    for (const wake of this.waiting.splice(0)) wake();
    if (given) return;
    const { message: _why, ...last } = this.info;
    this.hooks.changed({ ...last, state: 'stopped', pid: undefined });
  }

  private report(context: ForkServerContext): void {
    const { pid, restarts, message } = context;
    this.info = { state: this.state, pid, restarts, ...(message === undefined ? {} : { message }) };
    this.hooks.changed(this.info);
  }
}
