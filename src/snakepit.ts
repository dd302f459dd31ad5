// The public entry point: owns the actor tree, the pools' dispatchers and the event emitter;
// starts and stops the runtime, routes calls, and answers inspect() and stats().
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { type Actor, type AnyActorRef, createActor, toPromise, waitFor } from 'xstate';
import type { SupervisorOutput } from '../machines/supervisor.machine.js';
import type { RecycleReason, WorkerContext } from '../machines/worker.machine.js';
import { createSupervisorLogic, type SupervisorHooks } from './supervision/actors.js';
import { CallbackGuard } from './callbackGuard.js';
import { checkBroadcast, checkCall, describeValue, isDuration } from './calls/callChecks.js';
import { MAX_DURATION_MS, type PoolConfig, type ResolvedConfig, resolveConfig, type SnakepitConfig } from './config.js';
import type { BroadcastOptions, BroadcastResult, CallOptions, StreamOptions } from './calls/calls.js';
import type { WorkerSlot } from './calls/workerSlot.js';
import { Dispatcher } from './calls/dispatcher.js';
import { InvalidArgumentError, InvalidStateError, PoolNotFoundError, ShuttingDownError, SnakepitError } from './errors.js';
import type { SnakepitEventName, SnakepitEvents } from './events.js';
import { Failures } from './supervision/failures.js';
import { type ExposedFunction, HostFunctions } from './calls/hostFunctions.js';
import { LifecycleReporter } from './supervision/lifecycle.js';
import { type Inspection, resolveInspection } from './observe/inspectorOption.js';
import { LiveWorkers } from './supervision/liveWorkers.js';
import { Metrics, WorkerTotals } from './observe/metrics.js';
import { explainPythonExecutable, type PythonChoice } from './process/pythonExecutable.js';
import { Recycler } from './supervision/recycler.js';
import type { Preloader } from './preload/preloader.js';
import { Launches, toPoolInput } from './launches.js';
import { RemotePools } from './remote/remotePools.js';
import { healthReport, type HealthReport, type InspectSnapshot, inspectSnapshot, type ViewSource } from './supervision/inspectView.js';
import { streamChunks } from './calls/streamChunks.js';
import { type AnyTools, type ToolSet, type ToolsView, toolsView } from './calls/toolTypes.js';
import { loadTracer } from './observe/tracing.js';
import { RunRegistry } from './registry/runRegistry.js';
import { stopOnSignals } from './signals.js';
import type { PoolStats } from './observe/stats.js';

export interface StopOptions {
  /** How long in-flight and queued calls may take to finish before workers are killed. */
  timeoutMs?: number;
}

type Lifecycle = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export class Snakepit {
  readonly config: ResolvedConfig;
  private readonly events = new EventEmitter<SnakepitEvents>();
  /** Runs the application's listeners and onProgress callbacks isolated (callbackGuard.ts). */
  private readonly callbacks = new CallbackGuard();
  private readonly dispatchers = new Map<string, Dispatcher>();
  private readonly recyclers = new Map<string, Recycler>();
  /** The fork servers of the pools with `preload`. */
  private readonly preloaders = new Map<string, Preloader>();
  /** The live worker processes, and the booted workers' handles (held by their slots). */
  private readonly live = new LiveWorkers(
    (pool, workerId) => this.dispatchers.get(pool)?.slot(workerId),
    (pids) => this.registry?.record(pids),
  );
  private registry: RunRegistry | undefined;
  private readonly reporter: LifecycleReporter;
  private readonly failures = new Failures();
  /** Tags this instance's workers on their command line (`--run-id`). */
  readonly runId = randomBytes(6).toString('hex');
  private readonly python: PythonChoice;
  private root: Actor<ReturnType<typeof createSupervisorLogic>> | undefined;
  /** Set by start(): the pools' endpoints are resolved, then the root actor is made. */
  private startCalled = false;
  /** Set by stop() (or a start that failed before the root was made) once no process is left. */
  private ended = false;
  /** The stop under way or done, which every caller of stop() shares. */
  private stopping: Promise<void> | undefined;
  private stopCalled = false;
  /**
   * Each worker actor recycled by hand → the promise every caller of recycleWorker() shares.
   * Whether a recycle is under way is the pool actor's to say; this only hands out one promise.
   */
  private readonly recycles = new WeakMap<AnyActorRef, Promise<void>>();
  /** Workers of an earlier run of this instance that were still alive at start, and killed. */
  survivorsKilled: number[] = [];
  /** Removes the handlers stopOnSignals() installed. */
  private releaseSignals: (() => void) | undefined;
  private readonly host = new HostFunctions();
  private readonly inspection: Inspection | undefined;
  private metricsSource: Promise<Metrics> | undefined;
  /** Restarts and recycles since start, for metrics(): counted before the first scrape too. */
  private readonly workerTotals = new WorkerTotals(this.events);
  /** Remote pools: each one's TLS towards its servers, and how to stop asking for its endpoints. */
  private readonly remote: RemotePools;
  /** How its workers, remote workers and fork servers start (launches.ts). */
  private readonly launches: Launches;

  constructor(config: SnakepitConfig) {
    this.config = resolveConfig(config);
    this.inspection = resolveInspection(this.config.inspect);
    this.python = explainPythonExecutable(this.config.python.executable);
    this.remote = new RemotePools(this.config.pools);
    for (const pool of this.config.pools) {
      const recycler = new Recycler(pool, (workerId, reason) => this.requestRecycle(pool.name, workerId, reason));
      this.recyclers.set(pool.name, recycler);
      const observer = {
        callStarted: (slot: WorkerSlot) => recycler.callStarted(slot),
        callEnded: (slot: WorkerSlot) => recycler.callEnded(slot),
        callStuck: (slot: WorkerSlot) => recycler.request(slot, 'stuck_call'),
      };
      this.dispatchers.set(pool.name, new Dispatcher(pool, this.events, observer));
    }
    this.reporter = new LifecycleReporter(this.events, this.dispatchers, this.recyclers, this.config.supervisor, this.failures);
    this.launches = new Launches({
      config: this.config, python: this.python, runId: this.runId, events: this.events, live: this.live, host: this.host,
      remote: this.remote, preloaders: this.preloaders,
      poolConfig: (name) => this.poolConfig(name),
      socketDir: () => this.registry!.socketDir,
    });
  }

  /** Creates a Snakepit and resolves once every worker of every pool is ready. */
  static async start(config: SnakepitConfig): Promise<Snakepit> {
    const pit = new Snakepit(config);
    await pit.start();
    return pit;
  }

  async start(): Promise<void> {
    if (this.lifecycle !== 'new') {
      throw new InvalidStateError('start() was already called on this Snakepit; an instance starts once. Create a new Snakepit to start again.');
    }
    this.startCalled = true;
    let endpoints: Map<string, string[]>;
    try {
      endpoints = await this.remote.resolve();
      // stop() while the endpoints were asked for: this start ends here, having made nothing.
      if (this.stopCalled) throw new ShuttingDownError();
      this.registry = RunRegistry.open(this.config.instanceId ?? RunRegistry.defaultInstanceId(this.config.pools), this.runId);
    } catch (error) {
      // Nothing was started: the instance is simply stopped.
      this.ended = true;
      throw error;
    }
    this.survivorsKilled = this.registry.killSurvivors();
    for (const pool of this.config.pools) if (pool.preload) this.preloaders.set(pool.name, this.launches.forkServer(pool));
    // Looked for while the workers start, not before: start-up does not wait for the import.
    const tracing = loadTracer().then((tracer) => {
      for (const dispatcher of this.dispatchers.values()) dispatcher.tracer = tracer;
    });
    this.root = createActor(createSupervisorLogic(this.hooks(), this.live), {
      input: { pools: this.config.pools.map((pool) => toPoolInput(pool, endpoints.get(pool.name))), supervisor: this.config.supervisor },
      inspect: this.inspection?.observer as any,
      systemId: 'snakepit',
    });
    this.root.start();
    const [settled] = await Promise.all([waitFor(this.root, (snapshot) => snapshot.matches('serving') || snapshot.status !== 'active'), tracing]);
    if (settled.status === 'active' && !this.stopCalled) {
      this.remote.follow(endpoints, {
        endpoints: (pool, list, changed) => {
          if (changed) this.events.emit('pool:endpoints', { pool, at: Date.now(), endpoints: list });
          this.root?.system.get(`pool:${pool}`)?.send({ type: 'ENDPOINTS', endpoints: list });
        },
        failed: (pool, last, error) => this.events.emit('pool:endpoints', { pool, at: Date.now(), endpoints: last, error: error.message }),
      });
      return;
    }
    const output = (await toPromise(this.root)) as SupervisorOutput;
    await this.cleanUp();
    throw (output.startFailure && this.failures.pool(output.startFailure.pool)) ?? new ShuttingDownError();
  }

  /** The root xstate actor: `actor.system.get('pool:name')`, `getSnapshot()`, inspection. */
  get actor(): Actor<ReturnType<typeof createSupervisorLogic>> {
    if (!this.root) throw new InvalidStateError('The actor tree exists once start() has been called.');
    return this.root;
  }

  /**
   * Lets Python tools call `fn` as `ctx.call(name, **kwargs)`: it gets the keyword arguments as
   * one object and may be async; its result goes back to Python, and an error it throws raises
   * `snakepit_bridge.NodeError` there. Exposing a name again replaces the function. Returns a
   * function that removes it.
   */
  expose(name: string, fn: ExposedFunction): () => void {
    return this.host.expose(name, fn);
  }

  execute<T = unknown>(tool: string, args: object = {}, options: CallOptions = {}): Promise<T> {
    const target = this.route(tool, args, options);
    if (target instanceof SnakepitError) return Promise.reject(target);
    return target.submit(tool, args, this.guarded(options)) as Promise<T>;
  }

  /**
   * Runs a generator tool; each value it yields arrives as one chunk. Breaking out cancels it.
   * The generator runs at most `highWaterMark` chunks ahead of the loop: past that it is not
   * resumed until the loop takes more, so memory stays bounded on both sides.
   */
  async *stream<T = unknown>(tool: string, args: object = {}, options: StreamOptions = {}): AsyncGenerator<T> {
    const target = this.route(tool, args, options);
    if (target instanceof SnakepitError) throw target;
    yield* streamChunks<T>(target, tool, args, this.guarded(options));
  }

  /**
   * Runs the tool once on every worker of the pool that takes calls now (ready or busy, not
   * starting or leaving); resolves to one entry per worker, `{ workerId, ok, value | error }`,
   * once every call has settled. A worker that is busy runs it after the calls already waiting
   * for it. No worker serving: `[]`.
   */
  async broadcast<T = unknown>(tool: string, args: object = {}, options: BroadcastOptions = {}): Promise<BroadcastResult<T>[]> {
    const target = this.route(tool, args, options);
    if (target instanceof SnakepitError) throw target;
    const misuse = checkBroadcast(options);
    if (misuse) throw new InvalidArgumentError(tool, misuse);
    const { pool, timeoutMs, signal } = options;
    return (await target.broadcast(tool, args, { pool, timeoutMs, signal })) as BroadcastResult<T>[];
  }

  /**
   * `execute`, `stream` and `broadcast` on one pool (by default the default pool), typed by the interface
   * `npx snakepit types` writes for its adapter: `pit.tools<CalcTools>({ pool: 'calc' })`.
   * An unknown pool throws POOL_NOT_FOUND here rather than at the first call.
   */
  tools<T extends ToolSet<T> = AnyTools>(options: { pool?: string } = {}): ToolsView<T> {
    // Named now: without it a call's workerId would pick that worker's pool, whose tools these are not.
    const pool = options?.pool ?? this.defaultPool;
    if (!this.dispatchers.has(pool)) throw new PoolNotFoundError(String(pool), [...this.dispatchers.keys()]);
    return toolsView<T>(this, pool);
  }

  /** The options with their onProgress (checked to be a function by route) run guarded. */
  private guarded<O extends CallOptions>(options: O): O {
    const { onProgress } = options;
    return onProgress ? { ...options, onProgress: this.callbacks.wrap('an onProgress callback', onProgress) } : options;
  }

  private route(tool: string, args: unknown, options: CallOptions): Dispatcher | SnakepitError {
    if (this.failures.root) return this.failures.root;
    if (this.lifecycle === 'stopping' || this.lifecycle === 'stopped') return new ShuttingDownError();
    const misuse = checkCall(tool, args, options);
    if (misuse) return new InvalidArgumentError(String(tool), misuse);
    const name = options.pool ?? this.poolOfWorker(options.workerId) ?? this.defaultPool;
    const dispatcher = this.dispatchers.get(name);
    if (!dispatcher) return new PoolNotFoundError(name, [...this.dispatchers.keys()]);
    return dispatcher;
  }

  /**
   * Listens to a lifecycle event. A listener that throws, or an async one that rejects, is
   * isolated: the other listeners still run, the call or worker the event is about is not
   * affected, and the failure becomes a process warning (see callbackGuard.ts).
   */
  on<E extends SnakepitEventName>(event: E, listener: SnakepitEvents[E]): this {
    this.events.on(event, this.callbacks.listener(event, listener) as any);
    return this;
  }

  once<E extends SnakepitEventName>(event: E, listener: SnakepitEvents[E]): this {
    this.events.once(event, this.callbacks.listener(event, listener) as any);
    return this;
  }

  off<E extends SnakepitEventName>(event: E, listener?: SnakepitEvents[E]): this {
    if (!listener) this.events.off(event);
    else this.events.off(event, (this.callbacks.registered(event, listener) ?? listener) as any);
    return this;
  }

  inspect(): InspectSnapshot {
    return inspectSnapshot(this.viewSource());
  }

  health(): HealthReport {
    return healthReport(this.viewSource());
  }

  private viewSource(): ViewSource {
    return {
      system: this.root?.system, rootContext: this.root?.getSnapshot().context, config: this.config,
      dispatchers: this.dispatchers, lifecycle: this.lifecycle, rootFailed: this.failures.root !== undefined,
    };
  }

  /**
   * For a service's main process: on SIGTERM or SIGINT, stop gracefully (calls get `timeoutMs`
   * to finish), then exit with code 0 (1 if stopping failed). A second signal during the stop
   * is not caught: it ends Node at once, and the workers go with it.
   */
  stopOnSignals(options: StopOptions = {}): this {
    this.releaseSignals?.();
    const release = stopOnSignals(() => this.stop(options));
    this.releaseSignals = () => {
      release();
      this.releaseSignals = undefined;
    };
    return this;
  }

  /** `await using pit = await Snakepit.start(…)` stops it at the end of the scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /**
   * Prometheus text of the pit's metrics (see the README). prom-client loads on the first call;
   * the counts it shows are kept from the start by the pools' stats.
   */
  async metrics(): Promise<string> {
    this.metricsSource ??= Metrics.create({
      workers: this.workerTotals,
      pools: () => this.inspect().pools.map((pool) => {
        const dispatcher = this.dispatchers.get(pool.name)!;
        return { name: pool.name, queued: dispatcher.queued, calls: dispatcher.callTotals, workers: pool.workers };
      }),
    });
    return (await this.metricsSource).text();
  }

  /**
   * A pool's counters and how long its calls wait and run (`waitMs`, `runMs`: p50, p90, p99,
   * max, count, mean), per tool too; without a name, every pool's. `{ reset: true }` returns the
   * figures and then starts the distributions and per-tool counts afresh.
   */
  stats(pool: string, options?: { reset?: boolean }): PoolStats;
  stats(): PoolStats[];
  stats(pool?: string, options: { reset?: boolean } = {}): PoolStats | PoolStats[] {
    if (pool === undefined) return [...this.dispatchers.values()].map((d) => d.snapshot());
    const dispatcher = this.dispatchers.get(pool);
    if (!dispatcher) throw new PoolNotFoundError(pool, [...this.dispatchers.keys()]);
    const snapshot = dispatcher.snapshot();
    if (options?.reset) dispatcher.resetStats();
    return snapshot;
  }

  /**
   * Graceful stop: new calls are refused with SHUTTING_DOWN, queued and in-flight calls get up
   * to `timeoutMs` to finish, then every worker gets SIGTERM → grace → SIGKILL (whole process group).
   */
  stop(options: StopOptions = {}): Promise<void> {
    const { timeoutMs = 10_000 } = options ?? {};
    if (!isDuration(timeoutMs, true)) {
      return Promise.reject(new InvalidArgumentError('stop', `stop({ timeoutMs }) needs a number of ms from 0 to ${MAX_DURATION_MS}; got ${describeValue(timeoutMs)}.`));
    }
    this.releaseSignals?.();
    this.remote.stop();
    if (!this.stopCalled) {
      this.stopCalled = true;
      this.stopping = this.shutDown(timeoutMs);
    }
    return this.stopping!;
  }

  private async shutDown(timeoutMs: number): Promise<void> {
    // No root yet: start() is still asking for endpoints, and will end there, having made nothing.
    const root = this.root;
    if (!root || this.ended) {
      this.ended = true;
      return;
    }
    const finished = toPromise(root);
    // The root drains (its own timeout), then stops the pools; the dispatchers tell it when no
    // call is left. A root still starting skips the drain: nothing has run yet.
    root.send({ type: 'STOP', timeoutMs });
    const refusal = new ShuttingDownError();
    let undrained = this.dispatchers.size;
    for (const dispatcher of this.dispatchers.values()) {
      dispatcher.closeIntake(refusal, () => {
        if (--undrained === 0) queueMicrotask(() => root.send({ type: 'DRAINED' }));
      });
    }
    await finished;
    for (const dispatcher of this.dispatchers.values()) dispatcher.close(refusal);
    await this.cleanUp();
  }

  /** Makes sure no worker process survives, then removes the run's record and socket directory. */
  private async cleanUp(): Promise<void> {
    this.remote.stop();
    for (const preloader of this.preloaders.values()) preloader.close();
    await this.live.endAll();
    this.registry?.clear();
    for (const recycler of this.recyclers.values()) recycler.stopAll();
    this.inspection?.stop?.();
    this.ended = true;
  }

  /**
   * Where the instance is: read from the root actor while it serves; before the root exists
   * (and while a failed start cleans up) it is starting, and from stop() on it is stopping.
   */
  private get lifecycle(): Lifecycle {
    if (this.ended) return 'stopped';
    if (this.stopCalled) return 'stopping';
    if (!this.startCalled) return 'new';
    return this.root?.getSnapshot().matches({ serving: 'running' }) ? 'running' : 'starting';
  }

  private hooks(): SupervisorHooks {
    return {
      shutdownGraceMs: this.config.shutdownGraceMs,
      launchOptions: (poolName, workerId) => this.launches.worker(poolName, workerId),
      remoteOptions: (poolName, workerId, endpoint) => this.launches.remote(poolName, workerId, endpoint),
      preloader: (poolName) => this.preloaders.get(poolName),
      forkServerEntered: (context, state) => this.preloaders.get(context.pool)?.entered(state, context),
      retireError: (poolName, workerId, pid, reason) => this.failures.retire(poolName, workerId, pid, reason),
      heartbeatConfig: (poolName) => this.poolConfig(poolName).heartbeat,
      heartbeatMissed: (poolName, workerId, missed, error) => this.reporter.heartbeatMissed(poolName, workerId, missed, error),
      bootFailed: (workerId, error) => this.failures.bootFailed(workerId, error),
      workerEntered: (context, state, send) => this.reporter.workerEntered(context, state, send),
      poolAnnounced: (context, what, workerId) => this.reporter.poolAnnounced(context, what, workerId),
      supervisorAnnounced: (announcement) => this.reporter.supervisorAnnounced(announcement),
    };
  }

  private requestRecycle(poolName: string, workerId: string, reason: RecycleReason): void {
    this.root?.system.get(`pool:${poolName}`)?.send({ type: 'RECYCLE', id: workerId, reason });
  }

  /**
   * Replaces a worker: a new one is started first, then this one drains (finishes its calls,
   * takes no new ones) and is retired. Resolves once it has stopped. Idempotent: asking again
   * while that recycle (or an automatic one) is under way returns the same promise.
   */
  recycleWorker(workerId: string): Promise<void> {
    if (this.failures.root) return Promise.reject(this.failures.root);
    if (this.lifecycle === 'stopping' || this.lifecycle === 'stopped') return Promise.reject(new ShuttingDownError());
    if (this.lifecycle !== 'running') return Promise.reject(new InvalidStateError('recycleWorker() works once start() has resolved.'));
    const slot = typeof workerId === 'string' ? this.slotOf(workerId) : undefined;
    const worker = slot && this.root!.system.get(`worker:${slot.id}`);
    if (!slot || !worker) {
      return Promise.reject(new InvalidArgumentError('recycleWorker', `No running worker ${describeValue(workerId)}; see inspect() for worker ids.`));
    }
    let recycled = this.recycles.get(worker);
    if (!recycled) {
      recycled = this.retired(worker);
      this.recycles.set(worker, recycled);
      this.requestRecycle(slot.pool, slot.id, 'manual'); // the pool ignores it for a worker already being replaced
    }
    return recycled;
  }

  /** Resolves once the worker actor has stopped as recycled; rejects if something else ended it. */
  private async retired(worker: AnyActorRef): Promise<void> {
    let final: { context: WorkerContext };
    try {
      final = await waitFor(worker, (snapshot) => snapshot.status === 'done');
    } catch {
      throw new ShuttingDownError(); // the actor tree was torn down first
    }
    const failure = this.failures.recycle(final.context);
    if (failure) throw failure;
  }

  /** Where a call without `pool` (nor `workerId`) goes: the pool named "default", else the first. */
  private get defaultPool(): string {
    return this.dispatchers.has('default') ? 'default' : this.config.pools[0].name;
  }

  /** The pool a call made for `workerId` without a `pool` goes to: the one that worker is in. */
  private poolOfWorker(workerId: string | undefined): string | undefined {
    return workerId === undefined ? undefined : this.slotOf(workerId)?.pool;
  }

  private slotOf(workerId: string): WorkerSlot | undefined {
    for (const dispatcher of this.dispatchers.values()) {
      const slot = dispatcher.slot(workerId);
      if (slot) return slot;
    }
    return undefined;
  }

  private poolConfig(name: string): PoolConfig {
    return this.dispatchers.get(name)!.config;
  }

}
