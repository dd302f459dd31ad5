// The lifecycle of one Python worker, as a pure statechart. Starting, stopping and watching the
// process are named actors and the outside world hears about states through named actions;
// `src/supervision/actors.ts` provides the real ones, tests provide fakes.
import { assign, fromCallback, fromPromise, sendParent, setup } from 'xstate';

export type WorkerStateName = 'starting' | 'ready' | 'busy' | 'draining' | 'recycling' | 'crashed' | 'stopped';

export interface WorkerExitInfo {
  exitCode: number | null;
  signal: string | null;
}

export interface WorkerInput {
  id: string;
  pool: string;
  /**
   * Calls the worker runs at once: 1 for the process profile, threadsPerWorker for threads; a
   * bridge server states its own when it connects.
   */
  capacity: number;
  /** A remote pool's worker: the address of the bridge server it connects to. */
  endpoint?: string;
}

/**
 * Why a worker is replaced while alive: it is drained first, and this never counts as a crash.
 * `stuck_call`: a call its caller gave up on still ran past the pool's cancelGraceMs.
 */
export type RecycleReason = 'ttl' | 'max_requests' | 'memory' | 'manual' | 'stuck_call';

const RECYCLE_REASONS: readonly string[] = ['ttl', 'max_requests', 'memory', 'manual', 'stuck_call'] satisfies RecycleReason[];

export function isRecycleReason(reason: string | undefined): reason is RecycleReason {
  return reason !== undefined && RECYCLE_REASONS.includes(reason);
}

/**
 * Why a worker is drained or ended: a recycle, the runtime stopping (`shutdown`), its
 * supervisor restarting it (`restart`), its pool giving up or restarting as a whole, or, in a
 * remote pool, its bridge server draining (`server_draining`) or leaving the resolved
 * endpoints (`endpoint_removed`).
 */
export type RetireReason = RecycleReason | 'shutdown' | 'restart' | 'pool_failed' | 'pool_restart' | 'server_draining' | 'endpoint_removed';

/** Why a worker went down on its own: its process exited, stopped answering heartbeats, or never started. */
export type CrashReason = 'exited' | 'heartbeat' | 'startup_failed';

export interface WorkerContext extends WorkerInput {
  /** Calls in flight, as the dispatcher last reported them (LOAD): shown, and it sets `busy`. */
  inFlight: number;
  restarts: number;
  pid: number | undefined;
  exit: WorkerExitInfo | undefined;
  crashReason: CrashReason | undefined;
  /** Why the last start failed, as text (the error itself stays with the runtime). */
  startupError: string | undefined;
  retireReason: RetireReason | undefined;
}

export type WorkerEvent =
  /** The dispatcher's count of calls in flight, sent at most every few ms when it changed: `busy` or `ready`. */
  | { type: 'LOAD'; inFlight: number }
  /** From the dispatcher, while draining: no call is left to wait for (only stuck ones, which never end). */
  | { type: 'DRAINED' }
  | { type: 'EXITED'; exitCode: number | null; signal: string | null }
  /** From the heartbeat watch: `missed` pings in a row went unanswered, the process is frozen. */
  | { type: 'HEARTBEAT_LOST'; missed: number }
  | { type: 'DRAIN'; reason: RetireReason }
  /** Graceful end: finish the calls in flight, then retire the process. */
  | { type: 'STOP' }
  /** End now; calls in flight fail. `reason` says why (shutdown, pool_failed, …). */
  | { type: 'KILL'; reason?: RetireReason }
  /** From the supervisor: start again (after a crash, or ending a live process first). */
  | { type: 'RESTART' };

/** What a worker tells its parent (the pool, which supervises it). */
export type WorkerReport =
  | { type: 'WORKER_READY'; id: string }
  | { type: 'WORKER_EXITED'; id: string; exit: WorkerExitInfo | undefined; startupError: string | undefined; duringStartup: boolean }
  | { type: 'WORKER_STOPPED'; id: string };

export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    input: {} as WorkerInput,
  },
  actors: {
    /** Starts the process (or connects to the bridge server) and resolves once it serves calls. */
    boot: fromPromise<{ pid: number; capacity?: number }, { id: string; pool: string; restarts: number; endpoint?: string }>(async () => {
      throw new Error('boot is provided by the runtime');
    }),
    /** Sends EXITED when the live process exits (or the bridge server's connection is lost), DRAIN when its server drains. */
    watchExit: fromCallback<{ type: 'EXITED' } | { type: 'DRAIN'; reason: RetireReason }, { id: string; pool: string }>(() => undefined),
    /** Ends the process: SIGTERM, grace period, SIGKILL. */
    retire: fromPromise<void, { reason: RetireReason; id: string; pool: string }>(async () => undefined),
    /** Pings the live worker; sends HEARTBEAT_LOST when heartbeats stop (a frozen process). */
    heartbeat: fromCallback<{ type: 'HEARTBEAT_LOST'; missed: number }, { id: string; pool: string }>(() => undefined),
  },
  actions: {
    /** Kills the live process at once (SIGKILL); its exit then arrives as EXITED. */
    kill: (_, _params: { id: string }) => undefined,
    /** Tells the runtime the worker entered a state. */
    enter: (_, _params: { state: WorkerStateName }) => undefined,
    /** Reports to the supervising pool; a standalone worker (in tests) may provide a no-op. */
    tellParent: sendParent((_, report: WorkerReport) => report),
    countRestart: assign({
      restarts: ({ context }) => context.restarts + 1,
      pid: undefined,
      retireReason: undefined,
      crashReason: undefined,
    }),
    setLoad: assign(({ event }) => (event.type === 'LOAD' ? { inFlight: event.inFlight } : {})),
  },
  guards: {
    full: ({ context, event }) => event.type === 'LOAD' && event.inFlight >= context.capacity,
    restarting: ({ context }) => context.retireReason === 'restart',
  },
}).createMachine({
  id: 'worker',
  context: ({ input }) => ({
    ...input,
    inFlight: 0,
    restarts: 0,
    pid: undefined,
    exit: undefined,
    crashReason: undefined,
    startupError: undefined,
    retireReason: undefined,
  }),
  initial: 'starting',
  states: {
    starting: {
      entry: { type: 'enter', params: { state: 'starting' } },
      invoke: {
        id: 'boot',
        src: 'boot',
        input: ({ context }) => ({ id: context.id, pool: context.pool, restarts: context.restarts, endpoint: context.endpoint }),
        onDone: {
          target: 'alive',
          actions: assign({ pid: ({ event }) => event.output.pid, capacity: ({ context, event }) => event.output.capacity ?? context.capacity }),
        },
        onError: {
          target: 'crashed',
          actions: [
            assign({ startupError: ({ event }) => describeError(event.error), exit: undefined, crashReason: 'startup_failed' }),
            {
              type: 'tellParent',
              params: ({ context }) => ({
                type: 'WORKER_EXITED', id: context.id, exit: undefined, startupError: context.startupError, duringStartup: true,
              }),
            },
          ],
        },
      },
      on: {
        // Nothing runs yet: any end is immediate (the boot is cancelled), and keeps its reason.
        STOP: { target: 'stopped', actions: assign({ retireReason: 'shutdown' }) },
        KILL: { target: 'stopped', actions: assign({ retireReason: ({ event }) => event.reason ?? 'shutdown' }) },
        DRAIN: { target: 'stopped', actions: assign({ retireReason: ({ event }) => event.reason }) },
        RESTART: { target: 'starting', reenter: true, actions: 'countRestart' },
      },
    },
    alive: {
      entry: [
        assign({ inFlight: 0, exit: undefined, startupError: undefined }),
        { type: 'tellParent', params: ({ context }) => ({ type: 'WORKER_READY', id: context.id }) },
      ],
      invoke: [
        { id: 'watchExit', src: 'watchExit', input: ({ context }) => ({ id: context.id, pool: context.pool }) },
        { id: 'heartbeat', src: 'heartbeat', input: ({ context }) => ({ id: context.id, pool: context.pool }) },
      ],
      initial: 'ready',
      on: {
        EXITED: {
          target: 'crashed',
          actions: [
            assign({
              exit: ({ event }) => ({ exitCode: event.exitCode, signal: event.signal }),
              crashReason: ({ context }) => context.crashReason ?? 'exited',
            }),
            {
              type: 'tellParent',
              params: ({ context, event }) => ({
                type: 'WORKER_EXITED', id: context.id, exit: { exitCode: event.exitCode, signal: event.signal }, startupError: undefined, duringStartup: false,
              }),
            },
          ],
        },
        // A frozen process is killed; it counts as a crash once its exit arrives.
        HEARTBEAT_LOST: {
          actions: [assign({ crashReason: 'heartbeat' }), { type: 'kill', params: ({ context }) => ({ id: context.id }) }],
        },
        KILL: { target: 'recycling', actions: assign({ retireReason: ({ event }) => event.reason ?? 'shutdown' }) },
        RESTART: { target: 'recycling', actions: assign({ retireReason: 'restart' }) },
      },
      states: {
        ready: {
          entry: { type: 'enter', params: { state: 'ready' } },
          on: {
            LOAD: [{ guard: 'full', target: 'busy', actions: 'setLoad' }, { actions: 'setLoad' }],
            DRAIN: { target: 'draining', actions: assign({ retireReason: ({ event }) => event.reason }) },
            STOP: { target: 'draining', actions: assign({ retireReason: 'shutdown' }) },
          },
        },
        busy: {
          entry: { type: 'enter', params: { state: 'busy' } },
          on: {
            LOAD: [{ guard: 'full', actions: 'setLoad' }, { target: 'ready', actions: 'setLoad' }],
            DRAIN: { target: 'draining', actions: assign({ retireReason: ({ event }) => event.reason }) },
            STOP: { target: 'draining', actions: assign({ retireReason: 'shutdown' }) },
          },
        },
        // Calls already sent finish; the dispatcher, which counts them, says when none is left.
        draining: {
          entry: { type: 'enter', params: { state: 'draining' } },
          on: { LOAD: { actions: 'setLoad' }, DRAINED: '#worker.recycling' },
        },
      },
    },
    recycling: {
      entry: { type: 'enter', params: { state: 'recycling' } },
      invoke: {
        id: 'retire',
        src: 'retire',
        input: ({ context }) => ({ reason: context.retireReason ?? 'shutdown', id: context.id, pool: context.pool }),
        onDone: [{ guard: 'restarting', target: 'starting', actions: 'countRestart' }, { target: 'stopped' }],
        onError: [{ guard: 'restarting', target: 'starting', actions: 'countRestart' }, { target: 'stopped' }],
      },
    },
    crashed: {
      entry: { type: 'enter', params: { state: 'crashed' } },
      on: {
        RESTART: { target: 'starting', actions: 'countRestart' },
        STOP: 'stopped',
        KILL: { target: 'stopped', actions: assign({ retireReason: ({ event }) => event.reason ?? 'shutdown' }) },
        // Replaced while down: there is nothing to drain.
        DRAIN: { target: 'stopped', actions: assign({ retireReason: ({ event }) => event.reason }) },
      },
    },
    stopped: {
      type: 'final',
      entry: [
        { type: 'enter', params: { state: 'stopped' } },
        { type: 'tellParent', params: ({ context }) => ({ type: 'WORKER_STOPPED', id: context.id }) },
      ],
    },
  },
});

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
