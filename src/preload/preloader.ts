// The fork server of one pool with `preload`, supervised: started with the pool's first worker,
// restarted under the pool's restart rules when it dies (its forks keep serving meanwhile: they
// are not its children in any way that matters to them), and given up for spawning when it is
// refused (threads at import), fails to load, or dies too often. Every change of its state is
// one `pool:preload` event.
import { exceedsIntensity, shouldRestart } from '../../machines/restartPolicy.js';
import type { PoolConfig } from '../config.js';
import type { WorkerExit } from '../errors.js';
import type { PreloadInfo, PreloadState } from '../events.js';
import type { Preloader as PreloaderPort, StartedProcess } from '../process/pythonProcess.js';
import { ForkServer, ForkServerGone, type ForkServerOptions } from './forkServer.js';

export interface PreloaderHooks {
  /** Tracks its process like a worker's (the run's record, stop()). */
  spawned(server: ForkServer): void;
  changed(info: PreloadInfo): void;
}

export class Preloader implements PreloaderPort {
  private state: PreloadState = 'starting';
  private server: ForkServer | undefined;
  private loading: Promise<ForkServer | undefined> | undefined;
  private restartTimes: number[] = [];
  private restarts = 0;
  private message: string | undefined;
  private backoff: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: ForkServerOptions & { startupTimeoutMs: number },
    private readonly restart: PoolConfig['restart'],
    private readonly hooks: PreloaderHooks,
  ) {}

  get info(): PreloadInfo {
    const pid = this.server && !this.server.exit && !this.isFinal() ? this.server.pid : undefined;
    return { state: this.state, pid, restarts: this.restarts, ...(this.message === undefined ? {} : { message: this.message }) };
  }

  /** A worker forked from the fork server; undefined when the pool spawns instead. */
  async fork(args: string[], signal?: AbortSignal): Promise<StartedProcess | undefined> {
    const server = await this.current();
    if (!server) return undefined;
    try {
      return await server.fork(args, signal);
    } catch (error) {
      if (error instanceof ForkServerGone) return undefined; // died under this request: spawned, not kept waiting
      throw error;
    }
  }

  /** No more forks or restarts; its process ends with the run's other processes. */
  close(): void {
    clearTimeout(this.backoff);
    if (this.state !== 'refused' && this.state !== 'failed') this.enter('stopped');
  }

  private current(): Promise<ForkServer | undefined> {
    if (this.isFinal()) return Promise.resolve(undefined);
    this.loading ??= this.load();
    return this.loading;
  }

  private isFinal(): boolean {
    return this.state === 'refused' || this.state === 'failed' || this.state === 'stopped';
  }

  private async load(): Promise<ForkServer | undefined> {
    clearTimeout(this.backoff);
    let server: ForkServer;
    try {
      server = await ForkServer.start(this.options);
    } catch (error) {
      this.giveUp('failed', `the fork server's link socket could not be opened: ${(error as Error).message}`);
      return undefined;
    }
    this.server = server;
    this.hooks.spawned(server);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<{ ok: false; reason: 'timeout'; message: string }>((resolve) => {
      timer = setTimeout(() => resolve({
        ok: false, reason: 'timeout',
        message: `the fork server had not loaded adapter ${this.options.adapter} within ${this.options.startupTimeoutMs} ms (startupTimeoutMs)`,
      }), this.options.startupTimeoutMs);
    });
    const outcome = await Promise.race([server.loaded, timedOut]);
    clearTimeout(timer);
    if (this.state === 'stopped') return undefined;
    if (!outcome.ok) {
      server.killNow();
      this.giveUp(outcome.reason === 'refused' ? 'refused' : 'failed', outcome.message);
      return undefined;
    }
    void server.process.exited.then((exit) => this.serverExited(server, exit));
    this.enter('ready');
    return server;
  }

  private serverExited(server: ForkServer, exit: WorkerExit): void {
    if (this.server !== server || this.isFinal()) return;
    this.loading = undefined;
    if (!shouldRestart(this.restart.type, exit)) {
      this.giveUp('failed', `the fork server exited and the pool's restart type is "${this.restart.type}"`);
      return;
    }
    const now = Date.now();
    this.restartTimes = this.restartTimes.filter((at) => now - at < this.restart.periodMs);
    if (exceedsIntensity(this.restartTimes.length, this.restart.intensity)) {
      this.giveUp('failed', `the fork server died more than ${this.restart.intensity} times within ${this.restart.periodMs} ms`);
      return;
    }
    this.restartTimes.push(now);
    this.restarts += 1;
    this.enter('restarting');
    // A fork asked for meanwhile starts it at once; otherwise it comes back after the backoff.
    this.backoff = setTimeout(() => void this.current(), this.restart.backoffMs);
  }

  private giveUp(state: 'refused' | 'failed', message: string): void {
    this.message = message;
    this.enter(state);
  }

  private enter(state: PreloadState): void {
    this.state = state;
    this.hooks.changed(this.info);
  }
}
