// Gives the pure machines their real effects: a worker's boot starts a Python process (or, in
// a remote pool, connects to its bridge server), its exit watcher listens for the end, retiring
// it sends the signals, and every state entry and supervisor milestone is handed to the
// runtime's hooks.
import { type AnyActorRef, fromCallback, fromPromise } from 'xstate';
import type { PoolAnnouncement, PoolContext } from '../../machines/pool.machine.js';
import { type ForkServerContext, type ForkServerStateName, forkServerMachine } from '../../machines/forkServer.machine.js';
import { poolMachine } from '../../machines/pool.machine.js';
import { type SupervisorAnnouncement, supervisorMachine } from '../../machines/supervisor.machine.js';
import { type RetireReason, type WorkerContext, type WorkerEvent, type WorkerStateName, workerMachine } from '../../machines/worker.machine.js';
import type { PoolConfig } from '../config.js';
import type { SnakepitError } from '../errors.js';
import { watchHeartbeat } from './heartbeat.js';
import type { LaunchOptions } from '../process/pythonProcess.js';
import type { LiveWorker } from '../process/liveWorker.js';
import type { LiveWorkers } from './liveWorkers.js';
import type { Preloader } from '../preload/preloader.js';
import { RemoteWorker, type RemoteOptions } from '../remote/remoteWorker.js';
import { WorkerHandle } from '../process/workerHandle.js';

export interface SupervisorHooks {
  launchOptions(pool: string, workerId: string): LaunchOptions;
  /** The fork server of a pool with `preload`. */
  preloader(pool: string): Preloader | undefined;
  forkServerEntered(context: ForkServerContext, state: ForkServerStateName): void;
  remoteOptions(pool: string, workerId: string, endpoint: string): RemoteOptions;
  shutdownGraceMs: number;
  /** What calls still held by a worker ended with KILL fail with (by KILL reason). */
  retireError(pool: string, workerId: string, pid: number | undefined, reason: RetireReason): SnakepitError | undefined;
  heartbeatConfig(pool: string): PoolConfig['heartbeat'];
  heartbeatMissed(pool: string, workerId: string, missed: number, error: Error): void;
  /** A boot failed: the runtime keeps the error (stderr lines and all); the machine keeps its text. */
  bootFailed(workerId: string, error: unknown): void;
  workerEntered(context: WorkerContext, state: WorkerStateName, send: (event: WorkerEvent) => void): void;
  poolAnnounced(context: PoolContext, what: PoolAnnouncement, workerId: string | undefined): void;
  supervisorAnnounced(announcement: SupervisorAnnouncement): void;
}

/** `live` finds the booted workers' handles, which never enter a machine's context. */
export function createSupervisorLogic(hooks: SupervisorHooks, live: LiveWorkers) {
  const worker = workerMachine.provide({
    actors: {
      boot: fromPromise(async ({ input, signal }) => {
        try {
          const handle: LiveWorker = input.endpoint === undefined
            ? await WorkerHandle.start(hooks.launchOptions(input.pool, input.id), signal)
            : await RemoteWorker.connect(hooks.remoteOptions(input.pool, input.id, input.endpoint), signal);
          if (!live.booted(input.pool, input.id, handle)) handle.kill(); // its start was given up meanwhile
          return { pid: handle.pid, capacity: handle.capacity };
        } catch (error) {
          hooks.bootFailed(input.id, error);
          throw error;
        }
      }),
      watchExit: fromCallback(({ input, sendBack }) => {
        const handle = live.get(input.pool, input.id);
        let watching = true;
        const exited = handle ? handle.exited : Promise.resolve({ exitCode: null, signal: null });
        exited.then((exit) => watching && sendBack({ type: 'EXITED', exitCode: exit.exitCode, signal: exit.signal }));
        // Only a bridge server drains of its own accord (SIGTERM): its calls finish, new ones go elsewhere.
        handle?.connection.serverDraining.then(() => watching && sendBack({ type: 'DRAIN', reason: 'server_draining' }));
        return () => {
          watching = false;
        };
      }),
      retire: fromPromise(async ({ input }) => {
        const handle = live.get(input.pool, input.id);
        // A worker with a stuck call would only sit out the grace period: it is killed at once.
        const graceMs = input.reason === 'stuck_call' ? 0 : hooks.shutdownGraceMs;
        await handle?.retire(graceMs, hooks.retireError(input.pool, input.id, handle.pid, input.reason));
      }),
      heartbeat: fromCallback(({ input, sendBack }) => {
        const config = hooks.heartbeatConfig(input.pool);
        const handle = live.get(input.pool, input.id);
        if (!config.enabled || !handle) return undefined;
        return watchHeartbeat(handle, config, (missed, error, lost) => {
          hooks.heartbeatMissed(input.pool, input.id, missed, error);
          if (lost) sendBack({ type: 'HEARTBEAT_LOST', missed });
        });
      }),
    },
    actions: {
      kill: ({ context }) => live.get(context.pool, context.id)?.kill(),
      enter: ({ context, self }, params) =>
        afterCommit(self, () => hooks.workerEntered(context, params.state, (event) => self.send(event))),
    },
  });
  const forkServer = forkServerMachine.provide({
    actors: {
      load: fromPromise(async ({ input, signal }) => {
        const preloader = hooks.preloader(input.pool);
        return preloader ? preloader.load(signal) : { ok: false as const, refused: false, message: 'the pool has no preload option' };
      }),
      watchExit: fromCallback(({ input, sendBack }) =>
        hooks.preloader(input.pool)?.watchExit((exit) => sendBack({ type: 'EXITED', exitCode: exit.exitCode, signal: exit.signal }))),
    },
    actions: {
      enter: ({ context, self }, params) => afterCommit(self, () => hooks.forkServerEntered(context, params.state)),
    },
  });
  const pool = poolMachine.provide({
    actors: { worker, forkServer },
    actions: { announce: ({ context }, params) => hooks.poolAnnounced(context, params.what, params.workerId) },
  });
  return supervisorMachine.provide({
    actors: { pool },
    actions: { announce: (_, params) => hooks.supervisorAnnounced(params) },
  });
}

const committing = new WeakMap<AnyActorRef, (() => void)[]>();

/**
 * Runs `effect` once the actor's snapshot that the current transition makes is committed, in
 * the order asked. An entry action runs while its actor still shows the previous snapshot, so
 * a listener of the events it emits would read a stale actor; after the commit, events,
 * inspect() and the actor agree.
 */
function afterCommit(actor: AnyActorRef, effect: () => void): void {
  let queue = committing.get(actor);
  if (!queue) {
    const effects: (() => void)[] = (queue = []);
    committing.set(actor, queue);
    const flush = () => {
      for (const run of effects.splice(0)) run();
    };
    actor.subscribe({ next: flush, complete: flush });
  }
  queue.push(effect);
}
