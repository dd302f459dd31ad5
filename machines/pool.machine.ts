// A pool is the supervisor of its workers: it spawns them in start-up batches, restarts the
// ones that crash under OTP's rules (restartPolicy.ts), and gives up — failing the pool and
// telling its parent — when crashes come faster than the restart intensity allows.
import { type ActorRefFrom, assign, enqueueActions, sendParent, setup } from 'xstate';
import { type RestartStrategy, type RestartType, exceedsIntensity, recordRestart, shouldRestart } from './restartPolicy.js';
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
  spawned: number;
  batches: number;
  readyIds: string[];
  restartLog: number[];
  failure: PoolFailure | undefined;
}

export type PoolEvent = WorkerReport | { type: 'STOP' } | { type: 'KILL' };

/** What a pool tells its parent. */
export type PoolReport =
  | { type: 'POOL_READY'; name: string }
  | { type: 'POOL_FAILED'; name: string; failure: PoolFailure }
  | { type: 'POOL_STOPPED'; name: string };

export type PoolAnnouncement = 'starting' | 'batch' | 'ready' | 'failed' | 'stopped' | 'restart';

const totalBatches = (c: PoolInput) => Math.ceil(c.poolSize / c.startupBatchSize);

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
    spawnBatch: assign(({ context, spawn }) => {
      const count = Math.min(context.startupBatchSize, context.poolSize - context.spawned);
      const fresh: PoolChild[] = [];
      for (let i = 1; i <= count; i++) {
        const id = `${context.name}-${context.spawned + i}`;
        const input = { id, pool: context.name, capacity: context.workerCapacity };
        fresh.push({ id, ref: spawn('worker', { id, systemId: `worker:${id}`, input }) });
      }
      return { workers: [...context.workers, ...fresh], spawned: context.spawned + count, batches: context.batches + 1 };
    }),
    markReady: assign({
      readyIds: ({ context, event }) =>
        event.type === 'WORKER_READY' && !context.readyIds.includes(event.id) ? [...context.readyIds, event.id] : context.readyIds,
    }),
    forget: assign({
      workers: ({ context, event }) => (event.type === 'WORKER_STOPPED' ? context.workers.filter((w) => w.id !== event.id) : context.workers),
    }),
    /** Children stop in reverse start order, as OTP shuts a supervisor down. */
    signalAll: enqueueActions(({ context, enqueue }, params: { type: 'STOP' | 'KILL' }) => {
      for (const child of [...context.workers].reverse()) enqueue.sendTo(child.ref, { type: params.type });
    }),
    restartChild: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'WORKER_EXITED') return;
      const child = context.workers.find((w) => w.id === event.id);
      enqueue.assign({ restartLog: recordRestart(context.restartLog, Date.now(), context.restart.periodMs) });
      if (child) enqueue.sendTo(child.ref, { type: 'RESTART' }, { delay: context.restart.backoffMs });
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
    readyIds: [],
    restartLog: [],
    failure: undefined,
  }),
  initial: 'starting',
  states: {
    starting: {
      entry: { type: 'announce', params: { what: 'starting' } },
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
        KILL: 'stopping',
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
        WORKER_EXITED: [
          { guard: 'notRestarted', actions: 'retireChild' },
          { guard: 'tooManyRestarts', target: 'failed', actions: assign({ failure: { reason: 'max_restarts' } }) },
          {
            actions: [
              'restartChild',
              { type: 'announce', params: ({ event }) => ({ what: 'restart' as const, workerId: event.id }) },
            ],
          },
        ],
        WORKER_STOPPED: { actions: 'forget' },
        STOP: 'stopping',
        KILL: 'stopping',
      },
    },
    failed: {
      entry: [
        { type: 'announce', params: { what: 'failed' } },
        sendParent(({ context }) => ({ type: 'POOL_FAILED', name: context.name, failure: context.failure! }) satisfies PoolReport),
        { type: 'signalAll', params: { type: 'KILL' } },
      ],
      always: { guard: 'noWorkers', target: 'stopped' },
      on: { WORKER_STOPPED: { actions: 'forget' } },
    },
    stopping: {
      entry: { type: 'signalAll', params: { type: 'STOP' } },
      always: { guard: 'noWorkers', target: 'stopped' },
      on: {
        WORKER_STOPPED: { actions: 'forget' },
        // A worker that dies while the pool stops is not restarted.
        WORKER_EXITED: { actions: 'retireChild' },
        KILL: { actions: { type: 'signalAll', params: { type: 'KILL' } } },
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
