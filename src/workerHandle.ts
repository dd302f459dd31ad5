// A live worker: its Python process and the connection to it (gRPC or the local lane, as its
// pool's `transport` says), tied together so that a death on either side ends both and fails
// exactly the calls the worker held.
import { type SnakepitError, WorkerCrashedError, type WorkerExit } from './errors.js';
import { type LaunchOptions, PythonProcess, type ReadyInfo } from './pythonProcess.js';
import { FrameDecodeError } from './sessionCodec.js';
import { LocalConnection } from './localConnection.js';
import type { LiveWorker } from './liveWorkers.js';
import type { WorkerConnection } from './workerConnection.js';

const NOT_EXITED_YET: WorkerExit = { exitCode: null, signal: null };

export class WorkerHandle implements LiveWorker {
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
    const Grpc = options.transport === 'grpc' ? (await import('./grpcConnection.js')).GrpcConnection : undefined;
    const { process: python, ready } = await PythonProcess.launch(options, signal);
    // A broken session with a live process means the worker is unusable: end it, and let the
    // exit below fail its calls with the exit status. A frame that does not decode says more
    // than the exit will, so its calls fail at once, naming it.
    const onBroken = (error: Error) => {
      if (error instanceof FrameDecodeError) {
        connection.failAll(new WorkerCrashedError(options.workerId, ready.pid, NOT_EXITED_YET, error, 'sent a frame that does not decode'), true);
      }
      python.signalGroup('SIGKILL');
    };
    // A process worker runs its calls one by one in the order sent: when it dies, the ones it
    // had not started (sent ahead with `prefetch`) can run elsewhere.
    const runsInOrder = options.profile === 'process';
    const connection: WorkerConnection = Grpc
      ? new Grpc(ready.address, python.token, onBroken, runsInOrder, options.host)
      : new LocalConnection(ready.address, python.token, options.maxMessageBytes, onBroken, runsInOrder, options.host);
    python.exited.then((exit) => {
      connection.failAll(new WorkerCrashedError(options.workerId, ready.pid, exit), true);
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
    return new WorkerHandle(python, connection, ready);
  }

  /**
   * Ends the worker: calls still held fail with `reason` (those it had not started go back to
   * their queue), then SIGTERM → grace → SIGKILL.
   */
  async retire(graceMs: number, reason?: SnakepitError): Promise<WorkerExit> {
    if (reason) this.connection.failAll(reason, true);
    this.connection.close();
    return this.process.terminate(graceMs);
  }
}
