// The root of the actor tree: it starts every pool, and is the supervisor a failing pool
// escalates to. A pool that fails during start-up fails the whole start; a pool that gives up
// later (too many restarts) is reported as an escalation while the other pools keep serving.
import { type ActorRefFrom, assign, enqueueActions, setup } from 'xstate';
import { type PoolFailure, type PoolInput, type PoolReport, poolMachine } from './pool.machine.js';

export interface RuntimeInput {
  pools: PoolInput[];
}

export interface RuntimeContext {
  pools: { name: string; ref: ActorRefFrom<typeof poolMachine> }[];
  readyPools: string[];
  startFailure: { pool: string; failure: PoolFailure } | undefined;
}

export type RuntimeEvent = PoolReport | { type: 'STOP' } | { type: 'KILL' };

export type RuntimeAnnouncement =
  | { what: 'ready' }
  | { what: 'start_failed'; pool: string; failure: PoolFailure }
  | { what: 'escalation'; pool: string; failure: PoolFailure }
  | { what: 'stopped' };

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
  },
  guards: {
    allReady: ({ context }) => context.readyPools.length === context.pools.length,
    noPools: ({ context }) => context.pools.length === 0,
  },
}).createMachine({
  id: 'snakepit',
  context: ({ input, spawn }) => ({
    pools: input.pools.map((pool) => ({
      name: pool.name,
      ref: spawn('pool', { id: `pool:${pool.name}`, systemId: `pool:${pool.name}`, input: pool }),
    })),
    readyPools: [],
    startFailure: undefined,
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
        KILL: 'stopping',
      },
    },
    running: {
      entry: { type: 'announce', params: { what: 'ready' } },
      on: {
        POOL_FAILED: {
          actions: { type: 'announce', params: ({ event }) => ({ what: 'escalation' as const, pool: event.name, failure: event.failure }) },
        },
        STOP: 'stopping',
        KILL: 'stopping',
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
      on: { KILL: { actions: { type: 'signalAll', params: { type: 'KILL' } } } },
    },
    stopped: {
      type: 'final',
      entry: [
        {
          type: 'announce',
          params: ({ context }) =>
            context.startFailure
              ? { what: 'start_failed' as const, pool: context.startFailure.pool, failure: context.startFailure.failure }
              : { what: 'stopped' as const },
        },
      ],
    },
  },
});
