// The public entry point: owns the actor tree, the pools' dispatchers and the event emitter,
// and turns the machines' announcements into lifecycle events and start/stop outcomes.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { type Actor, createActor } from 'xstate';
import type { PoolAnnouncement, PoolContext, PoolFailure, PoolInput } from '../machines/pool.machine.js';
import type { RuntimeAnnouncement } from '../machines/runtime.machine.js';
import type { WorkerContext, WorkerStateName } from '../machines/worker.machine.js';
import { createRuntimeLogic, type RuntimeHooks } from './actors.js';
import { type PoolConfig, type ResolvedConfig, resolveConfig, type SnakepitConfig } from './config.js';
import { type CallOptions, Dispatcher, type LoadEvent, type WorkerSlot } from './dispatcher.js';
import {
  InvalidArgumentError,
  MaxRestartsExceededError,
  PoolNotFoundError,
  ShuttingDownError,
  SnakepitError,
  StartupFailedError,
} from './errors.js';
import type { SnakepitEventName, SnakepitEvents } from './events.js';
import type { PythonProcess } from './pythonProcess.js';
import { resolvePythonExecutable } from './pythonExecutable.js';
import type { PoolStats } from './stats.js';
import type { WorkerHandle } from './workerHandle.js';

export interface InspectSnapshot {
  pools: {
    name: string;
    profile: 'process' | 'thread';
    capacity: number;
    state: string;
    workers: {
      id: string;
      pid: number | undefined;
      state: WorkerStateName;
      inFlight: number;
      capacity: number;
      requests: number;
      restarts: number;
      gilEnabled: boolean | undefined;
    }[];
  }[];
}

export interface StopOptions {
  /** How long in-flight and queued calls may take to finish before workers are killed. */
  timeoutMs?: number;
}

type Lifecycle = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

const RootLogic = createRuntimeLogic as (hooks: RuntimeHooks) => ReturnType<typeof createRuntimeLogic>;

export class Snakepit {
  readonly config: ResolvedConfig;
  private readonly events = new EventEmitter<SnakepitEvents>();
  private readonly dispatchers = new Map<string, Dispatcher>();
  private readonly slots = new Map<string, WorkerSlot>();
  private readonly processes = new Set<PythonProcess>();
  private readonly workerStartedAt = new Map<string, number>();
  private readonly poolStartedAt = new Map<string, number>();
  private readonly poolStates = new Map<string, string>();
  private readonly poolErrors = new Map<string, SnakepitError>();
  /** Tags this instance's workers on their command line (`--run-id`). */
  readonly runId = randomBytes(6).toString('hex');
  private readonly pythonExecutable: string;
  private root: Actor<ReturnType<typeof createRuntimeLogic>> | undefined;
  private lifecycle: Lifecycle = 'new';
  private socketDir: string | undefined;
  private startError: SnakepitError | undefined;
  private whenReady = deferred<void>();
  private whenFinished = deferred<void>();
  private stopping: Promise<void> | undefined;
  private readonly killOnExit = () => {
    for (const python of this.processes) python.killNow();
  };

  constructor(config: SnakepitConfig) {
    this.config = resolveConfig(config);
    this.pythonExecutable = resolvePythonExecutable(this.config.python.executable);
    for (const pool of this.config.pools) this.dispatchers.set(pool.name, new Dispatcher(pool, this.events));
  }

  /** Creates a Snakepit and resolves once every worker of every pool is ready. */
  static async start(config: SnakepitConfig): Promise<Snakepit> {
    const pit = new Snakepit(config);
    await pit.start();
    return pit;
  }

  async start(): Promise<void> {
    if (this.lifecycle !== 'new') throw new SnakepitError('INVALID_CONFIG', 'start() was already called on this Snakepit.');
    this.lifecycle = 'starting';
    this.socketDir = mkdtempSync(path.join(os.tmpdir(), 'snakepit-'));
    process.on('exit', this.killOnExit);
    this.root = createActor(RootLogic(this.hooks()), {
      input: { pools: this.config.pools.map(toPoolInput) },
      inspect: this.config.inspect as any,
      systemId: 'snakepit',
    });
    this.root.start();
    await Promise.race([this.whenReady.promise, this.whenFinished.promise]);
    if ((this.lifecycle as Lifecycle) === 'running') return;
    await this.cleanUp();
    throw this.startError ?? new ShuttingDownError();
  }

  /** The root xstate actor: `actor.system.get('pool:name')`, `getSnapshot()`, inspection. */
  get actor(): Actor<ReturnType<typeof createRuntimeLogic>> {
    if (!this.root) throw new SnakepitError('INVALID_CONFIG', 'The actor tree exists once start() has been called.');
    return this.root;
  }

  execute<T = unknown>(tool: string, args: Record<string, unknown> = {}, options: CallOptions = {}): Promise<T> {
    const target = this.route(tool, args, options);
    if (target instanceof SnakepitError) return Promise.reject(target);
    return target.submit(tool, args, options) as Promise<T>;
  }

  /** Runs a generator tool; each value it yields arrives as one chunk. Breaking out cancels it. */
  async *stream<T = unknown>(tool: string, args: Record<string, unknown> = {}, options: CallOptions = {}): AsyncGenerator<T> {
    const target = this.route(tool, args, options);
    if (target instanceof SnakepitError) throw target;
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const chunks: T[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    target
      .submit(tool, args, { ...options, signal }, (chunk) => {
        chunks.push(chunk as T);
        wake?.();
      })
      .then(
        () => (finished = true),
        (error) => ((failure = error), (finished = true)),
      )
      .finally(() => wake?.());
    try {
      for (;;) {
        if (chunks.length > 0) yield chunks.shift()!;
        else if (failure) throw failure;
        else if (finished) return;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      if (!finished) stop.abort();
    }
  }

  private route(tool: string, args: unknown, options: CallOptions): Dispatcher | SnakepitError {
    if (this.lifecycle === 'stopping' || this.lifecycle === 'stopped') return new ShuttingDownError();
    const name = options.pool ?? (this.dispatchers.has('default') ? 'default' : this.config.pools[0].name);
    const dispatcher = this.dispatchers.get(name);
    if (!dispatcher) return new PoolNotFoundError(name, [...this.dispatchers.keys()]);
    if (args === null || typeof args !== 'object' || Array.isArray(args)) {
      return new InvalidArgumentError(tool, `Arguments to tool "${tool}" must be an object of keyword arguments, e.g. { a: 1 }.`);
    }
    return dispatcher;
  }

  on<E extends SnakepitEventName>(event: E, listener: SnakepitEvents[E]): this {
    this.events.on(event, listener as any);
    return this;
  }

  once<E extends SnakepitEventName>(event: E, listener: SnakepitEvents[E]): this {
    this.events.once(event, listener as any);
    return this;
  }

  off<E extends SnakepitEventName>(event: E, listener?: SnakepitEvents[E]): this {
    this.events.off(event, listener as any);
    return this;
  }

  inspect(): InspectSnapshot {
    return {
      pools: this.config.pools.map((pool) => {
        const dispatcher = this.dispatchers.get(pool.name)!;
        return {
          name: pool.name,
          profile: pool.workerProfile,
          capacity: dispatcher.capacity,
          state: this.poolStates.get(pool.name) ?? 'new',
          workers: dispatcher.slots.map((slot) => ({
            id: slot.id,
            pid: slot.pid,
            state: slot.state,
            inFlight: slot.inFlight,
            capacity: slot.capacity,
            requests: slot.requests,
            restarts: slot.restarts,
            gilEnabled: slot.gilEnabled,
          })),
        };
      }),
    };
  }

  stats(pool: string): PoolStats;
  stats(): PoolStats[];
  stats(pool?: string): PoolStats | PoolStats[] {
    if (pool === undefined) return [...this.dispatchers.values()].map((d) => d.snapshot());
    const dispatcher = this.dispatchers.get(pool);
    if (!dispatcher) throw new PoolNotFoundError(pool, [...this.dispatchers.keys()]);
    return dispatcher.snapshot();
  }

  /**
   * Graceful stop: new calls are refused with SHUTTING_DOWN, queued and in-flight calls get up
   * to `timeoutMs` to finish, then every worker gets SIGTERM → grace → SIGKILL (whole process group).
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopping ??= this.shutDown(options.timeoutMs ?? 10_000);
    return this.stopping;
  }

  private async shutDown(timeoutMs: number): Promise<void> {
    if (this.lifecycle === 'new' || this.lifecycle === 'stopped') {
      this.lifecycle = 'stopped';
      return;
    }
    const wasStarting = this.lifecycle === 'starting';
    this.lifecycle = 'stopping';
    const refusal = new ShuttingDownError();
    for (const dispatcher of this.dispatchers.values()) dispatcher.closeIntake(refusal);
    if (!wasStarting) await this.waitForIdle(timeoutMs);
    for (const dispatcher of this.dispatchers.values()) dispatcher.close(refusal);
    const anyInFlight = [...this.dispatchers.values()].some((d) => d.inFlight > 0);
    this.root!.send({ type: anyInFlight ? 'KILL' : 'STOP' });
    await this.whenFinished.promise;
    await this.cleanUp();
  }

  private async waitForIdle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && ![...this.dispatchers.values()].every((d) => d.idle)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Makes sure no worker process survives, then removes the socket directory. */
  private async cleanUp(): Promise<void> {
    await Promise.all([...this.processes].map((python) => python.terminate(0)));
    process.off('exit', this.killOnExit);
    if (this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
    this.lifecycle = 'stopped';
  }

  private hooks(): RuntimeHooks {
    return {
      shutdownGraceMs: this.config.shutdownGraceMs,
      launchOptions: (poolName, workerId) => this.launchOptions(poolName, workerId),
      workerEntered: (context, state, send) => this.workerEntered(context, state, send),
      poolAnnounced: (context, what, workerId) => this.poolAnnounced(context, what, workerId),
      runtimeAnnounced: (announcement) => this.runtimeAnnounced(announcement),
    };
  }

  private launchOptions(poolName: string, workerId: string) {
    const pool = this.poolConfig(poolName);
    const base = () => {
      const slot = this.slots.get(workerId);
      return { pool: poolName, workerId, pid: slot?.pid, at: Date.now() };
    };
    return {
      executable: this.pythonExecutable,
      workerId,
      pool: poolName,
      adapter: pool.adapter,
      profile: pool.workerProfile,
      threads: pool.threadsPerWorker,
      threadSafetyChecks: pool.threadSafetyChecks,
      env: { ...this.config.python.env, ...pool.env },
      pythonPath: this.config.python.pythonPath,
      socketDir: this.socketDir!,
      runId: this.runId,
      startupTimeoutMs: pool.startupTimeoutMs,
      onSpawn: (python: PythonProcess) => {
        this.processes.add(python);
        python.exited.then(() => this.processes.delete(python));
      },
      onLog: (stream: 'stdout' | 'stderr', line: string) => this.events.emit('worker:log', { ...base(), stream, line }),
      onControl: (message: Record<string, unknown>) => {
        if (message.type !== 'thread_safety_warning') return;
        this.events.emit('worker:thread-safety-warning', {
          ...base(),
          kind: String(message.kind),
          tool: message.tool as string | undefined,
          library: message.library as string | undefined,
          threadIds: (message.thread_ids as number[]) ?? [],
          message: String(message.message),
        });
      },
    };
  }

  private poolConfig(name: string): PoolConfig {
    return this.dispatchers.get(name)!.config;
  }

  private workerEntered(
    context: WorkerContext,
    state: WorkerStateName,
    send: (event: LoadEvent) => void,
  ): void {
    const dispatcher = this.dispatchers.get(context.pool)!;
    let slot = this.slots.get(context.id);
    const from = slot?.state;
    if (!slot) {
      slot = {
        id: context.id, pool: context.pool, pid: undefined, state, inFlight: 0, capacity: context.capacity,
        requests: 0, restarts: 0, gilEnabled: undefined, connection: undefined, notify: send,
        reportedInFlight: 0, loadReportPending: false,
      };
      this.slots.set(context.id, slot);
      dispatcher.slots.push(slot);
    }
    slot.state = state;
    slot.notify = send;
    slot.restarts = context.restarts;
    if (context.pid !== undefined) slot.pid = context.pid;
    const base = { pool: context.pool, workerId: context.id, pid: slot.pid, at: Date.now() };
    this.events.emit('worker:state', { ...base, from, to: state });
    switch (state) {
      case 'starting':
        slot.connection = undefined;
        slot.pid = undefined;
        this.workerStartedAt.set(context.id, performance.now());
        this.events.emit('worker:starting', { ...base, pid: undefined, restarts: context.restarts });
        break;
      case 'ready':
        if (from === 'starting') {
          const handle = context.handle as WorkerHandle;
          slot.connection = handle.connection;
          slot.gilEnabled = handle.ready.gil_enabled;
          slot.inFlight = 0;
          slot.reportedInFlight = 0;
          const startupMs = performance.now() - (this.workerStartedAt.get(context.id) ?? performance.now());
          this.events.emit('worker:ready', { ...base, startupMs, gilEnabled: slot.gilEnabled });
          if (context.restarts > 0) this.events.emit('worker:restarted', { ...base, restarts: context.restarts });
        } else {
          this.events.emit('worker:idle', base);
        }
        dispatcher.schedulePump();
        break;
      case 'busy':
        this.events.emit('worker:busy', { ...base, inFlight: slot.inFlight });
        break;
      case 'draining':
        this.events.emit('worker:draining', { ...base, reason: context.retireReason ?? 'shutdown' });
        break;
      case 'recycling':
        if (context.retireReason !== 'shutdown') this.events.emit('worker:recycling', { ...base, reason: context.retireReason ?? 'manual' });
        break;
      case 'crashed':
        slot.connection = undefined;
        this.events.emit('worker:crashed', {
          ...base,
          exitCode: context.exit?.exitCode ?? null,
          signal: context.exit?.signal ?? null,
          reason: context.exit ? 'exited' : 'startup_failed',
        });
        break;
      case 'stopped':
        slot.connection = undefined;
        this.slots.delete(context.id);
        dispatcher.slots.splice(dispatcher.slots.indexOf(slot), 1);
        this.events.emit('worker:stopped', base);
        break;
    }
  }

  private poolAnnounced(context: PoolContext, what: PoolAnnouncement, workerId: string | undefined): void {
    const pool = context.name;
    const at = Date.now();
    if (what !== 'batch' && what !== 'restart') this.poolStates.set(pool, what);
    switch (what) {
      case 'starting':
        this.poolStartedAt.set(pool, performance.now());
        this.events.emit('pool:starting', { pool, at, poolSize: context.poolSize, capacity: context.poolSize * context.workerCapacity });
        break;
      case 'batch': {
        const first = (context.batches - 1) * context.startupBatchSize;
        const workerIds = context.workers.slice(first, context.spawned).map((w) => w.id);
        const batches = Math.ceil(context.poolSize / context.startupBatchSize);
        this.events.emit('pool:batch', { pool, at, batch: context.batches, batches, workerIds });
        break;
      }
      case 'ready':
        this.events.emit('pool:ready', {
          pool, at, workers: context.poolSize, capacity: context.poolSize * context.workerCapacity,
          startupMs: performance.now() - (this.poolStartedAt.get(pool) ?? performance.now()),
        });
        break;
      case 'failed': {
        const error = failureError(context, context.failure!);
        this.poolErrors.set(pool, error);
        this.dispatchers.get(pool)!.close(error);
        this.events.emit('pool:failed', { pool, at, reason: context.failure!.reason, error });
        break;
      }
      case 'restart': {
        const slot = workerId ? this.slots.get(workerId) : undefined;
        this.events.emit('supervisor:restart', {
          pool, at, workerId: workerId!, pid: slot?.pid, strategy: context.restart.strategy, restartsInWindow: context.restartLog.length,
        });
        break;
      }
    }
  }

  private runtimeAnnounced(announcement: RuntimeAnnouncement): void {
    switch (announcement.what) {
      case 'ready':
        if (this.lifecycle === 'starting') this.lifecycle = 'running';
        this.whenReady.resolve();
        break;
      case 'escalation':
        this.events.emit('supervisor:escalation', {
          pool: announcement.pool, at: Date.now(), reason: announcement.failure.reason, error: this.poolErrors.get(announcement.pool)!,
        });
        break;
      case 'start_failed':
        this.startError = this.poolErrors.get(announcement.pool);
        this.whenFinished.resolve();
        break;
      case 'stopped':
        this.whenFinished.resolve();
        break;
    }
  }
}

function toPoolInput(pool: PoolConfig): PoolInput {
  return {
    name: pool.name,
    poolSize: pool.poolSize,
    workerCapacity: pool.threadsPerWorker,
    startupBatchSize: pool.startupBatchSize,
    startupBatchDelayMs: pool.startupBatchDelayMs,
    startupTimeoutMs: pool.startupTimeoutMs,
    restart: pool.restart,
  };
}

function failureError(context: PoolContext, failure: PoolFailure): SnakepitError {
  switch (failure.reason) {
    case 'max_restarts':
      return new MaxRestartsExceededError(context.name, context.restart.intensity, context.restart.periodMs);
    case 'startup_timeout':
      return new StartupFailedError(
        `Pool "${context.name}" was not ready within startupTimeoutMs (${context.startupTimeoutMs} ms).`,
        { pool: context.name },
      );
    case 'startup_failed': {
      const cause = failure.error;
      if (cause instanceof StartupFailedError) return cause;
      const exit = cause as { exitCode?: number | null; signal?: string | null } | undefined;
      const text = cause instanceof Error ? cause.message : exit ? `exit code ${exit.exitCode}, signal ${exit.signal}` : 'unknown cause';
      return new StartupFailedError(`Worker ${failure.workerId} of pool "${context.name}" failed during start-up: ${text}`, {
        pool: context.name,
        workerId: failure.workerId,
      });
    }
  }
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
