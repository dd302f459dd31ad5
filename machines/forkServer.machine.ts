// A pool's preloading fork server (pool option `preload`), as a pure statechart: it loads the
// adapter's module, then forks the pool's workers. When it dies it is started again under the
// pool's restart rules (restartPolicy.ts) while its workers go on serving; refused (its module
// started threads at import) or given up, it stays down and the pool spawns its workers.
// Loading and watching the process are named actors and the runtime hears about states through
// a named action; `src/supervision/actors.ts` provides the real ones.
import { assign, fromCallback, fromPromise, raise, setup } from 'xstate';
import { type ExitInfo, exceedsIntensity, type RestartType, shouldRestart } from './restartPolicy.js';

export type ForkServerStateName = 'starting' | 'ready' | 'restarting' | 'refused' | 'failed' | 'stopped';

export interface ForkServerInput {
  pool: string;
  restart: { intensity: number; periodMs: number; type: RestartType; backoffMs: number };
}

export interface ForkServerContext extends ForkServerInput {
  pid: number | undefined;
  /** Times it was started again after it died. */
  restarts: number;
  /** Its restarts inside the intensity window, by sequence number (as the pool's own). */
  restartWindow: number[];
  restartSeq: number;
  /** Why it was refused or given up. */
  message: string | undefined;
}

/** How loading ended: forking, or why not (`refused`: threads at import). */
export type LoadOutcome = { ok: true; pid: number } | { ok: false; refused: boolean; message: string };

export type ForkServerEvent =
  | ({ type: 'EXITED' } & ExitInfo)
  | { type: 'RESTART_EXPIRED'; seq: number }
  | { type: 'STOP' };

/** What `load` resolved with, on its done event. */
function outcome(event: unknown): LoadOutcome | undefined {
  return (event as { output?: LoadOutcome }).output;
}

export const forkServerMachine = setup({
  types: {
    context: {} as ForkServerContext,
    events: {} as ForkServerEvent,
    input: {} as ForkServerInput,
  },
  actors: {
    /** Starts the fork server and resolves once it forks, or says why it will not. */
    load: fromPromise<LoadOutcome, { pool: string }>(async () => {
      throw new Error('load is provided by the runtime');
    }),
    /** Sends EXITED when the running fork server exits. */
    watchExit: fromCallback<ForkServerEvent, { pool: string }>(() => undefined),
  },
  actions: {
    /** Tells the runtime the fork server entered a state. */
    enter: (_, _params: { state: ForkServerStateName }) => undefined,
    countRestart: assign(({ context }) => {
      const seq = context.restartSeq + 1;
      return { pid: undefined, restarts: context.restarts + 1, restartWindow: [...context.restartWindow, seq], restartSeq: seq };
    }),
  },
  guards: {
    loaded: ({ event }) => outcome(event)?.ok === true,
    refused: ({ event }) => {
      const done = outcome(event);
      return done?.ok === false && done.refused;
    },
    notRestarted: ({ context, event }) => event.type === 'EXITED' && !shouldRestart(context.restart.type, event),
    tooManyRestarts: ({ context }) => exceedsIntensity(context.restartWindow.length, context.restart.intensity),
  },
  delays: {
    backoff: ({ context }) => context.restart.backoffMs,
    restartWindow: ({ context }) => context.restart.periodMs,
  },
}).createMachine({
  id: 'forkServer',
  context: ({ input }) => ({ ...input, pid: undefined, restarts: 0, restartWindow: [], restartSeq: 0, message: undefined }),
  initial: 'starting',
  on: {
    STOP: '.stopped',
    RESTART_EXPIRED: { actions: assign({ restartWindow: ({ context, event }) => context.restartWindow.filter((seq) => seq !== event.seq) }) },
  },
  states: {
    starting: {
      entry: { type: 'enter', params: { state: 'starting' } },
      invoke: {
        id: 'load',
        src: 'load',
        input: ({ context }) => ({ pool: context.pool }),
        onDone: [
          { guard: 'loaded', target: 'ready', actions: assign({ pid: ({ event }) => (event.output as { pid: number }).pid }) },
          { guard: 'refused', target: 'refused', actions: assign({ message: ({ event }) => (event.output as { message: string }).message }) },
          { target: 'failed', actions: assign({ message: ({ event }) => (event.output as { message: string }).message }) },
        ],
        onError: { target: 'failed', actions: assign({ message: ({ event }) => String(event.error) }) },
      },
    },
    ready: {
      entry: { type: 'enter', params: { state: 'ready' } },
      invoke: { id: 'watchExit', src: 'watchExit', input: ({ context }) => ({ pool: context.pool }) },
      on: {
        EXITED: [
          {
            guard: 'notRestarted', target: 'failed',
            actions: assign({ pid: undefined, message: ({ context }) => `the fork server exited and the pool's restart type is "${context.restart.type}"` }),
          },
          {
            guard: 'tooManyRestarts', target: 'failed',
            actions: assign({
              pid: undefined,
              message: ({ context }) => `the fork server died more than ${context.restart.intensity} times within ${context.restart.periodMs} ms`,
            }),
          },
          { target: 'restarting' },
        ],
      },
    },
    restarting: {
      entry: [
        'countRestart',
        { type: 'enter', params: { state: 'restarting' } },
        // Each restart leaves the intensity window periodMs later (a delay, so time is xstate's clock).
        raise(({ context }) => ({ type: 'RESTART_EXPIRED' as const, seq: context.restartSeq }), { delay: 'restartWindow' }),
      ],
      after: { backoff: 'starting' },
    },
    // Final for the pool's purposes (it spawns from now on), but not `type: 'final'`: the
    // actor stays inspectable until its pool stops.
    refused: { entry: { type: 'enter', params: { state: 'refused' } } },
    failed: { entry: { type: 'enter', params: { state: 'failed' } } },
    stopped: { type: 'final', entry: { type: 'enter', params: { state: 'stopped' } } },
  },
});
