// A pool's preloading fork server (python/snakepit_bridge/forkserver.py): a Python process that
// imported the adapter's module once and forks the pool's workers from itself on request.
//
// A fork is not Node's child, so it cannot inherit pipes from Node: it connects to this server's
// link socket (a Unix socket in the run's private socket directory) three times — its control
// channel, stdout and stderr — naming the fork's one-time key, and from then on it is a worker
// like a spawned one: its token goes out on its control channel, never in an argument or a
// request. Its exit is reported by the fork server (its parent, which reaps it); if the fork
// server is gone, the end of its control channel and /proc tell it instead.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { constants } from 'node:os';
import { Duplex, PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeExit, StartupFailedError, type WorkerExit } from '../errors.js';
import { onProcessExit } from '../process/exitHook.js';
import { CONTROL_LINE_BYTES, LOG_LINE_BYTES, parseControl, readCappedLines } from '../process/lineReader.js';
import { groupEnded, procStat } from '../process/procInfo.js';
import { type LaunchOptions, signalGroup, spawnPython, type StartedProcess } from '../process/pythonProcess.js';
import { freeSocketPath } from '../process/socketPath.js';

const LINK_STREAMS = ['control', 'stdout', 'stderr'] as const;
type LinkStream = (typeof LINK_STREAMS)[number];
/** The key line a fork opens each link with is 32 hex digits and a stream name. */
const LINK_HEADER_BYTES = 64;
/** With the fork server alive, how long a fork's exit status may trail the end of its control channel. */
const EXIT_REPORT_MS = 1000;
/** The fork server's environment holds this nonce; each fork writes its own over it. */
const PLACEHOLDER_NONCE = '0'.repeat(16);

export type ForkServerOptions = Pick<LaunchOptions, 'executable' | 'pool' | 'adapter' | 'transport' | 'env' | 'pythonPath' | 'socketDir' | 'runId' | 'startupTimeoutMs'> & {
  onLog: (stream: 'stdout' | 'stderr', line: string, pid: number | undefined) => void;
};

/** How loading ended: ready to fork, or why not (`refused`: threads at import). */
export type Loaded = { ok: true } | { ok: false; refused: boolean; message: string };

/** A fork was asked of a fork server that is gone: the worker can be spawned instead. */
export class ForkServerGone extends Error {}

interface PendingFork {
  pid?: number;
  links: Partial<Record<LinkStream, net.Socket>>;
  resolve(process: ForkedProcess): void;
  reject(error: Error): void;
}

export class ForkServer {
  readonly process: StartedProcess;
  readonly loaded: Promise<Loaded>;
  /** Its group has ended. */
  readonly ended: Promise<WorkerExit>;
  exit: WorkerExit | undefined;
  private readonly pending = new Map<string, PendingFork>();
  private readonly forks = new Map<number, ForkedProcess>();

  private constructor(private readonly options: ForkServerOptions, private readonly link: net.Server, private readonly linkPath: string) {
    this.process = spawnPython(options, ['--fork-server', '--adapter', options.adapter, '--transport', options.transport, '--run-id', options.runId], PLACEHOLDER_NONCE);
    this.process.control.on('error', () => {}); // gone: its exit says so
    const releaseExitHook = onProcessExit(() => this.killNow());
    readCappedLines(this.process.stdout, LOG_LINE_BYTES, (line) => options.onLog('stdout', line, this.pid));
    readCappedLines(this.process.stderr, LOG_LINE_BYTES, (line) => options.onLog('stderr', line, this.pid));
    let settleLoad: (outcome: Loaded) => void = () => {};
    this.loaded = new Promise((resolve) => (settleLoad = resolve));
    readCappedLines(this.process.control, CONTROL_LINE_BYTES, (line) => {
      const message = parseControl(line);
      if (message?.type === 'preloaded') settleLoad({ ok: true });
      else if (message?.type === 'refused') settleLoad({ ok: false, refused: true, message: String(message.message) });
      else if (message?.type === 'startup_error') settleLoad({ ok: false, refused: false, message: `${message.error_type}: ${message.message}` });
      else if (message?.type === 'forked') this.forked(String(message.key), Number(message.pid));
      else if (message?.type === 'exited') this.reaped(Number(message.pid), message);
    });
    link.on('connection', (socket) => this.accept(socket));
    const exited = this.process.exited.then((exit) => {
      releaseExitHook();
      this.exit = exit;
      this.process.signalGroup('SIGKILL');
      link.close();
      settleLoad({ ok: false, refused: false, message: `the fork server exited (${describeExit(exit)}) before it had loaded the adapter's module` });
      for (const [key, pending] of this.pending) {
        this.pending.delete(key);
        killFork(pending); // forked but not linked yet: its start is given up
        pending.reject(new ForkServerGone());
      }
      for (const fork of this.forks.values()) fork.serverGone();
      return exit;
    });
    this.ended = exited.then(async (exit) => {
      await groupEnded(this.pid);
      return exit;
    });
  }

  /** Listens on a link socket, then spawns the fork server; `loaded` says whether it forks. */
  static async start(options: ForkServerOptions): Promise<ForkServer> {
    const linkPath = freeSocketPath(options.socketDir);
    const link = net.createServer();
    await new Promise<void>((resolve, reject) => {
      link.once('error', reject);
      link.listen(linkPath, () => resolve());
    });
    link.on('error', () => {}); // a failed accept leaves that fork to its own exit
    return new ForkServer(options, link, linkPath);
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  /** Forks a worker with the worker's arguments; resolves once its three links are connected. */
  fork(args: string[], signal?: AbortSignal): Promise<StartedProcess> {
    if (this.exit) return Promise.reject(new ForkServerGone());
    if (signal?.aborted) return Promise.reject(signal.reason);
    const key = randomBytes(16).toString('hex');
    return new Promise<StartedProcess>((resolve, reject) => {
      const giveUp = (error: Error) => {
        const pending = this.pending.get(key);
        this.pending.delete(key);
        if (pending) killFork(pending);
        reject(error);
      };
      const onAbort = () => giveUp(signal!.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      // A fork server that does not answer (frozen, stuck) is ended: its exit rejects this fork
      // with ForkServerGone (the worker is spawned) and the pool starts it again. A fork that
      // does not connect is ended as a worker that is not ready in time.
      const timer = setTimeout(() => {
        if (this.pending.get(key)?.pid === undefined) this.killNow();
        else giveUp(new StartupFailedError(`A worker forked by the fork server of pool "${this.options.pool}" had not connected to Node within ${this.options.startupTimeoutMs} ms (startupTimeoutMs).`, { pool: this.options.pool }));
      }, this.options.startupTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(key, {
        links: {},
        resolve: (process) => (done(), resolve(process)),
        reject: (error) => (done(), reject(error)),
      });
      this.process.control.write(`${JSON.stringify({ type: 'fork', key, link: this.linkPath, argv: args })}\n`);
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`; its forks go with it (forkserver.py). Resolves once its group has ended. */
  async terminate(graceMs: number): Promise<WorkerExit> {
    if (!this.exit) {
      this.process.signalGroup(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
      const timer = graceMs > 0 ? setTimeout(() => this.process.signalGroup('SIGKILL'), graceMs) : undefined;
      await this.process.exited;
      clearTimeout(timer);
    }
    return this.ended;
  }

  killNow(): void {
    if (!this.exit) this.process.signalGroup('SIGKILL');
  }

  private forked(key: string, pid: number): void {
    const pending = this.pending.get(key);
    if (!pending) {
      killFork({ pid, links: {} }); // its start was given up
      return;
    }
    pending.pid = pid;
    this.complete(key, pending);
  }

  private reaped(pid: number, message: Record<string, unknown>): void {
    const exit = { exitCode: (message.exit_code as number | null) ?? null, signal: signalName(message.signal) };
    const fork = this.forks.get(pid);
    if (fork) {
      this.forks.delete(pid);
      fork.reported(exit);
      return;
    }
    for (const [key, pending] of this.pending) {
      if (pending.pid !== pid) continue;
      this.pending.delete(key);
      for (const socket of Object.values(pending.links)) socket.destroy();
      pending.reject(new StartupFailedError(
        `A worker forked by the fork server of pool "${this.options.pool}" exited (${describeExit(exit)}) before it connected to Node; ` +
          'its output, if any, is in the fork server\'s log.',
        { pool: this.options.pool },
      ));
    }
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => {});
    readHeader(socket, (header) => {
      const [key, stream] = header.split(' ');
      const pending = this.pending.get(key);
      if (!pending || !LINK_STREAMS.includes(stream as LinkStream) || pending.links[stream as LinkStream]) {
        socket.destroy();
        return;
      }
      pending.links[stream as LinkStream] = socket;
      this.complete(key, pending);
    });
  }

  private complete(key: string, pending: PendingFork): void {
    const { control, stdout, stderr } = pending.links;
    if (pending.pid === undefined || !control || !stdout || !stderr) return;
    this.pending.delete(key);
    const fork = new ForkedProcess(pending.pid, procStat(pending.pid)?.startTime, control, stdout, stderr);
    this.forks.set(pending.pid, fork);
    if (this.exit) fork.serverGone();
    pending.resolve(fork);
  }
}

/** A worker forked by the fork server, as PythonProcess sees any started worker. */
class ForkedProcess implements StartedProcess {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly control: Duplex;
  readonly exited: Promise<WorkerExit>;
  readonly outputClosed: Promise<void>;
  private exit: WorkerExit | undefined;
  private settle: (exit: WorkerExit) => void = () => {};
  private controlClosed = false;
  private noServer = false;

  constructor(readonly pid: number, private readonly startTime: number | undefined, control: net.Socket, stdout: net.Socket, stderr: net.Socket) {
    this.stdout = stdout.pipe(new PassThrough());
    this.stderr = stderr.pipe(new PassThrough());
    this.control = Duplex.from({ readable: control.pipe(new PassThrough()), writable: control });
    this.exited = new Promise((resolve) => (this.settle = resolve));
    control.once('close', () => {
      this.controlClosed = true;
      void this.watchEnd();
    });
    const closed = (socket: net.Socket) => new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
    this.outputClosed = Promise.all([control, stdout, stderr].map(closed)).then(() => {});
  }

  /** The fork server reaped it. */
  reported(exit: WorkerExit): void {
    this.end(exit);
  }

  /** Nobody will report its exit: once it no longer runs, it has exited. */
  serverGone(): void {
    this.noServer = true;
    if (this.controlClosed) void this.watchEnd();
  }

  signalGroup(signal: NodeJS.Signals): boolean {
    // Before its exit is known, only the very process that was forked (a reaped pid can be reused);
    // after, its group, which cannot be reused while a member of it is left.
    if (!this.exit && !this.isRunning()) return false;
    return signalGroup(this.pid, signal);
  }

  private isRunning(): boolean {
    const stat = procStat(this.pid);
    return stat !== undefined && stat.state !== 'Z' && (this.startTime === undefined || stat.startTime === this.startTime);
  }

  private end(exit: WorkerExit): void {
    if (this.exit) return;
    this.exit = exit;
    this.settle(exit);
  }

  /** Its control channel closed: it is exiting, and its exit status follows from the fork server (or nobody). */
  private async watchEnd(): Promise<void> {
    let goneSince: number | undefined;
    while (!this.exit) {
      if (!this.isRunning()) goneSince ??= Date.now();
      if (goneSince !== undefined && (this.noServer || Date.now() - goneSince >= EXIT_REPORT_MS)) {
        this.end({ exitCode: null, signal: null });
        return;
      }
      await sleep(10);
    }
  }
}

/**
 * Ends a fork whose start was given up, and its links. Until it has linked it may not yet lead a
 * group of its own (forkserver.py calls setsid() before it links), so the process itself is killed
 * too: while its start is pending, the fork server (its parent) has not reported it reaped.
 */
function killFork(pending: Pick<PendingFork, 'pid' | 'links'>): void {
  if (pending.pid !== undefined) {
    signalGroup(pending.pid, 'SIGKILL');
    try {
      process.kill(pending.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (const socket of Object.values(pending.links)) socket.destroy();
}

/** Reads the link's first line, then leaves the socket paused with what followed put back. */
function readHeader(socket: net.Socket, done: (header: string) => void): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const at = buffered.indexOf(0x0a);
    if (at < 0) {
      if (buffered.length > LINK_HEADER_BYTES) socket.destroy();
      return;
    }
    socket.off('data', onData);
    socket.pause();
    if (at + 1 < buffered.length) socket.unshift(buffered.subarray(at + 1));
    done(buffered.subarray(0, at).toString('latin1'));
  };
  socket.on('data', onData);
}

/** A signal's name, as Node gives it for its own children. */
function signalName(signal: unknown): NodeJS.Signals | null {
  if (typeof signal !== 'number') return null;
  const named = Object.entries(constants.signals).find(([, number]) => number === signal);
  return named ? (named[0] as NodeJS.Signals) : null;
}
