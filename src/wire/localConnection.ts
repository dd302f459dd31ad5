// The local lane of a worker connection: the Session frames over the worker's Unix-domain
// socket, each as a 4-byte big-endian length and the frame, with no HTTP/2 in between. The first
// frame carries the worker's token; heartbeats ride the frames as pings and pongs.
import net from 'node:net';
import { FRAME_HEADER_BYTES, FrameReader } from './frameReader.js';
import { decodeServerFrame, encodeClientFrame, FrameDecodeError, type HeartbeatReply, type HostCallMessage } from './sessionCodec.js';
import { decodeFrameOrError, type HostCallAnswerer, WorkerConnection } from './workerConnection.js';

/** Room above the message limit for a frame's own fields, as the worker allows. */
const FRAME_OVERHEAD_BYTES = 4 * 1024 * 1024;

interface PendingPing {
  resolve(reply: HeartbeatReply): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class LocalConnection extends WorkerConnection {
  private socket: net.Socket | undefined;
  private readonly reader: FrameReader;
  private readonly path: string;
  private readonly pings = new Map<number, PendingPing>();

  constructor(
    address: string,
    private readonly token: string,
    maxMessageBytes: number,
    onBroken: (error: Error) => void,
    runsInOrder: boolean,
    host?: HostCallAnswerer,
  ) {
    super(onBroken, runsInOrder, host);
    this.path = address.replace(/^unix:(\/\/)?/, '');
    this.reader = new FrameReader(maxMessageBytes + FRAME_OVERHEAD_BYTES);
  }

  protected async connect(timeoutMs: number): Promise<void> {
    // Reads land where the frame reader says (a large frame's bytes straight into the frame);
    // the callback's true keeps the socket reading.
    const socket = net.createConnection({
      path: this.path,
      onread: { buffer: () => this.reader.readTarget(), callback: (n) => (this.onRead(n), true) },
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to the worker's socket ${this.path} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('the worker closed its connection')));
    this.socket = socket;
    this.writeFrame(encodeClientFrame({ calls: [], cancels: [], parts: [], token: Buffer.from(this.token) }));
  }

  private onRead(n: number): void {
    if (this.broken) return;
    let frames: Buffer[];
    try {
      frames = this.reader.didRead(n);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    for (const frame of frames) {
      const pongs: HeartbeatReply[] = [];
      const hostCalls: HostCallMessage[] = [];
      const replies = decodeFrameOrError(() => decodeServerFrame(frame, pongs, hostCalls));
      if (replies instanceof FrameDecodeError) return this.fail(replies);
      for (const pong of pongs) this.answered(pong);
      if (replies.length || hostCalls.length) this.received(replies, hostCalls);
      if (this.broken) return;
    }
  }

  protected writeFrame(frame: Buffer | Buffer[], written?: () => void): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    if (!Array.isArray(frame)) {
      // A small frame goes out in one write; copying it costs less than a writev would.
      const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + frame.length);
      out.writeUInt32BE(frame.length, 0);
      frame.copy(out, FRAME_HEADER_BYTES);
      socket.write(out, written && (() => written()));
      return;
    }
    // Pieces (a part of a large argument): the header and the first, small piece together,
    // then the data slices as they are, in one writev.
    let size = 0;
    for (const piece of frame) size += piece.length;
    const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES + frame[0].length);
    head.writeUInt32BE(size, 0);
    frame[0].copy(head, FRAME_HEADER_BYTES);
    socket.cork();
    socket.write(head);
    for (let i = 1; i < frame.length; i++) socket.write(frame[i], i === frame.length - 1 && written ? () => written() : undefined);
    socket.uncork();
  }

  heartbeat(seq: number, timeoutMs: number): Promise<HeartbeatReply> {
    if (this.broken) return Promise.reject(new Error('the connection to the worker is closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pings.delete(seq);
        reject(new Error(`no heartbeat reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pings.set(seq, { resolve, reject, timer });
      (this.outbox.pings ??= []).push(seq);
      this.scheduleFlush();
    });
  }

  private answered(pong: HeartbeatReply): void {
    const ping = this.pings.get(pong.seq);
    if (!ping) return;
    this.pings.delete(pong.seq);
    clearTimeout(ping.timer);
    ping.resolve(pong);
  }

  protected override setBroken(): void {
    super.setBroken();
    for (const ping of this.pings.values()) {
      clearTimeout(ping.timer);
      ping.reject(new Error('the connection to the worker closed'));
    }
    this.pings.clear();
  }

  protected closeTransport(): void {
    this.socket?.destroy();
  }
}
