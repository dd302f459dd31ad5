// The root of the actor tree and the supervisor over pools. A pool that fails during the
// first start fails the whole start. A pool that gives up later (its workers crashed too
// fast) escalates here: the root restarts it — with its siblings, by the root's strategy —
// unless pools fail faster than the root's own intensity allows; then the root gives up too,
// stopping every pool, and the runtime reports the escalation.
//
// Stopping is graceful: the root first drains (the runtime has closed the intake and tells it
// DRAINED once no call is queued or in flight), then stops the pools; a drain that outlasts
// its timeout gives up on the remaining calls and kills the pools instead.
import { type ActorRefFrom, assign, enqueueActions, setup } from 'xstate';
import { type PoolFailure, type PoolInput, type PoolReport, poolMachine } from './pool.machine.js';
import { type RestartStrategy, affectedChildren, exceedsIntensity } from './restartPolicy.js';

export interface SupervisorInput {
  pools: PoolInput[];
  supervisor: { strategy: RestartStrategy; intensity: number; periodMs: number };
}

export interface SupervisorContext {
  pools: { name: string; ref: ActorRefFrom<typeof poolMachine> }[];
  supervisor: SupervisorInput['supervisor'];
  readyPools: string[];
  /** Pool restarts inside the intensity window, by sequence number (see the pool machine). */
  restartWindow: number[];
  restartSeq: number;
  /** How long a graceful stop waits for calls to finish. */
  drainTimeoutMs: number;
  startFailure: { pool: string; failure: PoolFailure } | undefined;
  gaveUp: { pool: string; failure: PoolFailure } | undefined;
}

export type SupervisorEvent =
  | PoolReport
  /** Graceful stop: calls queued and in flight get up to `timeoutMs` to finish. */
  | { type: 'STOP'; timeoutMs: number }
  /** No call is queued or in flight any more (sent by the runtime while draining). */
  | { type: 'DRAINED' }
  | { type: 'KILL' }
  | { type: 'RESTART_EXPIRED'; seq: number };

/** How the root ended: why the first start failed, or why it gave up, if it did. */
export interface SupervisorOutput {
  startFailure: SupervisorContext['startFailure'];
  gaveUp: SupervisorContext['gaveUp'];
}

export type SupervisorAnnouncement =
  /** A pool gave up; the root restarts `restarting` (in start order). */
  | { what: 'pool_escalated'; pool: string; failure: PoolFailure; restarting: string[]; restartsInWindow: number }
  /** The root gave up as well: every pool stops. */
  | { what: 'escalation'; pool: string; failure: PoolFailure }
  /** A graceful stop outlasted its timeout: calls still queued or running are given up. */
  | { what: 'drain_expired' };

const poolsToRestart = (context: SupervisorContext, failed: string) =>
  affectedChildren(context.supervisor.strategy, context.pools.map((p) => p.name), failed);

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
  },
  actors: { pool: poolMachine },
  actions: {
    announce: (_, _params: SupervisorAnnouncement) => undefined,
    forget: assign({
      pools: ({ context, event }) => (event.type === 'POOL_STOPPED' ? context.pools.filter((p) => p.name !== event.name) : context.pools),
    }),
    signalAll: enqueueActions(({ context, enqueue }, params: { type: 'STOP' | 'KILL' }) => {
      for (const pool of [...context.pools].reverse()) enqueue.sendTo(pool.ref, { type: params.type });
    }),
    restartPools: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'POOL_FAILED') return;
      const seq = context.restartSeq + 1;
      enqueue.assign({ restartWindow: [...context.restartWindow, seq], restartSeq: seq });
      enqueue.raise({ type: 'RESTART_EXPIRED', seq }, { id: `restart-expiry-${seq}`, delay: context.supervisor.periodMs });
      for (const name of poolsToRestart(context, event.name)) {
        const pool = context.pools.find((p) => p.name === name);
        if (pool) enqueue.sendTo(pool.ref, { type: 'RESTART' });
      }
    }),
  },
  guards: {
    allReady: ({ context }) => context.readyPools.length === context.pools.length,
    noPools: ({ context }) => context.pools.length === 0,
    tooManyRestarts: ({ context }) => exceedsIntensity(context.restartWindow.length, context.supervisor.intensity),
  },
  delays: {
    drainTimeout: ({ context }) => context.drainTimeoutMs,
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
    restartWindow: [],
    restartSeq: 0,
    drainTimeoutMs: 0,
    startFailure: undefined,
    gaveUp: undefined,
  }),
  initial: 'starting',
  output: ({ context }): SupervisorOutput => ({ startFailure: context.startFailure, gaveUp: context.gaveUp }),
  on: {
    POOL_STOPPED: { actions: 'forget' },
    RESTART_EXPIRED: { actions: assign({ restartWindow: ({ context, event }) => context.restartWindow.filter((seq) => seq !== event.seq) }) },
  },
  states: {
    starting: {
      always: { guard: 'allReady', target: 'serving' },
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
    // Pools serve calls; one that gives up is restarted here, by the root's strategy and intensity.
    serving: {
      initial: 'running',
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
                  restarting: poolsToRestart(context, event.name), restartsInWindow: context.restartWindow.length,
                }),
              },
            ],
          },
        ],
        KILL: { target: 'stopping', actions: { type: 'signalAll', params: { type: 'KILL' } } },
      },
      states: {
        running: {
          on: { STOP: { target: 'draining', actions: assign({ drainTimeoutMs: ({ event }) => event.timeoutMs }) } },
        },
        // The calls already accepted finish (intake is closed) until none is left, or time is up.
        draining: {
          on: { DRAINED: '#snakepit.stopping' },
          after: {
            drainTimeout: {
              target: '#snakepit.stopping',
              actions: [{ type: 'announce', params: { what: 'drain_expired' } }, { type: 'signalAll', params: { type: 'KILL' } }],
            },
          },
        },
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
    stopped: { type: 'final' },
  },
});
