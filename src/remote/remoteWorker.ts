// A worker of a remote pool: a standalone bridge server (`python -m snakepit_bridge serve`)
// reached over gRPC. Connecting asks it what it is (Hello) and opens its Session; the worker is
// gone once that connection breaks (the server died or cannot be reached) or is closed. Nothing
// here signals a process: the server's pid is only what it says of itself.
import { type SnakepitError, StartupFailedError, WorkerCrashedError, type WorkerExit } from '../errors.js';
import type { ChannelSecurity, GrpcConnection, HelloReply } from '../wire/grpcConnection.js';
import type { HostCallAnswerer } from '../wire/workerConnection.js';
import type { LiveWorker } from '../process/liveWorker.js';
import { PROTOCOL_VERSION } from '../wire/sessionCodec.js';

export interface RemoteOptions {
  pool: string;
  workerId: string;
  /** host:port of the bridge server. */
  endpoint: string;
  token: string;
  /** Undefined for a plaintext channel (`tls: false`, a server started with --insecure). */
  security: ChannelSecurity | undefined;
  connectTimeoutMs: number;
  host?: HostCallAnswerer;
}

const GONE: WorkerExit = { exitCode: null, signal: null };

// gRPC status codes met while connecting.
const UNAVAILABLE = 14;
const UNAUTHENTICATED = 16;
const UNIMPLEMENTED = 12;
const DEADLINE_EXCEEDED = 4;

export class RemoteWorker implements LiveWorker {
  readonly exited: Promise<WorkerExit>;
  hasExited = false;
  private markGone!: () => void;

  private constructor(
    readonly connection: GrpcConnection,
    private readonly hello: HelloReply,
    private readonly workerId: string,
    private readonly endpoint: string,
  ) {
    this.exited = new Promise((resolve) => {
      this.markGone = () => {
        this.hasExited = true;
        resolve(GONE);
      };
    });
  }

  get pid(): number {
    return this.hello.pid;
  }

  get gilEnabled(): boolean {
    return this.hello.gil_enabled;
  }

  get capacity(): number {
    return Math.max(1, this.hello.capacity);
  }

  static async connect(options: RemoteOptions, signal?: AbortSignal): Promise<RemoteWorker> {
    const { GrpcConnection } = await import('../wire/grpcConnection.js');
    let worker: RemoteWorker | undefined;
    // The Session failed or ended: the server is gone or cut off. Its calls fail (after a drain,
    // only those its --drain-timeout cut off), and the machine hears EXITED, a crash, through
    // `exited` — unless the server drained: then the worker's own drain retires it.
    const onBroken = (error: Error) => {
      connection.failAll(new WorkerCrashedError(options.workerId, worker?.pid, GONE, error, `lost its bridge server at ${options.endpoint}`));
      connection.close();
      if (!connection.isDraining) worker?.markGone();
    };
    const connection = new GrpcConnection(options.endpoint, options.token, onBroken, false, options.host, options.security);
    try {
      const hello = await connection.hello(options.connectTimeoutMs);
      if (hello.protocol !== PROTOCOL_VERSION) {
        throw new StartupFailedError(
          `The bridge server at ${options.endpoint} speaks protocol version ${hello.protocol}; this Snakepit speaks ${PROTOCOL_VERSION}. ` +
            'Run the same Snakepit release on both sides.',
          { pool: options.pool, workerId: options.workerId },
        );
      }
      if (hello.draining) throw new Error(`the bridge server at ${options.endpoint} is draining`);
      worker = new RemoteWorker(connection, hello, options.workerId, options.endpoint);
      await connection.open(options.connectTimeoutMs);
      if (signal?.aborted) throw signal.reason;
    } catch (error) {
      connection.close();
      throw connectError(error, options);
    }
    return worker;
  }

  /** Cuts the connection (a frozen server): the calls it held fail WORKER_CRASHED. */
  kill(): void {
    this.connection.failAll(new WorkerCrashedError(this.workerId, this.pid, GONE, 'the connection was cut', `lost its bridge server at ${this.endpoint}`));
    this.connection.close();
    this.markGone();
  }

  async retire(_graceMs: number, reason?: SnakepitError): Promise<WorkerExit> {
    if (reason) this.connection.failAll(reason);
    this.kill();
    return this.exited;
  }
}

/** Why a connection attempt failed, saying what to check. */
function connectError(error: unknown, options: RemoteOptions): Error {
  if (error instanceof StartupFailedError) return error;
  const details = { pool: options.pool, workerId: options.workerId };
  const code = (error as { code?: number }).code;
  const text = (error as { details?: string }).details || (error instanceof Error ? error.message : String(error));
  const at = `the bridge server at ${options.endpoint}`;
  if (code === UNAUTHENTICATED) {
    return new StartupFailedError(`${at} refused the token (${text}): the pool's \`token\` must be the server's (--token-file).`, details);
  }
  if (code === UNIMPLEMENTED) {
    return new StartupFailedError(`${at} does not answer Hello: it is not a Snakepit bridge server (python -m snakepit_bridge serve), or an older one.`, details);
  }
  if (code === UNAVAILABLE && /ssl|tls|certificate|handshake/i.test(text)) {
    return new StartupFailedError(
      `TLS with ${at} failed (${text}): \`tls.ca\` must be the CA that signed the server's certificate, the certificate must name ` +
        'the address (or set `tls.servername`), and a server with --tls-client-ca needs `tls.cert` and `tls.key`.',
      details,
    );
  }
  if (code === DEADLINE_EXCEEDED) return new StartupFailedError(`${at} did not answer within ${options.connectTimeoutMs} ms.`, details);
  return new StartupFailedError(`Cannot reach ${at}: ${text}`, details);
}
