// How the façade's processes start: a local worker's launch options, a remote worker's, a pool's
// fork server, and a pool's input to its machine — each from the pool's options, the chosen
// Python and the run. Snakepit hands these to the supervision hooks; nothing here is kept.
import type { EventEmitter } from 'eventemitter3';
import type { PoolInput } from '../machines/pool.machine.js';
import type { HostFunctions } from './calls/hostFunctions.js';
import type { PoolConfig, ResolvedConfig } from './config.js';
import type { SnakepitEvents } from './events.js';
import { Preloader } from './preload/preloader.js';
import type { PythonChoice } from './process/pythonExecutable.js';
import type { PythonProcess } from './process/pythonProcess.js';
import type { RemotePools } from './remote/remotePools.js';
import type { LiveWorkers } from './supervision/liveWorkers.js';

type LogEntry = Parameters<SnakepitEvents['worker:log']>[0];

/** What every launch reads: the run's parts, owned by Snakepit. */
export interface LaunchSources {
  config: ResolvedConfig;
  python: PythonChoice;
  runId: string;
  events: EventEmitter<SnakepitEvents>;
  live: LiveWorkers;
  host: HostFunctions;
  remote: RemotePools;
  preloaders: Map<string, Preloader>;
  poolConfig(name: string): PoolConfig;
  /** The run registry's socket directory, made by start(). */
  socketDir(): string;
}

export class Launches {
  constructor(private readonly run: LaunchSources) {}

  /** A local worker's launch options. */
  worker(poolName: string, workerId: string) {
    const pool = this.run.poolConfig(poolName);
    const base = (pid: number | undefined) => ({ pool: poolName, workerId, pid, at: Date.now() });
    return {
      ...this.pythonOptions(pool),
      preloader: this.run.preloaders.get(poolName),
      executableSource: this.run.python.reason,
      workerId,
      profile: pool.workerProfile === 'thread' ? ('thread' as const) : ('process' as const),
      threads: pool.threadsPerWorker,
      threadSafetyChecks: pool.threadSafetyChecks,
      idlePollMicros: pool.idlePollMicros,
      maxMessageBytes: pool.maxMessageBytes,
      host: this.run.host.forPool({ maxDepth: pool.maxArgumentDepth, maxBytes: pool.maxMessageBytes }),
      onSpawn: (python: PythonProcess) => this.run.live.spawned(python),
      onLog: (stream: 'stdout' | 'stderr', line: string, pid: number | undefined) => this.log({ ...base(pid), stream, line }),
      onControl: (message: Record<string, unknown>, pid: number | undefined) => {
        if (message.type !== 'thread_safety_warning') return;
        this.run.events.emit('worker:thread-safety-warning', {
          ...base(pid),
          kind: String(message.kind),
          tool: message.tool as string | undefined,
          library: message.library as string | undefined,
          threadIds: (message.thread_ids as number[]) ?? [],
          message: String(message.message),
        });
      },
    };
  }

  /** A remote worker's: the server it connects to, with the pool's token and TLS. */
  remote(poolName: string, workerId: string, endpoint: string) {
    const pool = this.run.poolConfig(poolName);
    return {
      pool: poolName,
      workerId,
      endpoint,
      token: pool.token!,
      security: this.run.remote.securityOf(poolName),
      connectTimeoutMs: pool.startupTimeoutMs,
      host: this.run.host.forPool({ maxDepth: pool.maxArgumentDepth, maxBytes: pool.maxMessageBytes }),
    };
  }

  /** A pool's fork server (`preload`), started with what its workers would be. */
  forkServer(pool: PoolConfig): Preloader {
    const options = {
      ...this.pythonOptions(pool),
      onLog: (stream: 'stdout' | 'stderr', line: string, pid: number | undefined) =>
        this.log({ pool: pool.name, workerId: `${pool.name}-preload`, pid, at: Date.now(), stream, line }),
    };
    return new Preloader(options, {
      spawned: (server) => this.run.live.spawned(server),
      changed: (info) => this.run.events.emit('pool:preload', { pool: pool.name, at: Date.now(), ...info }),
    });
  }

  /** What a pool's workers and its fork server are started with alike. */
  private pythonOptions(pool: PoolConfig) {
    const { config, python, runId } = this.run;
    return {
      executable: python.path,
      pool: pool.name,
      adapter: pool.adapter,
      transport: pool.transport,
      env: { ...config.python.env, ...pool.env },
      pythonPath: config.python.pythonPath,
      socketDir: this.run.socketDir(),
      runId,
      startupTimeoutMs: pool.startupTimeoutMs,
    };
  }

  private log(entry: LogEntry): void {
    this.run.events.emit('worker:log', entry);
    if (this.run.config.logger) this.run.config.logger(entry);
  }
}

/** A pool's input to its machine; a remote pool has a worker per endpoint. */
export function toPoolInput(pool: PoolConfig, endpoints: string[] | undefined): PoolInput {
  return {
    name: pool.name,
    ...(endpoints ? { endpoints } : {}),
    poolSize: endpoints ? endpoints.length : pool.poolSize,
    workerCapacity: pool.threadsPerWorker,
    startupBatchSize: pool.startupBatchSize,
    startupBatchDelayMs: pool.startupBatchDelayMs,
    startupTimeoutMs: pool.startupTimeoutMs,
    restart: pool.restart,
    ...(pool.preload ? { preload: true } : {}),
  };
}
