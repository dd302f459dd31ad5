// A pool's dispatcher and recycler on node:test's mock timers with fake workers: no process and no socket.
// Each fake worker's connection records the calls sent to it in order, and the test answers
// them by hand; time moves only when the test advances the clock, and performance.now() follows
// the mocked Date, so deadlines, queue timeouts and session TTLs are exact to the millisecond.
import type { TestContext } from 'node:test';
import { EventEmitter } from 'eventemitter3';
import type { WorkerStateName } from '../machines/worker.machine.js';
import type { WorkerSlot } from '../src/calls/workerSlot.js';
import { type PoolConfig, type PoolConfigInput, resolveConfig } from '../src/config.js';
import { Dispatcher } from '../src/calls/dispatcher.js';
import { ShuttingDownError, type SnakepitError, WorkerCrashedError, type WorkerExit } from '../src/errors.js';
import type { SnakepitEvents } from '../src/events.js';
import { Recycler } from '../src/supervision/recycler.js';
import type { CallExtras, CallSink, WorkerConnection } from '../src/wire/workerConnection.js';

/** One call as the fake worker received it. */
export interface SentCall {
  id: number;
  tool: string;
  sink: CallSink;
  extras: CallExtras;
}

/**
 * Just what the dispatcher uses of a WorkerConnection. Calls run in the order sent; `open` holds
 * those not answered yet. Answers go straight to the call's sink, as a reply frame would.
 */
export class FakeConnection {
  usable = true;
  readonly sent: SentCall[] = [];
  readonly open = new Map<number, SentCall>();
  readonly cancelled: number[] = [];
  readonly reclaims: number[] = [];
  private nextId = 1;

  call(tool: string, _args: unknown, sink: CallSink, extras: CallExtras = {}): number {
    const call = { id: this.nextId++, tool, sink, extras };
    this.sent.push(call);
    this.open.set(call.id, call);
    return call.id;
  }

  cancel(id: number): void {
    if (this.open.has(id)) this.cancelled.push(id);
  }

  credit(): void {}

  reclaimBehind(id: number): void {
    this.reclaims.push(id);
  }

  /** The tools of the calls it holds, oldest (the running one) first. */
  held(): string[] {
    return [...this.open.values()].map((c) => c.tool);
  }

  /** Answers the oldest held call of `tool` (or the oldest of all). */
  reply(tool?: string, value: unknown = tool): void {
    this.take(tool).sink.resolve(value);
  }

  fail(tool: string | undefined, error: SnakepitError): void {
    this.take(tool).sink.reject(error);
  }

  /** Hands back a call it never started, as an UNSTARTED reply does. */
  handBack(tool: string): void {
    this.take(tool).sink.unstarted!(new ShuttingDownError());
  }

  /**
   * The worker died having started the calls up to `highestStarted`: as WorkerConnection.failAll,
   * those never started are handed back last first, then the others fail WORKER_CRASHED.
   */
  die(workerId: string, highestStarted: number): void {
    this.usable = false;
    const error = new WorkerCrashedError(workerId, undefined, { exitCode: null, signal: 'SIGKILL' });
    const calls = [...this.open.values()];
    this.open.clear();
    for (const call of calls.filter((c) => c.id > highestStarted).reverse()) call.sink.unstarted!(error);
    for (const call of calls.filter((c) => c.id <= highestStarted)) call.sink.reject(error);
  }

  private take(tool: string | undefined): SentCall {
    const call = [...this.open.values()].find((c) => tool === undefined || c.tool === tool);
    if (!call) throw new Error(`no held call ${tool ?? ''}; held: ${this.held().join(', ')}`);
    this.open.delete(call.id);
    return call;
  }
}

let nextPid = 1000;

/** A worker as the dispatcher sees it, moved between states as lifecycle.ts moves its slot. */
export class FakeWorker {
  connection = new FakeConnection();
  /** Ends the current process: its slot drops the handle, as on a real exit. */
  private exit: (() => void) | undefined;
  /** DRAINED events its slot sent, as its actor would hear them. */
  drained = 0;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly recycler: Recycler,
    readonly slot: WorkerSlot,
    /** Calls it runs at once (threadsPerWorker). */
    private readonly capacity: number,
  ) {}

  get id(): string {
    return this.slot.id;
  }

  /** A (re)started worker: a new process (`pid`; null: none known) with a new connection, taking calls. */
  ready(known: number | null = nextPid++): void {
    const pid = known ?? undefined;
    this.exit?.();
    this.connection = new FakeConnection();
    const exited = new Promise<WorkerExit>((resolve) => (this.exit = () => resolve({ exitCode: 0, signal: null })));
    const handle = { pid: pid ?? 0, connection: asConnection(this.connection), gilEnabled: true, exited, hasExited: false, kill() {}, async retire() {} };
    this.slot.entered('starting', { pid: undefined, capacity: this.capacity });
    this.slot.attach(handle);
    this.slot.entered('ready', { pid, capacity: this.capacity });
    this.recycler.workerReady(this.slot);
    this.dispatcher.schedulePump();
  }

  /** Enters a state in which it takes no calls: its strict sessions' waiting calls go back to the pool's queue. */
  leave(state: Extract<WorkerStateName, 'draining' | 'recycling' | 'crashed' | 'stopped' | 'starting'>): void {
    this.slot.entered(state, { pid: this.slot.pid, capacity: this.capacity });
    if (state === 'crashed' || state === 'stopped' || state === 'starting') this.exit?.();
    this.dispatcher.releasePinned(this.slot);
    if (state === 'draining') this.slot.noteDrained();
    if (state === 'crashed' || state === 'stopped') this.recycler.workerGone(this.slot);
  }
}

export interface SimulatedPool {
  dispatcher: Dispatcher;
  workers: FakeWorker[];
  events: EventEmitter<SnakepitEvents>;
  /** The replacements the pool's recycler asked for: `worker reason @ms`, in order. */
  recycles: string[];
  /** A new worker joins, ready (a replacement, say): `p-<n>` after the last. */
  addWorker(): FakeWorker;
  /** Moves the clock on by `ms`, firing every timer due, then lets promise callbacks run. */
  advance(ms: number): Promise<void>;
  /** Submits a call; its outcome is recorded in `outcomes` under its tool name. */
  call(tool: string, options?: Parameters<Dispatcher['submit']>[2]): Promise<unknown>;
  /** Each settled call's tool and `ok` or its error code, in the order they settled. */
  outcomes: string[];
  now(): number;
}

/** Lets promise callbacks and process.nextTick (the dispatcher's pump) run. */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A pool of `workers` ready fake workers, its clock at 0 (restored when the test ends).
 * `pool` is the pool's configuration as a user writes it (name and adapter filled in).
 */
export function simulatedPool(t: TestContext, pool: Partial<PoolConfigInput> = {}, workers = 1): SimulatedPool {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 0 });
  t.mock.method(performance, 'now', () => Date.now());
  const config: PoolConfig = resolveConfig({ pools: [{ name: 'p', adapter: 'fake.Adapter', poolSize: workers, ...pool }] }).pools[0];
  const events = new EventEmitter<SnakepitEvents>();
  const recycles: string[] = [];
  const recycler = new Recycler(config, (workerId, reason) => recycles.push(`${workerId} ${reason} @${Date.now()}`));
  // Wired as Snakepit wires them; the pool machine that would act on a recycle is left out.
  const dispatcher = new Dispatcher(config, events, {
    callStarted: (slot) => recycler.callStarted(slot),
    callEnded: (slot) => recycler.callEnded(slot),
    callStuck: (slot) => recycler.request(slot, 'stuck_call'),
  });
  const fakes: FakeWorker[] = [];
  const addWorker = () => {
    const worker: FakeWorker = new FakeWorker(
      dispatcher,
      recycler,
      dispatcher.addSlot(`p-${fakes.length + 1}`, 'starting', (event) => {
        if (event.type === 'DRAINED') worker.drained++;
      }),
      config.threadsPerWorker,
    );
    fakes.push(worker);
    worker.ready();
    return worker;
  };
  for (let i = 0; i < workers; i++) addWorker();
  const outcomes: string[] = [];
  return {
    addWorker,
    dispatcher,
    workers: fakes,
    events,
    recycles,
    outcomes,
    now: () => Date.now(),
    async advance(ms) {
      t.mock.timers.tick(ms);
      await settle();
    },
    call(tool, options = {}) {
      const result = dispatcher.submit(tool, {}, options);
      result.then(
        () => outcomes.push(`${tool} ok`),
        (error: SnakepitError) => outcomes.push(`${tool} ${error.code}`),
      );
      return result;
    },
  };
}

/** The calls each worker holds, by worker id. */
export function heldBy(pool: SimulatedPool): Record<string, string[]> {
  return Object.fromEntries(pool.workers.map((w) => [w.id, w.connection.held()]));
}

/** A fake worker's connection as the dispatcher's slot holds it. */
export function asConnection(fake: FakeConnection): WorkerConnection {
  return fake as unknown as WorkerConnection;
}
