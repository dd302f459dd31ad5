// The root of the actor tree and the supervisor over pools. A pool that fails during the
// first start fails the whole start. A pool that gives up later (its workers crashed too
// fast) escalates here: the root restarts it — with its siblings, by the root's strategy —
// unless pools fail faster than the root's own intensity allows; then the root gives up too,
// stopping every pool, and the runtime reports the escalation.
import { type ActorRefFrom, assign, enqueueActions, setup } from 'xstate';
import { type PoolFailure, type PoolInput, type PoolReport, poolMachine } from './pool.machine.js';
import { type RestartStrategy, affectedChildren, exceedsIntensity, recordRestart } from './restartPolicy.js';

export interface RuntimeInput {
  pools: PoolInput[];
  supervisor: { strategy: RestartStrategy; intensity: number; periodMs: number };
}

export interface RuntimeContext {
  pools: { name: string; ref: ActorRefFrom<typeof poolMachine> }[];
  supervisor: RuntimeInput['supervisor'];
  readyPools: string[];
  restartLog: number[];
  startFailure: { pool: string; failure: PoolFailure } | undefined;
  gaveUp: { pool: string; failure: PoolFailure } | undefined;
}

export type RuntimeEvent = PoolReport | { type: 'STOP' } | { type: 'KILL' };

export type RuntimeAnnouncement =
  | { what: 'ready' }
  | { what: 'start_failed'; pool: string; failure: PoolFailure }
  /** A pool gave up; the root restarts `restarting` (in start order). */
  | { what: 'pool_escalated'; pool: string; failure: PoolFailure; restarting: string[]; restartsInWindow: number }
  /** The root gave up as well: every pool stops. */
  | { what: 'escalation'; pool: string; failure: PoolFailure }
  | { what: 'stopped' };

const poolsToRestart = (context: RuntimeContext, failed: string) =>
  affectedChildren(context.supervisor.strategy, context.pools.map((p) => p.name), failed);

export const runtimeMachine = setup({
  types: {
    context: {} as RuntimeContext,
    events: {} as RuntimeEvent,
    input: {} as RuntimeInput,
  },
  actors: { pool: poolMachine },
  actions: {
    announce: (_, _params: RuntimeAnnouncement) => undefined,
    forget: assign({
      pools: ({ context, event }) => (event.type === 'POOL_STOPPED' ? context.pools.filter((p) => p.name !== event.name) : context.pools),
    }),
    signalAll: enqueueActions(({ context, enqueue }, params: { type: 'STOP' | 'KILL' }) => {
      for (const pool of [...context.pools].reverse()) enqueue.sendTo(pool.ref, { type: params.type });
    }),
    restartPools: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'POOL_FAILED') return;
      enqueue.assign({ restartLog: recordRestart(context.restartLog, Date.now(), context.supervisor.periodMs) });
      for (const name of poolsToRestart(context, event.name)) {
        const pool = context.pools.find((p) => p.name === name);
        if (pool) enqueue.sendTo(pool.ref, { type: 'RESTART' });
      }
    }),
  },
  guards: {
    allReady: ({ context }) => context.readyPools.length === context.pools.length,
    noPools: ({ context }) => context.pools.length === 0,
    tooManyRestarts: ({ context }) =>
      exceedsIntensity(context.restartLog, Date.now(), context.supervisor.intensity, context.supervisor.periodMs),
  },
}).createMachine({
  id: 'snakepit',
  context: ({ input, spawn }) => ({
    pools: input.pools.map((pool) => ({
      name: pool.name,
      ref: spawn('pool', { id: `pool:${pool.name}`, systemId: `pool:${pool.name}`, input: pool }),
    })),
    supervisor: input.supervisor,
    readyPools: [],
    restartLog: [],
    startFailure: undefined,
    gaveUp: undefined,
  }),
  initial: 'starting',
  on: { POOL_STOPPED: { actions: 'forget' } },
  states: {
    starting: {
      always: { guard: 'allReady', target: 'running' },
      on: {
        POOL_READY: { actions: assign({ readyPools: ({ context, event }) => [...context.readyPools, event.name] }) },
        POOL_FAILED: {
          target: 'abandoning',
          actions: assign({ startFailure: ({ event }) => ({ pool: event.name, failure: event.failure }) }),
        },
        STOP: 'stopping',
        KILL: { target: 'stopping', actions: { type: 'signalAll', params: { type: 'KILL' } } },
      },
    },
    running: {
      entry: { type: 'announce', params: { what: 'ready' } },
      on: {
        POOL_FAILED: [
          {
            guard: 'tooManyRestarts',
            target: 'stopping',
            actions: [
              assign({ gaveUp: ({ event }) => ({ pool: event.name, failure: event.failure }) }),
              { type: 'announce', params: ({ event }) => ({ what: 'escalation' as const, pool: event.name, failure: event.failure }) },
            ],
          },
          {
            actions: [
              'restartPools',
              {
                type: 'announce',
                params: ({ context, event }) => ({
                  what: 'pool_escalated' as const, pool: event.name, failure: event.failure,
                  restarting: poolsToRestart(context, event.name), restartsInWindow: context.restartLog.length,
                }),
              },
            ],
          },
        ],
        STOP: 'stopping',
        KILL: { target: 'stopping', actions: { type: 'signalAll', params: { type: 'KILL' } } },
      },
    },
    // A pool could not start: take everything down, then report why.
    abandoning: {
      entry: { type: 'signalAll', params: { type: 'KILL' } },
      always: { guard: 'noPools', target: 'stopped' },
    },
    stopping: {
      entry: { type: 'signalAll', params: { type: 'STOP' } },
      always: { guard: 'noPools', target: 'stopped' },
      on: {
        KILL: { actions: { type: 'signalAll', params: { type: 'KILL' } } },
        // A pool failing while everything stops is simply not restarted.
        POOL_FAILED: { actions: enqueueActions(({ context, event, enqueue }) => {
          const pool = context.pools.find((p) => p.name === event.name);
          if (pool) enqueue.sendTo(pool.ref, { type: 'STOP' });
        }) },
      },
    },
    stopped: {
      type: 'final',
      entry: {
        type: 'announce',
        params: ({ context }) =>
          context.startFailure
            ? { what: 'start_failed' as const, pool: context.startFailure.pool, failure: context.startFailure.failure }
            : { what: 'stopped' as const },
      },
    },
  },
});
