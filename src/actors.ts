// Gives the pure machines their real effects: a worker's boot starts a Python process, its
// exit watcher listens for the process's end, retiring it sends the signals, and every state
// entry and supervisor milestone is handed to the runtime's hooks.
import { fromCallback, fromPromise } from 'xstate';
import type { PoolAnnouncement, PoolContext } from '../machines/pool.machine.js';
import { poolMachine } from '../machines/pool.machine.js';
import { type RuntimeAnnouncement, runtimeMachine } from '../machines/runtime.machine.js';
import { type WorkerContext, type WorkerStateName, workerMachine } from '../machines/worker.machine.js';
import type { LoadEvent } from './dispatcher.js';
import { ShuttingDownError } from './errors.js';
import type { LaunchOptions } from './pythonProcess.js';
import { WorkerHandle } from './workerHandle.js';

export interface RuntimeHooks {
  launchOptions(pool: string, workerId: string): LaunchOptions;
  shutdownGraceMs: number;
  workerEntered(context: WorkerContext, state: WorkerStateName, send: (event: LoadEvent) => void): void;
  poolAnnounced(context: PoolContext, what: PoolAnnouncement, workerId: string | undefined): void;
  runtimeAnnounced(announcement: RuntimeAnnouncement): void;
}

export function createRuntimeLogic(hooks: RuntimeHooks) {
  const worker = workerMachine.provide({
    actors: {
      boot: fromPromise(async ({ input, signal }) => {
        const handle = await WorkerHandle.start(hooks.launchOptions(input.pool, input.id), signal);
        return { pid: handle.pid, handle };
      }),
      watchExit: fromCallback(({ input, sendBack }) => {
        (input.handle as WorkerHandle).process.exited.then((exit) =>
          sendBack({ type: 'EXITED', exitCode: exit.exitCode, signal: exit.signal }),
        );
      }),
      retire: fromPromise(async ({ input }) => {
        const handle = input.handle as WorkerHandle | undefined;
        await handle?.retire(hooks.shutdownGraceMs, input.reason === 'shutdown' ? new ShuttingDownError() : undefined);
      }),
    },
    actions: {
      enter: ({ context, self }, params) => hooks.workerEntered(context, params.state, (event) => self.send(event)),
    },
  });
  const pool = poolMachine.provide({
    actors: { worker },
    actions: { announce: ({ context }, params) => hooks.poolAnnounced(context, params.what, params.workerId) },
  });
  return runtimeMachine.provide({
    actors: { pool },
    actions: { announce: (_, params) => hooks.runtimeAnnounced(params) },
  });
}
