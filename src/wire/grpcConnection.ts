// The gRPC transport of a worker connection: one channel, one long-lived Session stream that
// carries every frame, plus the unary Heartbeat. For remote workers, and for local ones whose
// pool asks for `transport: 'grpc'`.
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PACKAGE_ROOT } from '../packageRoot.js';
import { decodeServerFrame, FrameDecodeError, type HeartbeatReply, type HostCallMessage, type ReplyMessage, type ServerFrameFlags } from './sessionCodec.js';
import { decodeFrameOrError, type HostCallAnswerer, WorkerConnection } from './workerConnection.js';

type WorkerClient = grpc.Client & Record<string, any>;

let workerClientConstructor: grpc.ServiceClientConstructor | undefined;

function clientConstructor(): grpc.ServiceClientConstructor {
  if (!workerClientConstructor) {
    const definition = protoLoader.loadSync(path.join(PACKAGE_ROOT, 'proto', 'snakepit.proto'), {
      keepCase: true,
      longs: Number,
      defaults: true,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(definition) as any;
    workerClientConstructor = loaded.snakepit.v1.Worker as grpc.ServiceClientConstructor;
  }
  return workerClientConstructor;
}

const SESSION_METHOD = '/snakepit.v1.Worker/Session';

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  // HTTP/2's default 64 KiB window makes a large reply wait for a window update every 64 KiB.
  'grpc-node.flow_control_window': 8 * 1024 * 1024,
};

/** What a standalone bridge server says of itself (HelloReply). */
export interface HelloReply {
  protocol: number;
  pid: number;
  python: string;
  gil_enabled: boolean;
  profile: string;
  capacity: number;
  tools: string[];
  draining: boolean;
  server_id: string;
}

/** TLS towards a bridge server: `ca` to trust, `cert`/`key` for mutual TLS, `servername` to expect in its certificate. */
export interface ChannelSecurity {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  servername?: string;
}

export class GrpcConnection extends WorkerConnection {
  private readonly client: WorkerClient;
  private readonly metadata = new grpc.Metadata();
  /** Carries frames we encoded ourselves, so what is written is exactly what we chose to send. */
  private session: grpc.ClientDuplexStream<Buffer, DecodedFrame | FrameDecodeError> | undefined;

  /** Without `security`, a plaintext channel: local workers on a private socket, or `tls: false`. */
  constructor(address: string, token: string, onBroken: (error: Error) => void, runsInOrder: boolean, host?: HostCallAnswerer, security?: ChannelSecurity) {
    super(onBroken, runsInOrder, host);
    const Client = clientConstructor();
    const credentials = security ? grpc.credentials.createSsl(security.ca ?? null, security.key ?? null, security.cert ?? null) : grpc.credentials.createInsecure();
    const options = security?.servername
      ? { ...CHANNEL_OPTIONS, 'grpc.ssl_target_name_override': security.servername, 'grpc.default_authority': security.servername }
      : CHANNEL_OPTIONS;
    this.client = new Client(address, credentials, options) as WorkerClient;
    this.metadata.set('x-snakepit-token', token);
  }

  /** Asks a bridge server what it is; fails at once (no waiting for a connection) if it cannot be reached. */
  hello(timeoutMs: number): Promise<HelloReply> {
    return new Promise((resolve, reject) =>
      this.client.Hello({}, this.metadata, { deadline: Date.now() + timeoutMs }, (error: Error | null, reply: HelloReply) =>
        error ? reject(error) : resolve(reply),
      ),
    );
  }

  protected async connect(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (error) => (error ? reject(error) : resolve())),
    );
    const session = this.client.makeBidiStreamRequest(SESSION_METHOD, passThrough, decodeOrError, this.metadata);
    session.on('data', (frame: DecodedFrame | FrameDecodeError) => {
      if (frame instanceof FrameDecodeError) this.fail(frame);
      else this.received(frame.replies, frame.hostCalls, frame.flags.draining);
    });
    session.on('error', (error) => this.fail(error));
    session.on('end', () => this.fail(new Error('the worker closed its session')));
    this.session = session;
  }

  protected writeFrame(frame: Buffer | Buffer[], written?: () => void): void {
    this.session?.write(Array.isArray(frame) ? Buffer.concat(frame) : frame, written);
  }

  heartbeat(seq: number, timeoutMs: number): Promise<HeartbeatReply> {
    return new Promise((resolve, reject) =>
      this.client.Heartbeat({ seq }, this.metadata, { deadline: Date.now() + timeoutMs }, (error: Error | null, reply: HeartbeatReply) =>
        error ? reject(error) : resolve(reply),
      ),
    );
  }

  protected closeTransport(): void {
    this.session?.cancel();
    this.client.close();
  }
}

const passThrough = (frame: Buffer): Buffer => frame;

/** Never throws: a bad frame reaches the 'data' listener as its error and ends the connection there. */
const decodeOrError = (buffer: Buffer) =>
  decodeFrameOrError((): DecodedFrame => {
    const hostCalls: HostCallMessage[] = [];
    const flags: ServerFrameFlags = { draining: false };
    return { replies: decodeServerFrame(buffer, undefined, hostCalls, flags), hostCalls, flags };
  });

interface DecodedFrame {
  replies: ReplyMessage[];
  hostCalls: HostCallMessage[];
  flags: ServerFrameFlags;
}
