// A pool is the supervisor of its workers: it spawns them in start-up batches, restarts the
// ones that crash under OTP's rules (restartPolicy.ts), replaces recycled workers before
// retiring them (one replacement per worker, however often its recycle is asked for), and
// gives up — killing its children in reverse start order and telling its parent — when
// crashes come faster than the restart intensity allows. The parent may then restart the
// whole pool (RESTART) or stop it.
import { type ActorRefFrom, assign, enqueueActions, sendParent, setup } from 'xstate';
import {
  affectedChildren,
  exceedsIntensity,
  type RestartStrategy,
  type RestartType,
  shouldRestart,
} from './restartPolicy.js';
import { forkServerMachine } from './forkServer.machine.js';
import { type RecycleReason, type RetireReason, type WorkerReport, workerMachine } from './worker.machine.js';

export interface PoolInput {
  name: string;
  poolSize: number;
  /** Calls one worker runs at once. */
  workerCapacity: number;
  startupBatchSize: number;
  startupBatchDelayMs: number;
  startupTimeoutMs: number;
  restart: { strategy: RestartStrategy; intensity: number; periodMs: number; type: RestartType; backoffMs: number };
  /**
   * A remote pool: the bridge servers' addresses, one worker each (poolSize is their count).
   * The runtime sends ENDPOINTS as they change.
   */
  endpoints?: string[];
  /** The pool has a preloading fork server (`preload`): its actor is this pool's child `preload:<name>`. */
  preload?: boolean;
}

export interface PoolChild {
  id: string;
  ref: ActorRefFrom<typeof workerMachine>;
  endpoint?: string;
}

/** The longest wait between two attempts to reach a bridge server that cannot be reached. */
export const MAX_RECONNECT_DELAY_MS = 5000;

export type PoolFailure =
  | { reason: 'startup_failed'; workerId: string; message: string }
  | { reason: 'startup_timeout' }
  | { reason: 'max_restarts' };

export interface PoolContext extends PoolInput {
  /** Live children in start order. */
  workers: PoolChild[];
  /** Workers spawned in this start-up round, and batches so far. */
  spawned: number;
  batches: number;
  /** Numbers worker ids across restarts and replacements: `${name}-${n}`. */
  lastWorkerNumber: number;
  readyIds: string[];
  /**
   * The restarts inside the intensity window, by sequence number: each leaves it when its
   * RESTART_EXPIRED fires, periodMs later (a delay, so time is xstate's clock).
   */
  restartWindow: number[];
  restartSeq: number;
  /** Replacement id → the worker it replaces once ready, and why. */
  replacing: Record<string, { oldId: string; reason: RecycleReason }>;
  /** Replaced workers told to drain: they are on their way out, never restarted. */
  retiring: string[];
  /** Recycle requests that wait: the pool was starting, or the worker is itself a replacement still starting. */
  deferredRecycles: { id: string; reason: RecycleReason }[];
  /** Remote pools: failed attempts in a row to reach each worker's server, which set its next delay. */
  reconnects: Record<string, number>;
  failure: PoolFailure | undefined;
}

export type PoolEvent =
  | WorkerReport
  | { type: 'STOP' }
  | { type: 'KILL' }
  | { type: 'RESTART' }
  | { type: 'RECYCLE'; id: string; reason: RecycleReason }
  | { type: 'RESTART_EXPIRED'; seq: number }
  /** A remote pool's endpoints as resolved now. */
  | { type: 'ENDPOINTS'; endpoints: string[] };

/** What a pool tells its parent. */
export type PoolReport =
  | { type: 'POOL_READY'; name: string }
  | { type: 'POOL_FAILED'; name: string; failure: PoolFailure }
  | { type: 'POOL_STOPPED'; name: string };

export type PoolAnnouncement = 'starting' | 'batch' | 'ready' | 'failed' | 'stopped' | 'restart' | 'recycle';

const backoffId = (workerId: string) => `backoff:${workerId}`;

function spawnWorker(context: PoolContext, spawn: (src: 'worker', options: any) => PoolChild['ref'], number: number, endpoint?: string): PoolChild {
  const id = `${context.name}-${number}`;
  const input = { id, pool: context.name, capacity: context.workerCapacity, endpoint };
  // The actor's id is its system id too, so inspectors show `worker:ml-1` beside `pool:ml`.
  const ref = spawn('worker', { id: `worker:${id}`, systemId: `worker:${id}`, input });
  return endpoint === undefined ? { id, ref } : { id, ref, endpoint };
}

/** How long a remote worker waits before its next attempt: doubling from backoffMs, at most MAX_RECONNECT_DELAY_MS. */
export function reconnectDelay(backoffMs: number, failures: number): number {
  return Math.min(Math.max(backoffMs, 1) * 2 ** Math.min(failures, 30), MAX_RECONNECT_DELAY_MS);
}

/**
 * A replacement is done (ready, or ended before it was): forget it, and have the worker it
 * stood in for drain and retire, unless that worker is gone or already retiring.
 */
function endReplacement(context: PoolContext, replacementId: string) {
  const { oldId, reason } = context.replacing[replacementId];
  const { [replacementId]: _done, ...replacing } = context.replacing;
  const old = context.workers.find((w) => w.id === oldId);
  const drain = old && !context.retiring.includes(oldId) ? { ref: old.ref, reason } : undefined;
  return { replacing, retiring: drain ? [...context.retiring, oldId] : context.retiring, drain };
}

export const poolMachine = setup({
  types: {
    context: {} as PoolContext,
    events: {} as PoolEvent,
    input: {} as PoolInput,
  },
  actors: { worker: workerMachine, forkServer: forkServerMachine },
  actions: {
    /** A pool with `preload` supervises its fork server for its whole life, across its own restarts. */
    spawnForkServer: enqueueActions(({ context, enqueue }) => {
      if (!context.preload) return;
      const { name: pool, restart } = context;
      enqueue.spawnChild('forkServer', { id: 'forkServer', systemId: `preload:${pool}`, input: { pool, restart } });
    }),
    /** Tells the runtime about a pool milestone (pool:batch, pool:ready, …). */
    announce: (_, _params: { what: PoolAnnouncement; workerId?: string }) => undefined,
    beginRound: assign({
      spawned: 0, batches: 0, readyIds: [], restartWindow: [], replacing: {}, retiring: [], deferredRecycles: [], reconnects: {}, failure: undefined,
    }),
    spawnBatch: assign(({ context, spawn }) => {
      const count = Math.min(context.startupBatchSize, context.poolSize - context.spawned);
      const fresh = Array.from({ length: count }, (_, i) =>
        spawnWorker(context, spawn, context.lastWorkerNumber + i + 1, context.endpoints?.[context.spawned + i]));
      return {
        workers: [...context.workers, ...fresh],
        spawned: context.spawned + count,
        batches: context.batches + 1,
        lastWorkerNumber: context.lastWorkerNumber + count,
      };
    }),
    /** Recycling starts the replacement first, so capacity does not dip. */
    spawnReplacement: assign(({ context, event, spawn }) => {
      if (event.type !== 'RECYCLE') return {};
      const endpoint = context.workers.find((w) => w.id === event.id)?.endpoint;
      const child = spawnWorker(context, spawn, context.lastWorkerNumber + 1, endpoint);
      return {
        workers: [...context.workers, child],
        lastWorkerNumber: context.lastWorkerNumber + 1,
        replacing: { ...context.replacing, [child.id]: { oldId: event.id, reason: event.reason } },
      };
    }),
    deferRecycle: assign({
      deferredRecycles: ({ context, event }) =>
        event.type === 'RECYCLE' && !context.deferredRecycles.some((r) => r.id === event.id)
          ? [...context.deferredRecycles, { id: event.id, reason: event.reason }]
          : context.deferredRecycles,
    }),
    /** Replays deferred recycle requests: all of them once the pool is ready, else the one for the worker just ready. */
    replayRecycles: enqueueActions(({ context, event, enqueue }, params: { all: boolean }) => {
      const due = context.deferredRecycles.filter((r) => params.all || (event.type === 'WORKER_READY' && r.id === event.id));
      if (due.length === 0) return;
      enqueue.assign({ deferredRecycles: context.deferredRecycles.filter((r) => !due.includes(r)) });
      for (const { id, reason } of due) enqueue.raise({ type: 'RECYCLE', id, reason });
    }),
    /** A replacement is ready: the worker it replaces drains and retires. */
    retireReplaced: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'WORKER_READY' || !context.replacing[event.id]) return;
      const { replacing, retiring, drain } = endReplacement(context, event.id);
      enqueue.assign({ replacing, retiring });
      if (drain) enqueue.sendTo(drain.ref, { type: 'DRAIN', reason: drain.reason });
    }),
    /**
     * A replacement that ended before it was ready (a temporary or transient one is not
     * restarted) still lets the worker it was to replace retire, so the recycle completes.
     */
    retireOrphaned: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'WORKER_STOPPED' || !context.replacing[event.id]) return;
      const { replacing, retiring, drain } = endReplacement(context, event.id);
      enqueue.assign({ replacing, retiring });
      if (drain) enqueue.sendTo(drain.ref, { type: 'DRAIN', reason: drain.reason });
    }),
    markReady: assign({
      readyIds: ({ context, event }) =>
        event.type === 'WORKER_READY' && !context.readyIds.includes(event.id) ? [...context.readyIds, event.id] : context.readyIds,
    }),
    /** A remote worker reached its server: its next loss starts the reconnect delays afresh. */
    resetReconnects: assign({
      reconnects: ({ context, event }) => {
        if (event.type !== 'WORKER_READY' || !(event.id in context.reconnects)) return context.reconnects;
        const { [event.id]: _reached, ...rest } = context.reconnects;
        return rest;
      },
    }),
    /**
     * A remote worker could not reach its server (again): it tries after a growing delay. These
     * attempts are one outage, not crashes: only losing a live connection counts toward the
     * restart intensity, so a server that is down for a while does not take the pool with it.
     */
    reconnectLater: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'WORKER_EXITED') return;
      const child = context.workers.find((w) => w.id === event.id);
      if (!child) return;
      const failures = context.reconnects[event.id] ?? 0;
      enqueue.assign({ reconnects: { ...context.reconnects, [event.id]: failures + 1 } });
      enqueue.cancel(backoffId(event.id));
      enqueue.sendTo(child.ref, { type: 'RESTART' }, { id: backoffId(event.id), delay: reconnectDelay(context.restart.backoffMs, failures) });
    }),
    /** Of the resolved endpoints, those that left: their workers drain and retire (they are not restarted). */
    retireLeftEndpoints: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'ENDPOINTS') return;
      const leaving = context.workers.filter(
        (w) => w.endpoint !== undefined && !event.endpoints.includes(w.endpoint) && !context.retiring.includes(w.id),
      );
      if (leaving.length === 0) return;
      enqueue.assign({ retiring: [...context.retiring, ...leaving.map((w) => w.id)] });
      for (const child of leaving) {
        enqueue.cancel(backoffId(child.id));
        enqueue.sendTo(child.ref, { type: 'DRAIN', reason: 'endpoint_removed' });
      }
    }),
    /** Each endpoint without a worker (that is staying) gets one. */
    spawnNewEndpoints: assign(({ context, event, spawn }) => {
      if (event.type !== 'ENDPOINTS') return {};
      const staying = context.workers.filter((w) => !context.retiring.includes(w.id));
      const fresh = event.endpoints
        .filter((endpoint) => !staying.some((w) => w.endpoint === endpoint))
        .map((endpoint, i) => spawnWorker(context, spawn, context.lastWorkerNumber + i + 1, endpoint));
      return {
        endpoints: event.endpoints,
        poolSize: event.endpoints.length,
        workers: [...context.workers, ...fresh],
        lastWorkerNumber: context.lastWorkerNumber + fresh.length,
      };
    }),
    /** A worker has ended: it leaves the context and the actor tree, which hold only live workers. */
    forget: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'WORKER_STOPPED') return;
      const child = context.workers.find((w) => w.id === event.id);
      enqueue.assign({
        workers: context.workers.filter((w) => w.id !== event.id),
        retiring: context.retiring.filter((id) => id !== event.id),
        deferredRecycles: context.deferredRecycles.filter((r) => r.id !== event.id),
      });
      if (child) enqueue.stopChild(child.ref);
    }),
    /** Children are signalled in reverse start order, as OTP shuts a supervisor down. */
    signalAll: enqueueActions(({ context, enqueue }, params: { type: 'STOP' | 'KILL'; reason?: RetireReason }) => {
      for (const child of [...context.workers].reverse()) {
        enqueue.sendTo(child.ref, params.type === 'KILL' ? { type: 'KILL', reason: params.reason } : { type: 'STOP' });
      }
    }),
    /** Graceful stop, one child at a time from the last started. */
    stopLast: enqueueActions(({ context, enqueue }) => {
      const last = context.workers.at(-1);
      if (last) enqueue.sendTo(last.ref, { type: 'STOP' });
    }),
    restartChildren: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'WORKER_EXITED') return;
      const seq = context.restartSeq + 1;
      enqueue.assign({ restartWindow: [...context.restartWindow, seq], restartSeq: seq });
      enqueue.raise({ type: 'RESTART_EXPIRED', seq }, { id: `restart-expiry-${seq}`, delay: context.restart.periodMs });
      // Retiring workers already have their replacements: they finish draining instead.
      const order = context.workers.map((w) => w.id).filter((id) => !context.retiring.includes(id));
      for (const id of affectedChildren(context.restart.strategy, order, event.id)) {
        const child = context.workers.find((w) => w.id === id);
        if (!child) continue;
        // A restart now supersedes a backoff still pending for this child.
        enqueue.cancel(backoffId(id));
        // The crashed child waits out the backoff; live siblings are ended and started again now.
        if (id === event.id) enqueue.sendTo(child.ref, { type: 'RESTART' }, { id: backoffId(id), delay: context.restart.backoffMs });
        else enqueue.sendTo(child.ref, { type: 'RESTART' }, { delay: 0 });
      }
    }),
    retireChild: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'WORKER_EXITED') return;
      const child = context.workers.find((w) => w.id === event.id);
      if (child) enqueue.sendTo(child.ref, { type: 'STOP' });
    }),
  },
  guards: {
    moreBatches: ({ context }) => context.spawned < context.poolSize,
    allReady: ({ context }) => context.readyIds.length >= context.poolSize,
    noWorkers: ({ context }) => context.workers.length === 0,
    /** Unknown, or already on its way out: a repeated request changes nothing. */
    recycleUnderway: ({ context, event }) =>
      event.type === 'RECYCLE' &&
      (!context.workers.some((w) => w.id === event.id) ||
        context.retiring.includes(event.id) ||
        Object.values(context.replacing).some((r) => r.oldId === event.id) ||
        context.deferredRecycles.some((r) => r.id === event.id)),
    /** The worker to recycle is itself a replacement still starting: it is recycled once ready. */
    replacementStarting: ({ context, event }) => event.type === 'RECYCLE' && event.id in context.replacing,
    retiringExited: ({ context, event }) => event.type === 'WORKER_EXITED' && context.retiring.includes(event.id),
    /** A remote worker's attempt to reach its server failed (it was not serving). */
    unreachable: ({ context, event }) => event.type === 'WORKER_EXITED' && context.endpoints !== undefined && event.duringStartup,
    /** The endpoints changed, or one has no worker (its server drained, so its worker retired). */
    endpointsNeedWork: ({ context, event }) => {
      if (event.type !== 'ENDPOINTS' || context.endpoints === undefined) return false;
      const staying = context.workers.filter((w) => !context.retiring.includes(w.id));
      return (
        event.endpoints.length !== context.endpoints.length ||
        event.endpoints.some((e, i) => e !== context.endpoints![i] || !staying.some((w) => w.endpoint === e))
      );
    },
    notRestarted: ({ context, event }) =>
      event.type === 'WORKER_EXITED' && !shouldRestart(context.restart.type, event.exit),
    tooManyRestarts: ({ context }) => exceedsIntensity(context.restartWindow.length, context.restart.intensity),
  },
  delays: {
    batchDelay: ({ context }) => context.startupBatchDelayMs,
    startupTimeout: ({ context }) => context.startupTimeoutMs,
  },
}).createMachine({
  id: 'pool',
  context: ({ input }) => ({
    ...input,
    workers: [],
    spawned: 0,
    batches: 0,
    lastWorkerNumber: 0,
    readyIds: [],
    restartWindow: [],
    restartSeq: 0,
    replacing: {},
    retiring: [],
    deferredRecycles: [],
    reconnects: {},
    failure: undefined,
  }),
  initial: 'starting',
  entry: 'spawnForkServer',
  on: {
    WORKER_STOPPED: { actions: 'forget' },
    RESTART_EXPIRED: { actions: assign({ restartWindow: ({ context, event }) => context.restartWindow.filter((seq) => seq !== event.seq) }) },
  },
  states: {
    starting: {
      entry: ['beginRound', { type: 'announce', params: { what: 'starting' } }],
      initial: 'spawning',
      always: { guard: 'allReady', target: 'ready' },
      after: {
        startupTimeout: { target: 'failed', actions: assign({ failure: { reason: 'startup_timeout' } }) },
      },
      on: {
        WORKER_READY: { actions: 'markReady' },
        WORKER_EXITED: {
          target: 'failed',
          actions: assign({
            failure: ({ event }) => ({ reason: 'startup_failed', workerId: event.id, message: event.startupError ?? describeExit(event.exit) }),
          }),
        },
        // Replacing a worker while the pool still starts would muddle its readiness: wait for ready.
        RECYCLE: { actions: 'deferRecycle' },
        STOP: 'stopping',
        KILL: { target: 'stopping', actions: { type: 'signalAll', params: { type: 'KILL', reason: 'shutdown' } } },
        RESTART: 'restarting',
      },
      states: {
        spawning: {
          entry: ['spawnBatch', { type: 'announce', params: { what: 'batch' } }],
          after: {
            batchDelay: { guard: 'moreBatches', target: 'spawning', reenter: true },
          },
        },
      },
    },
    ready: {
      // Leaving ready (stopping, failing, restarting): no crashed child is started again after its backoff.
      exit: enqueueActions(({ context, enqueue }) => {
        for (const child of context.workers) enqueue.cancel(backoffId(child.id));
      }),
      entry: [
        { type: 'announce', params: { what: 'ready' } },
        sendParent(({ context }) => ({ type: 'POOL_READY', name: context.name }) satisfies PoolReport),
        { type: 'replayRecycles', params: { all: true } },
      ],
      on: {
        WORKER_READY: { actions: ['retireReplaced', 'resetReconnects', { type: 'replayRecycles', params: { all: false } }] },
        WORKER_STOPPED: { actions: ['retireOrphaned', 'forget'] },
        ENDPOINTS: { guard: 'endpointsNeedWork', actions: ['retireLeftEndpoints', 'spawnNewEndpoints'] },
        WORKER_EXITED: [
          // A worker that was replaced and is draining is not restarted: its place is taken.
          { guard: 'retiringExited', actions: 'retireChild' },
          { guard: 'unreachable', actions: 'reconnectLater' },
          // temporary children, and transient ones that exited normally, are not restarted
          // and do not count toward the intensity.
          { guard: 'notRestarted', actions: 'retireChild' },
          { guard: 'tooManyRestarts', target: 'failed', actions: assign({ failure: { reason: 'max_restarts' } }) },
          {
            actions: [
              'restartChildren',
              { type: 'announce', params: ({ event }) => ({ what: 'restart' as const, workerId: event.id }) },
            ],
          },
        ],
        // Idempotent: one replacement per worker, however often its recycle is requested.
        RECYCLE: [
          { guard: 'recycleUnderway' },
          { guard: 'replacementStarting', actions: 'deferRecycle' },
          {
            actions: ['spawnReplacement', { type: 'announce', params: ({ event }) => ({ what: 'recycle' as const, workerId: event.id }) }],
          },
        ],
        STOP: 'stopping',
        KILL: { target: 'stopping', actions: { type: 'signalAll', params: { type: 'KILL', reason: 'shutdown' } } },
        RESTART: 'restarting',
      },
    },
    // Gave up: every child is killed (reverse start order), then the parent decides.
    failed: {
      entry: [
        { type: 'announce', params: { what: 'failed' } },
        sendParent(({ context }) => ({ type: 'POOL_FAILED', name: context.name, failure: context.failure! }) satisfies PoolReport),
        { type: 'signalAll', params: { type: 'KILL', reason: 'pool_failed' } },
      ],
      always: { guard: 'noWorkers', target: 'down' },
      on: {
        WORKER_EXITED: { actions: 'retireChild' },
        RESTART: 'restarting',
        STOP: 'stopping',
        KILL: { target: 'stopping', actions: { type: 'signalAll', params: { type: 'KILL', reason: 'shutdown' } } },
      },
    },
    down: {
      on: { RESTART: 'starting', STOP: 'stopped', KILL: 'stopped' },
    },
    // The parent restarts this pool: end every child, then start afresh.
    restarting: {
      entry: { type: 'signalAll', params: { type: 'KILL', reason: 'pool_restart' } },
      always: { guard: 'noWorkers', target: 'starting' },
      on: {
        WORKER_EXITED: { actions: 'retireChild' },
        STOP: 'stopping',
        KILL: { target: 'stopping', actions: { type: 'signalAll', params: { type: 'KILL', reason: 'shutdown' } } },
      },
    },
    stopping: {
      entry: 'stopLast',
      always: { guard: 'noWorkers', target: 'stopped' },
      on: {
        WORKER_STOPPED: { actions: ['forget', 'stopLast'] },
        // A worker that dies while the pool stops is not restarted.
        WORKER_EXITED: { actions: 'retireChild' },
        KILL: { actions: { type: 'signalAll', params: { type: 'KILL', reason: 'shutdown' } } },
      },
    },
    stopped: {
      type: 'final',
      entry: [
        { type: 'announce', params: { what: 'stopped' } },
        sendParent(({ context }) => ({ type: 'POOL_STOPPED', name: context.name }) satisfies PoolReport),
      ],
    },
  },
});

function describeExit(exit: { exitCode: number | null; signal: string | null } | undefined): string {
  if (!exit) return 'unknown cause';
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.exitCode}`;
}
