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
import { type CallOptions, Dispatcher, type LoadEvent, type WorkerInfo, type WorkerSlot } from './dispatcher.js';
import {
  InvalidArgumentError,
  MaxRestartsExceededError,
  WorkerCrashedError,
  PoolNotFoundError,
  ShuttingDownError,
  SnakepitError,
  StartupFailedError,
} from './errors.js';
import type { SnakepitEventName, SnakepitEvents } from './events.js';
import type { PythonProcess } from './pythonProcess.js';
import { resolvePythonExecutable } from './pythonExecutable.js';
import { Recycler, type RecycleReason } from './recycler.js';
import { RunRegistry } from './runRegistry.js';
import type { PoolStats } from './stats.js';
import type { WorkerHandle } from './workerHandle.js';

export interface SupervisorInfo {
  strategy: string;
  intensity: number;
  periodMs: number;
  restartsInWindow: number;
  /** Children in start order: worker ids for a pool, pool names for the root. */
  children: string[];
}

export interface InspectSnapshot {
  /** The root supervisor over pools. */
  supervisor: SupervisorInfo;
  pools: {
    name: string;
    profile: 'process' | 'thread';
    capacity: number;
    state: string;
    /** The pool as the supervisor of its workers. */
    supervisor: SupervisorInfo;
    workers: WorkerInfo[];
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
  private readonly recyclers = new Map<string, Recycler>();
  private readonly heartbeatKills = new Set<string>();
  private readonly stoppedWaiters = new Map<string, () => void>();
  private registry: RunRegistry | undefined;
  /** Set when the root supervisor gave up: every call fails with it. */
  private failure: SnakepitError | undefined;
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
  /** Workers of an earlier run of this instance that were still alive at start, and killed. */
  survivorsKilled: number[] = [];
  private readonly killOnExit = () => {
    for (const python of this.processes) python.killNow();
  };

  constructor(config: SnakepitConfig) {
    this.config = resolveConfig(config);
    this.pythonExecutable = resolvePythonExecutable(this.config.python.executable);
    for (const pool of this.config.pools) {
      const recycler = new Recycler(pool, (workerId, reason) => this.requestRecycle(pool.name, workerId, reason));
      this.recyclers.set(pool.name, recycler);
      const observer = { callStarted: (slot: WorkerSlot) => recycler.callStarted(slot), callEnded: (slot: WorkerSlot) => recycler.callEnded(slot) };
      this.dispatchers.set(pool.name, new Dispatcher(pool, this.events, observer));
    }
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
    this.registry = new RunRegistry(this.config.instanceId ?? RunRegistry.defaultInstanceId(this.config.pools), this.runId);
    this.survivorsKilled = this.registry.killSurvivors();
    this.root = createActor(RootLogic(this.hooks()), {
      input: { pools: this.config.pools.map(toPoolInput), supervisor: this.config.supervisor },
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
    if (this.failure) return this.failure;
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
    const root = this.root?.getSnapshot().context;
    return {
      supervisor: supervisorInfo(this.config.supervisor, root?.restartLog, root?.pools.map((p) => p.name)),
      pools: this.config.pools.map((pool) => {
        const dispatcher = this.dispatchers.get(pool.name)!;
        return {
          name: pool.name,
          profile: pool.workerProfile,
          capacity: dispatcher.capacity,
          state: this.poolStates.get(pool.name) ?? 'new',
          supervisor: this.supervisorState(pool),
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

  private supervisorState(pool: PoolConfig): SupervisorInfo {
    const context = this.root?.system.get(`pool:${pool.name}`)?.getSnapshot().context as PoolContext | undefined;
    return supervisorInfo(pool.restart, context?.restartLog, context?.workers.map((w) => w.id));
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
    this.registry?.clear();
    for (const recycler of this.recyclers.values()) recycler.stopAll();
    if (this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
    this.lifecycle = 'stopped';
  }

  private hooks(): RuntimeHooks {
    return {
      shutdownGraceMs: this.config.shutdownGraceMs,
      launchOptions: (poolName, workerId) => this.launchOptions(poolName, workerId),
      retireError: (poolName, workerId, reason) => this.retireError(poolName, workerId, reason),
      heartbeatConfig: (poolName) => this.poolConfig(poolName).heartbeat,
      heartbeatMissed: (workerId, missed, error, fatal) => {
        const slot = this.slots.get(workerId);
        if (!slot) return;
        if (fatal) this.heartbeatKills.add(workerId);
        this.events.emit('worker:heartbeat-missed', {
          pool: slot.pool, workerId, pid: slot.pid, at: Date.now(), missed, error: error.message,
        });
      },
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
        if (python.pid !== undefined) this.registry?.add(python.pid);
        python.exited.then(() => {
          this.processes.delete(python);
          if (python.pid !== undefined) this.registry?.remove(python.pid);
        });
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

  /** What calls held by a worker that is being ended fail with, by why it is ended. */
  private retireError(poolName: string, workerId: string, reason: string): SnakepitError | undefined {
    const slot = this.slots.get(workerId);
    switch (reason) {
      case 'shutdown':
        return new ShuttingDownError();
      case 'pool_failed':
        return this.poolErrors.get(poolName);
      case 'pool_restart':
      case 'restart':
        return new WorkerCrashedError(workerId, slot?.pid, { exitCode: null, signal: 'SIGTERM' });
      default:
        return undefined; // a recycled worker has drained: nothing is in flight
    }
  }

  private requestRecycle(poolName: string, workerId: string, reason: RecycleReason): void {
    this.root?.system.get(`pool:${poolName}`)?.send({ type: 'RECYCLE', id: workerId, reason });
  }

  /**
   * Replaces a worker: a new one is started first, then this one drains (finishes its calls,
   * takes no new ones) and is retired. Resolves once it has stopped.
   */
  recycleWorker(workerId: string): Promise<void> {
    const slot = this.slots.get(workerId);
    if (!slot || this.lifecycle !== 'running') {
      return Promise.reject(new SnakepitError('INVALID_ARGUMENT', `No running worker "${workerId}"; see inspect() for worker ids.`));
    }
    const stopped = new Promise<void>((resolve) => this.stoppedWaiters.set(workerId, () => {
      this.stoppedWaiters.delete(workerId);
      resolve();
    }));
    slot.recycleRequested = false;
    this.recyclers.get(slot.pool)!.request(slot, 'manual');
    return stopped;
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
        reportedInFlight: 0, loadReportPending: false, startedCalls: 0, callLimit: Infinity, recycleRequested: false,
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
          this.recyclers.get(context.pool)!.workerReady(slot);
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
      case 'crashed': {
        slot.connection = undefined;
        this.recyclers.get(context.pool)!.workerGone(slot);
        const killedByHeartbeat = this.heartbeatKills.delete(context.id);
        this.events.emit('worker:crashed', {
          ...base,
          exitCode: context.exit?.exitCode ?? null,
          signal: context.exit?.signal ?? null,
          reason: killedByHeartbeat ? 'heartbeat' : context.exit ? 'exited' : 'startup_failed',
        });
        break;
      }
      case 'stopped':
        slot.connection = undefined;
        this.recyclers.get(context.pool)!.workerGone(slot);
        this.stoppedWaiters.get(context.id)?.();
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
        // Queued calls stay queued: the root supervisor may restart this pool.
        const error = failureError(context, context.failure!);
        this.poolErrors.set(pool, error);
        this.events.emit('pool:failed', { pool, at, reason: context.failure!.reason, error });
        break;
      }
      case 'restart': {
        const slot = workerId ? this.slots.get(workerId) : undefined;
        this.events.emit('supervisor:restart', {
          pool, at, level: 'pool', workerId, pid: slot?.pid, strategy: context.restart.strategy,
          restartsInWindow: context.restartLog.length,
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
      case 'pool_escalated': {
        const at = Date.now();
        this.events.emit('supervisor:escalation', {
          pool: announcement.pool, at, level: 'pool', reason: announcement.failure.reason, error: this.poolErrors.get(announcement.pool)!,
        });
        for (const pool of announcement.restarting) {
          this.events.emit('supervisor:restart', {
            pool, at, level: 'root', strategy: this.config.supervisor.strategy, restartsInWindow: announcement.restartsInWindow,
          });
        }
        break;
      }
      case 'escalation': {
        const { intensity, periodMs } = this.config.supervisor;
        this.failure = new MaxRestartsExceededError(announcement.pool, intensity, periodMs, 'root');
        for (const dispatcher of this.dispatchers.values()) dispatcher.close(this.failure);
        this.events.emit('supervisor:escalation', {
          pool: announcement.pool, at: Date.now(), level: 'pool', reason: announcement.failure.reason, error: this.poolErrors.get(announcement.pool)!,
        });
        this.events.emit('supervisor:escalation', {
          pool: announcement.pool, at: Date.now(), level: 'root', reason: announcement.failure.reason, error: this.failure,
        });
        break;
      }
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

function supervisorInfo(
  rules: { strategy: string; intensity: number; periodMs: number },
  restartLog: number[] = [],
  children: string[] = [],
): SupervisorInfo {
  const now = Date.now();
  const { strategy, intensity, periodMs } = rules;
  return { strategy, intensity, periodMs, restartsInWindow: restartLog.filter((at) => now - at < periodMs).length, children };
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
