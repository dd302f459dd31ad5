// A live worker: its Python process and the connection to it (gRPC or the local lane, as its
// pool's `transport` says), tied together so that a death on either side ends both and fails
// exactly the calls the worker held.
import { type SnakepitError, WorkerCrashedError, type WorkerExit } from '../errors.js';
import { type LaunchOptions, PythonProcess, type ReadyInfo } from './pythonProcess.js';
import { FrameDecodeError } from '../wire/sessionCodec.js';
import { LocalConnection } from '../wire/localConnection.js';
import type { LiveWorker } from './liveWorker.js';
import type { WorkerConnection } from '../wire/workerConnection.js';

// After the worker's exit, how long its last replies may take to be read before its calls fail.
const LAST_REPLIES_MS = 1000;

export class WorkerHandle implements LiveWorker {
  /** Why Node ends the worker (retire): its calls fail with this rather than as a crash. */
  private endReason: SnakepitError | undefined;

  private constructor(
    readonly process: PythonProcess,
    readonly connection: WorkerConnection,
    readonly ready: ReadyInfo,
  ) {}

  get pid(): number {
    return this.ready.pid;
  }

  get gilEnabled(): boolean {
    return this.ready.gil_enabled;
  }

  get exited(): Promise<WorkerExit> {
    return this.process.exited;
  }

  get hasExited(): boolean {
    return this.process.exit !== undefined;
  }

  /** SIGKILL to its whole process group; its exit follows. */
  kill(): void {
    this.process.signalGroup('SIGKILL');
  }

  static async start(options: LaunchOptions, signal?: AbortSignal): Promise<WorkerHandle> {
    // Loaded on first use, before anything is started: grpc-js and the .proto would cost an
    // application that never uses them about a third of the package's import time.
    const Grpc = options.transport === 'grpc' ? (await import('../wire/grpcConnection.js')).GrpcConnection : undefined;
    const { process: python, ready } = await PythonProcess.launch(options, signal);
    // A broken session with a live process means the worker is unusable: it is killed, and its
    // calls fail once it has exited. A frame that does not decode says more than the exit will.
    let badFrame: FrameDecodeError | undefined;
    const onBroken = (error: Error) => {
      if (error instanceof FrameDecodeError) badFrame ??= error;
      python.signalGroup('SIGKILL');
    };
    // A process worker runs its calls one by one in the order sent: calls sent ahead behind a
    // stuck one can be taken back.
    const runsInOrder = options.profile === 'process';
    const connection: WorkerConnection = Grpc
      ? new Grpc(ready.address, python.token, onBroken, runsInOrder, options.host)
      : new LocalConnection(ready.address, python.token, options.maxMessageBytes, onBroken, runsInOrder, options.host);
    let handle: WorkerHandle | undefined;
    // Calls are failed only once the worker is dead and its last replies are read: only then is
    // it known which of them it started (the others run elsewhere), and none can start later.
    python.exited.then(async (exit) => {
      const highestStarted = python.highestStartedCall();
      await within(connection.whenBroken, LAST_REPLIES_MS);
      const crash = badFrame
        ? new WorkerCrashedError(options.workerId, ready.pid, exit, badFrame, 'sent a frame that does not decode')
        : new WorkerCrashedError(options.workerId, ready.pid, exit);
      connection.failAll(handle?.endReason ?? crash, highestStarted);
      connection.close();
    });
    try {
      await connection.open(options.startupTimeoutMs);
      if (signal?.aborted) throw signal.reason;
    } catch (error) {
      connection.close();
      await python.terminate(0);
      throw error;
    }
    handle = new WorkerHandle(python, connection, ready);
    return handle;
  }

  /**
   * Ends the worker: SIGTERM → grace → SIGKILL. Calls it has started fail with `reason` at once;
   * any others once it has exited (those it never started go back to their queue).
   */
  async retire(graceMs: number, reason?: SnakepitError): Promise<WorkerExit> {
    this.endReason ??= reason; // the first reason given is why its calls fail
    if (reason) this.connection.failStarted(reason, this.process.highestStartedCall());
    this.connection.close();
    return this.process.terminate(graceMs);
  }
}

/** Waits for `promise`, or `ms` at most (and leaves no timer behind). */
function within(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
