// A pool is the supervisor of its workers: it spawns them in start-up batches, restarts the
// ones that crash under OTP's rules (restartPolicy.ts), replaces recycled workers before
// retiring them, and gives up — killing its children in reverse start order and telling its
// parent — when crashes come faster than the restart intensity allows. The parent may then
// restart the whole pool (RESTART) or stop it.
import { type ActorRefFrom, assign, enqueueActions, sendParent, setup } from 'xstate';
import {
  affectedChildren,
  exceedsIntensity,
  type RestartStrategy,
  type RestartType,
  recordRestart,
  shouldRestart,
} from './restartPolicy.js';
import { type WorkerReport, workerMachine } from './worker.machine.js';

export interface PoolInput {
  name: string;
  poolSize: number;
  /** Calls one worker runs at once. */
  workerCapacity: number;
  startupBatchSize: number;
  startupBatchDelayMs: number;
  startupTimeoutMs: number;
  restart: { strategy: RestartStrategy; intensity: number; periodMs: number; type: RestartType; backoffMs: number };
}

export interface PoolChild {
  id: string;
  ref: ActorRefFrom<typeof workerMachine>;
}

export type PoolFailure =
  | { reason: 'startup_failed'; workerId: string; error: unknown }
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
  restartLog: number[];
  /** Replacement id → the worker it replaces once ready, and why. */
  replacing: Record<string, { oldId: string; reason: string }>;
  failure: PoolFailure | undefined;
}

export type PoolEvent =
  | WorkerReport
  | { type: 'STOP' }
  | { type: 'KILL' }
  | { type: 'RESTART' }
  | { type: 'RECYCLE'; id: string; reason: string };

/** What a pool tells its parent. */
export type PoolReport =
  | { type: 'POOL_READY'; name: string }
  | { type: 'POOL_FAILED'; name: string; failure: PoolFailure }
  | { type: 'POOL_STOPPED'; name: string };

export type PoolAnnouncement = 'starting' | 'batch' | 'ready' | 'failed' | 'stopped' | 'restart' | 'recycle';

function spawnWorker(context: PoolContext, spawn: (src: 'worker', options: any) => PoolChild['ref'], number: number): PoolChild {
  const id = `${context.name}-${number}`;
  const input = { id, pool: context.name, capacity: context.workerCapacity };
  return { id, ref: spawn('worker', { id, systemId: `worker:${id}`, input }) };
}

export const poolMachine = setup({
  types: {
    context: {} as PoolContext,
    events: {} as PoolEvent,
    input: {} as PoolInput,
  },
  actors: { worker: workerMachine },
  actions: {
    /** Tells the runtime about a pool milestone (pool:batch, pool:ready, …). */
    announce: (_, _params: { what: PoolAnnouncement; workerId?: string }) => undefined,
    beginRound: assign({ spawned: 0, batches: 0, readyIds: [], restartLog: [], replacing: {}, failure: undefined }),
    spawnBatch: assign(({ context, spawn }) => {
      const count = Math.min(context.startupBatchSize, context.poolSize - context.spawned);
      const fresh = Array.from({ length: count }, (_, i) => spawnWorker(context, spawn, context.lastWorkerNumber + i + 1));
      return {
        workers: [...context.workers, ...fresh],
        spawned: context.spawned + count,
        batches: context.batches + 1,
        lastWorkerNumber: context.lastWorkerNumber + count,
      };
    }),
    /** Recycling starts the replacement first, so capacity does not dip. */
    spawnReplacement: assign(({ context, event, spawn }) => {
      if (event.type !== 'RECYCLE' || !context.workers.some((w) => w.id === event.id)) return {};
      if (Object.values(context.replacing).some((r) => r.oldId === event.id)) return {};
      const child = spawnWorker(context, spawn, context.lastWorkerNumber + 1);
      return {
        workers: [...context.workers, child],
        lastWorkerNumber: context.lastWorkerNumber + 1,
        replacing: { ...context.replacing, [child.id]: { oldId: event.id, reason: event.reason } },
      };
    }),
    /** A replacement is ready: the worker it replaces drains and retires. */
    retireReplaced: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'WORKER_READY' || !context.replacing[event.id]) return;
      const { oldId, reason } = context.replacing[event.id];
      const old = context.workers.find((w) => w.id === oldId);
      if (old) enqueue.sendTo(old.ref, { type: 'DRAIN', reason });
      const { [event.id]: _done, ...rest } = context.replacing;
      enqueue.assign({ replacing: rest });
    }),
    markReady: assign({
      readyIds: ({ context, event }) =>
        event.type === 'WORKER_READY' && !context.readyIds.includes(event.id) ? [...context.readyIds, event.id] : context.readyIds,
    }),
    forget: assign({
      workers: ({ context, event }) => (event.type === 'WORKER_STOPPED' ? context.workers.filter((w) => w.id !== event.id) : context.workers),
    }),
    /** Children are signalled in reverse start order, as OTP shuts a supervisor down. */
    signalAll: enqueueActions(({ context, enqueue }, params: { type: 'STOP' | 'KILL'; reason?: string }) => {
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
      enqueue.assign({ restartLog: recordRestart(context.restartLog, Date.now(), context.restart.periodMs) });
      const order = context.workers.map((w) => w.id);
      for (const id of affectedChildren(context.restart.strategy, order, event.id)) {
        const child = context.workers.find((w) => w.id === id);
        if (!child) continue;
        // The crashed child waits out the backoff; live siblings are ended and started again now.
        const delay = id === event.id ? context.restart.backoffMs : 0;
        enqueue.sendTo(child.ref, { type: 'RESTART' }, { delay });
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
    notRestarted: ({ context, event }) =>
      event.type === 'WORKER_EXITED' && !shouldRestart(context.restart.type, event.exit),
    tooManyRestarts: ({ context }) =>
      exceedsIntensity(context.restartLog, Date.now(), context.restart.intensity, context.restart.periodMs),
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
    restartLog: [],
    replacing: {},
    failure: undefined,
  }),
  initial: 'starting',
  on: { WORKER_STOPPED: { actions: 'forget' } },
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
            failure: ({ event }) => ({ reason: 'startup_failed', workerId: event.id, error: event.error ?? event.exit }),
          }),
        },
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
      entry: [
        { type: 'announce', params: { what: 'ready' } },
        sendParent(({ context }) => ({ type: 'POOL_READY', name: context.name }) satisfies PoolReport),
      ],
      on: {
        WORKER_READY: { actions: 'retireReplaced' },
        WORKER_EXITED: [
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
        RECYCLE: {
          actions: ['spawnReplacement', { type: 'announce', params: ({ event }) => ({ what: 'recycle' as const, workerId: event.id }) }],
        },
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
