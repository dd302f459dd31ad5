// The supervision machines on xstate's SimulatedClock with fake worker effects: boots the test
// completes or fails by hand, exits it reports through the exit watcher (as a real process exit
// would arrive), a heartbeat watch it can trip, and a retire that resolves at once. No process
// runs and time moves only when the test advances the clock.
import { type AnyActorRef, type Snapshot, SimulatedClock, createActor, fromCallback, fromPromise, setup } from 'xstate';
import { type PoolContext, type PoolInput, type PoolReport, poolMachine } from '../machines/pool.machine.js';
import { type SupervisorAnnouncement, type SupervisorInput, supervisorMachine } from '../machines/supervisor.machine.js';
import { type CrashReason, type RetireReason, type WorkerContext, workerMachine } from '../machines/worker.machine.js';

/**
 * SimulatedClock fires every timer due by the new time in one go, so a timer set by one of
 * those callbacks would start from the new time rather than from when its parent fired.
 * Stepping from one due time to the next keeps every timer at its exact time.
 */
export class SteppingClock extends SimulatedClock {
  private readonly due = new Map<number, number>();

  override setTimeout(fn: (...args: any[]) => void, timeout: number): number {
    const id = super.setTimeout(() => {
      this.due.delete(id);
      fn();
    }, timeout);
    this.due.set(id, this.now() + timeout);
    return id;
  }

  override clearTimeout(id: number): void {
    this.due.delete(id);
    super.clearTimeout(id);
  }

  nextDue(): number | undefined {
    return this.due.size === 0 ? undefined : Math.min(...this.due.values());
  }
}

/** Removes `key` only while it still maps to `value`: a restarted worker may have registered anew. */
function forget<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.get(key) === value) map.delete(key);
}

export type Exit = { exitCode: number | null; signal: string | null };
export const EXIT_1: Exit = { exitCode: 1, signal: null };
export const EXIT_0: Exit = { exitCode: 0, signal: null };
export const SIGKILLED: Exit = { exitCode: null, signal: 'SIGKILL' };

export interface Mark {
  boots: number;
  states: number;
  kills: number;
  retires: number;
  poolLog: number;
  rootLog: number;
}

/** Everything the fakes saw, stamped with simulated time. */
export class World {
  readonly clock = new SteppingClock();
  /** Every boot begun: the worker, its restart count, when. */
  readonly boots: { id: string; restarts: number; at: number }[] = [];
  /** Every state a worker entered (its `enter` action). */
  readonly states: { id: string; state: string; crashReason: CrashReason | undefined; retireReason: RetireReason | undefined; at: number }[] = [];
  readonly kills: { id: string; at: number }[] = [];
  readonly retires: { id: string; reason: RetireReason; at: number }[] = [];
  /** Pool milestones (the pool's `announce` action). */
  readonly poolLog: { pool: string; what: string; workerId?: string; at: number }[] = [];
  /** Root decisions (the runtime's `announce` action). */
  readonly rootLog: (SupervisorAnnouncement & { at: number })[] = [];
  private readonly pendingBoots = new Map<string, { resolve: (out: { pid: number; capacity?: number }) => void; reject: (e: Error) => void }>();
  /** Each boot's endpoint (remote pools), by worker id. */
  readonly endpoints = new Map<string, string | undefined>();
  private readonly exitWatchers = new Map<string, (event: { type: 'EXITED' } & Exit) => void>();
  private readonly heartbeats = new Map<string, (event: { type: 'HEARTBEAT_LOST'; missed: number }) => void>();
  /** Calls in flight per worker, as the dispatcher would count them (see `calls`), and each worker's actor. */
  private readonly inFlight = new Map<string, number>();
  private readonly actors = new Map<string, AnyActorRef>();
  private nextPid = 1000;

  now(): number {
    return this.clock.now();
  }

  readonly worker = workerMachine.provide({
    actors: {
      boot: fromPromise<{ pid: number; capacity?: number }, { id: string; pool: string; restarts: number; endpoint?: string }>(({ input, signal }) => {
        this.boots.push({ id: input.id, restarts: input.restarts, at: this.now() });
        this.endpoints.set(input.id, input.endpoint);
        return new Promise((resolve, reject) => {
          const boot = { resolve, reject };
          this.pendingBoots.set(input.id, boot);
          // The worker left `starting` (stopped, restarted): this boot is abandoned.
          signal.addEventListener('abort', () => forget(this.pendingBoots, input.id, boot));
        });
      }),
      watchExit: fromCallback<{ type: 'EXITED' } | { type: 'DRAIN'; reason: RetireReason }, { id: string; pool: string }>(({ input, sendBack }) => {
        this.exitWatchers.set(input.id, sendBack);
        return () => forget(this.exitWatchers, input.id, sendBack);
      }),
      heartbeat: fromCallback<{ type: 'HEARTBEAT_LOST'; missed: number }, { id: string; pool: string }>(({ input, sendBack }) => {
        this.heartbeats.set(input.id, sendBack);
        return () => forget(this.heartbeats, input.id, sendBack);
      }),
      retire: fromPromise<void, { reason: RetireReason; id: string; pool: string }>(async ({ input }) => {
        this.retires.push({ id: input.id, reason: input.reason, at: this.now() });
      }),
    },
    actions: {
      enter: ({ context, self }, { state }) => {
        this.states.push({ id: context.id, state, crashReason: context.crashReason, retireReason: context.retireReason, at: this.now() });
        if (state === 'stopped') {
          this.actors.delete(context.id);
          this.inFlight.delete(context.id);
        } else this.actors.set(context.id, self);
        // As the dispatcher does: a worker with no call left to wait for ends its drain at once.
        if (state === 'draining' && !this.inFlight.get(context.id)) self.send({ type: 'DRAINED' });
      },
      kill: (_, { id }) => {
        this.kills.push({ id, at: this.now() });
      },
    },
  });

  readonly pool = poolMachine.provide({
    actors: { worker: this.worker },
    actions: {
      announce: ({ context }, { what, workerId }) => {
        this.poolLog.push({ pool: context.name, what, ...(workerId ? { workerId } : {}), at: this.now() });
      },
    },
  });

  readonly supervisor = supervisorMachine.provide({
    actors: { pool: this.pool },
    actions: { announce: (_, announcement) => void this.rootLog.push({ ...announcement, at: this.now() }) },
  });

  /**
   * `count` calls are in flight on worker `id`, as its dispatcher would count them: it hears
   * LOAD, and, if it is draining and the count is 0, DRAINED.
   */
  calls(id: string, count: number): void {
    this.inFlight.set(id, count);
    const actor = this.actors.get(id)!;
    actor.send({ type: 'LOAD', inFlight: count });
    if (count === 0 && JSON.stringify(actor.getSnapshot().value).includes('draining')) actor.send({ type: 'DRAINED' });
  }

  /** Boots still waiting for the test, in the order they began. */
  pending(): string[] {
    return [...this.pendingBoots.keys()];
  }

  /** A point in the record: what happened after it is read with `since`. */
  mark(): Mark {
    return { boots: this.boots.length, states: this.states.length, kills: this.kills.length, retires: this.retires.length, poolLog: this.poolLog.length, rootLog: this.rootLog.length };
  }

  since<K extends keyof Mark>(mark: Mark, what: K): World[K] {
    return this[what].slice(mark[what]) as World[K];
  }

  /** Workers whose boot began after `mark`, sorted. */
  bootedSince(mark: Mark): string[] {
    return this.since(mark, 'boots').map((b) => b.id).sort();
  }

  /** States `id` entered after `mark`. */
  statesOf(id: string, mark?: Mark): string[] {
    return (mark ? this.since(mark, 'states') : this.states).filter((s) => s.id === id).map((s) => s.state);
  }

  async bootOk(...ids: string[]): Promise<void> {
    for (const id of ids) this.takeBoot(id).resolve({ pid: ++this.nextPid });
    await this.settle();
  }

  /** A bridge server answers: the worker takes the capacity the server states. */
  async connected(id: string, capacity: number): Promise<void> {
    this.takeBoot(id).resolve({ pid: ++this.nextPid, capacity });
    await this.settle();
  }

  async bootFails(id: string, message: string): Promise<void> {
    this.takeBoot(id).reject(new Error(message));
    await this.settle();
  }

  /** Completes every boot under way, including the ones those completions start. */
  async bootAll(): Promise<void> {
    while (this.pending().length > 0) await this.bootOk(...this.pending());
  }

  /** The live process of `id` exits, as its exit watcher reports it. */
  async exit(id: string, exit: Exit): Promise<void> {
    const watcher = this.exitWatchers.get(id);
    if (!watcher) throw new Error(`${id} has no live process to exit`);
    watcher({ type: 'EXITED', ...exit });
    await this.settle();
  }

  /** The heartbeat watch of `id` reports it frozen. */
  async loseHeartbeat(id: string, missed = 3): Promise<void> {
    const report = this.heartbeats.get(id);
    if (!report) throw new Error(`${id} has no heartbeat watch`);
    report({ type: 'HEARTBEAT_LOST', missed });
    await this.settle();
  }

  /** Lets promise work finish and fires timers due now (delay 0), without moving time. */
  async settle(): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      const next = this.clock.nextDue();
      if (next === undefined || next > this.now()) return;
      this.clock.set(this.now());
    }
  }

  /** Moves simulated time on by `ms`, firing each timer at its due time. */
  async advance(ms: number): Promise<void> {
    const target = this.now() + ms;
    await this.settle();
    for (;;) {
      const next = this.clock.nextDue();
      if (next === undefined || next > target) break;
      this.clock.set(next);
      await this.settle();
    }
    this.clock.set(target);
    await this.settle();
  }

  private takeBoot(id: string) {
    const boot = this.pendingBoots.get(id);
    if (!boot) throw new Error(`no boot of ${id} is under way (pending: ${this.pending().join(', ') || 'none'})`);
    this.pendingBoots.delete(id);
    return boot;
  }
}

const topState = (value: unknown): string => (typeof value === 'string' ? value : Object.keys(value as object)[0]);

export const poolInput = (overrides: Partial<Omit<PoolInput, 'restart'>> & { restart?: Partial<PoolInput['restart']> } = {}): PoolInput => ({
  name: 'p',
  poolSize: 3,
  workerCapacity: 1,
  startupBatchSize: 8,
  startupBatchDelayMs: 0,
  startupTimeoutMs: 60_000,
  ...overrides,
  restart: { strategy: 'one_for_one', intensity: 10, periodMs: 60_000, type: 'permanent', backoffMs: 0, ...overrides.restart },
});

/** One pool under a parent that records its reports. */
export async function startPool(input: PoolInput, world = new World()) {
  const reports: (PoolReport & { at: number })[] = [];
  const parent = setup({ actors: { pool: world.pool } }).createMachine({
    invoke: { id: 'pool', src: 'pool', input },
    on: {
      '*': {
        actions: ({ event }) => {
          if (event.type.startsWith('POOL_')) reports.push({ ...(event as PoolReport), at: world.now() });
        },
      },
    },
  });
  const root = createActor(parent, { clock: world.clock });
  const ref = () => root.getSnapshot().children.pool as AnyActorRef;
  // Never more workers than poolSize plus the replacements under way (whose old workers are still on their way out).
  let worst = 0;
  const watchSize = (snapshot: Snapshot<unknown>) => {
    const c = (snapshot as any).context as PoolContext;
    worst = Math.max(worst, c.workers.length - Object.keys(c.replacing).length - c.retiring.length - c.poolSize);
  };
  root.start();
  ref().subscribe(watchSize);
  await world.settle();
  const pool = {
    world,
    reports,
    send: (event: Parameters<AnyActorRef['send']>[0]) => ref().send(event),
    context: () => ref().getSnapshot().context as PoolContext,
    /** The top-level state (`starting` rather than `{ starting: 'spawning' }`). */
    state: () => topState(ref().getSnapshot().value),
    ids: () => pool.context().workers.map((w) => w.id),
    /** The ids of the pool actor's children in the actor tree. */
    children: () => Object.keys(ref().getSnapshot().children),
    worker: (id: string) => {
      const child = pool.context().workers.find((w) => w.id === id);
      if (!child) throw new Error(`${id} is not in the pool`);
      return child.ref;
    },
    workerContext: (id: string) => pool.worker(id).getSnapshot().context as WorkerContext,
    workerState: (id: string) => {
      const child = pool.context().workers.find((w) => w.id === id);
      return child ? JSON.stringify(child.ref.getSnapshot().value) : 'gone';
    },
    /** How far the pool ever went over poolSize + replacements under way (0 = never). */
    overshoot: () => worst,
    stop: () => root.stop(),
  };
  return pool;
}

/** A pool whose first workers have all booted. */
export async function readyPool(input: PoolInput, world = new World()) {
  const pool = await startPool(input, world);
  await world.bootAll();
  if (pool.state() !== 'ready') throw new Error(`pool is ${pool.state()}, not ready`);
  return pool;
}

/** The root with its pools; events the pools receive are recorded through inspection. */
export async function startSupervisor(input: SupervisorInput, world = new World()) {
  const poolEvents: { pool: string; type: string; at: number }[] = [];
  const actor = createActor(world.supervisor, {
    clock: world.clock,
    input,
    inspect: (event) => {
      const id = (event.actorRef as AnyActorRef).id;
      if (event.type === '@xstate.event' && id.startsWith('pool:')) {
        poolEvents.push({ pool: id.slice('pool:'.length), type: event.event.type, at: world.now() });
      }
    },
  });
  actor.start();
  await world.settle();
  const poolRef = (name: string) => actor.getSnapshot().context.pools.find((p) => p.name === name)?.ref;
  return {
    world,
    actor,
    poolEvents,
    state: () => actor.getSnapshot().value,
    poolState: (name: string) => {
      const ref = poolRef(name);
      return ref ? topState(ref.getSnapshot().value) : 'gone';
    },
    poolNames: () => actor.getSnapshot().context.pools.map((p) => p.name),
    /** Pools that announced `what` after `mark`, sorted. */
    milestones: (what: string, mark: Mark) => world.since(mark, 'poolLog').filter((l) => l.what === what).map((l) => l.pool).sort(),
    worker: (pool: string, id: string) => {
      const child = (poolRef(pool)?.getSnapshot().context as PoolContext | undefined)?.workers.find((w) => w.id === id);
      if (!child) throw new Error(`${id} is not in pool ${pool}`);
      return child.ref;
    },
    stop: () => actor.stop(),
  };
}
