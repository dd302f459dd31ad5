// One Python worker process: how it is started, how we learn it is ready, and how it ends.
//
// The worker is its own process group (so a stop reaches its grandchildren too) and talks to
// us over a control channel (an extra pipe on fd 3, or for a fork of a pool's fork server a
// connection to Node's link socket: preload/forkServer.ts): its readiness and start-up errors arrive there as JSON lines,
// where no user print() can forge them, and the pipe's end-of-file tells it we died. The ready
// line states the bridge's protocol version; a bridge that speaks another one does not start.
// Its token is the first line we write on that pipe: in the environment it would stay readable
// in /proc/<pid>/environ for as long as the worker lives.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeExit, StartupFailedError, type WorkerExit } from '../errors.js';
import type { HostCallAnswerer } from '../wire/workerConnection.js';
import { onProcessExit } from './exitHook.js';
import { clipLine, CONTROL_LINE_BYTES, type ControlMessage, LOG_LINE_BYTES, parseControl, readCappedLines } from './lineReader.js';
import { groupEnded } from './procInfo.js';
import { BRIDGE_DIR } from './pythonExecutable.js';
import { PROTOCOL_VERSION } from '../wire/sessionCodec.js';
import { startupHint } from './startupHints.js';
import { freeSocketPath } from './socketPath.js';
import { StartedCallsFile } from './startedCalls.js';

/** Set in every worker's environment to the PID of the Node process that spawned it. */
export const OWNER_PID_ENV = 'SNAKEPIT_OWNER_PID';

export interface LaunchOptions {
  executable: string;
  /** Which rule chose the interpreter, for error messages. */
  executableSource?: string;
  workerId: string;
  pool: string;
  adapter: string;
  profile: 'process' | 'thread';
  /** What carries the frames: the local lane or gRPC. */
  transport: 'local' | 'grpc';
  threads: number;
  threadSafetyChecks: boolean;
  /** The longest the worker polls for its next call before sleeping, in µs (local lane, process profile). */
  idlePollMicros: number;
  /** Extra environment: user's python.env, then the pool's profile env. */
  env: Record<string, string>;
  pythonPath: string[];
  socketDir: string;
  runId: string;
  startupTimeoutMs: number;
  /** Largest arguments or result of one call (the pool's maxMessageBytes). */
  maxMessageBytes: number;
  /** A line the worker printed; `pid` is this process's (its slot may not know it yet). */
  onLog: (stream: 'stdout' | 'stderr', line: string, pid: number | undefined) => void;
  /** A control line other than `ready` / `startup_error`, which may come before the slot has the pid. */
  onControl: (message: ControlMessage, pid: number | undefined) => void;
  /** Called once the process exists, so the owner can reap it whatever happens next. */
  onSpawn?: (process: PythonProcess) => void;
  /** Answers the worker's calls into Node (ctx.call). */
  host?: HostCallAnswerer;
  /** The pool's fork server, when it preloads. */
  preloader?: Preloader;
}

/** A worker process once started, spawned by Node or forked by its pool's fork server. */
export interface StartedProcess {
  readonly pid: number | undefined;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /** The control channel: the worker's token goes out on it, its control lines come in. */
  readonly control: Duplex;
  /** The process itself (its group's leader) has exited. */
  readonly exited: Promise<WorkerExit>;
  /** Its stdout, stderr and control channels have all closed. */
  readonly outputClosed: Promise<void>;
  /** Why it could not be started (spawn's errors), to quote. */
  readonly errors?: string[];
  /** Signals its whole process group; false if nothing was there. */
  signalGroup(signal: NodeJS.Signals): boolean;
}

/** Where a pool with `preload` gets its workers: undefined means spawn this one (preload/preloader.ts). */
export interface Preloader {
  fork(args: string[], signal?: AbortSignal): Promise<StartedProcess | undefined>;
}

export interface ReadyInfo {
  pid: number;
  address: string;
  gil_enabled: boolean;
  python: string;
  tools: string[];
  /** The bridge's PROTOCOL_VERSION; start-up fails unless it equals ours. */
  protocol: number;
}

// The stderr tail quoted by STARTUP_FAILED keeps the last 20 lines, each at most 4 KiB (the
// other output caps are lineReader.ts's).
const STDERR_TAIL_LINES = 20;
const STDERR_TAIL_LINE_BYTES = 4 * 1024;
/** How long a worker that ended before it was ready may take to close its output pipes (see awaitReady). */
const OUTPUT_CLOSE_TIMEOUT_MS = 1000;
/**
 * The worker's entry, as `python -c` runs it (python/tests/conftest.py starts workers the same way).
 * A command line holding it (and `--run-id`) is a worker's: the run registry tells its workers so.
 */
export const WORKER_MAIN = 'from snakepit_bridge.worker import main; main()';

export class PythonProcess {
  readonly token: string;
  /** A process worker's record of the calls it started (its calls run one at a time, in order). */
  private readonly startedCalls: StartedCallsFile | undefined;
  /** The worker itself has exited (the group leader). */
  readonly exited: Promise<WorkerExit>;
  /** The worker has exited and no process of its group runs any more. */
  readonly ended: Promise<WorkerExit>;
  /** Its stdout, stderr and control pipes have all closed: every line it wrote has been read. */
  private readonly outputClosed: Promise<void>;
  exit: WorkerExit | undefined;
  private readonly child: StartedProcess;
  private readonly stderrTail: string[] = [];

  private constructor(readonly options: LaunchOptions, started: StartedProcess, startedCalls: StartedCallsFile | undefined) {
    this.token = randomBytes(24).toString('base64url');
    this.child = started;
    this.startedCalls = startedCalls;
    const control = started.control;
    control?.on('error', () => {}); // a worker gone early: its exit says why
    control?.write(`${this.token}\n`);
    // If Node exits without stop(), the worker goes with it.
    const releaseExitHook = onProcessExit(() => this.killNow());
    this.outputClosed = started.outputClosed;
    this.exited = started.exited.then((exit) => {
      releaseExitHook();
      for (const error of started.errors ?? []) this.keepStderr(error); // it could not be started at all
      this.exit = exit;
      // The leader is gone; take down anything it left in its group.
      this.signalGroup('SIGKILL');
      return exit;
    });
    this.ended = this.exited.then(async (exit) => {
      await groupEnded(started.pid);
      this.startedCalls?.remove();
      return exit;
    });
    options.onSpawn?.(this);
    readCappedLines(started.stdout, LOG_LINE_BYTES, (line) => options.onLog('stdout', line, this.pid));
    readCappedLines(started.stderr, LOG_LINE_BYTES, (line) => {
      this.keepStderr(line);
      options.onLog('stderr', line, this.pid);
    });
  }

  /** The last stderr lines, for start-up errors. */
  private keepStderr(line: string): void {
    this.stderrTail.push(clipLine(line, STDERR_TAIL_LINE_BYTES));
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Starts a worker (a fork of the pool's fork server, if it has one that forks) and resolves once it listens on its socket. */
  static async launch(options: LaunchOptions, signal?: AbortSignal): Promise<{ process: PythonProcess; ready: ReadyInfo }> {
    if (signal?.aborted) throw startCancelled(options); // nothing is spawned for a start already given up
    const address = `unix:${freeSocketPath(options.socketDir)}`;
    const args = workerArgs(options, address);
    const startedCalls = options.profile === 'process' ? new StartedCallsFile(`${address.slice('unix:'.length)}.started`) : undefined;
    if (startedCalls) args.push('--started-file', startedCalls.path);
    let started: StartedProcess | undefined;
    try {
      started = options.preloader ? await options.preloader.fork(args, signal) : undefined;
      if (signal?.aborted) throw startCancelled(options);
    } catch (error) {
      started?.signalGroup('SIGKILL');
      startedCalls?.remove();
      throw signal?.aborted ? startCancelled(options) : error;
    }
    started ??= spawnWorker(options, args);
    const worker = new PythonProcess(options, started, startedCalls);
    try {
      const ready = await worker.awaitReady(signal);
      return { process: worker, ready };
    } catch (error) {
      await worker.terminate(0);
      throw error;
    }
  }

  private awaitReady(signal?: AbortSignal): Promise<ReadyInfo> {
    const { workerId, pool, adapter, startupTimeoutMs } = this.options;
    return new Promise<ReadyInfo>((resolve, reject) => {
      let startupError: ControlMessage | undefined;
      let ready = false;
      const timer = setTimeout(
        () => reject(new StartupFailedError(
          `Worker ${workerId} of pool "${pool}" was not ready within ${startupTimeoutMs} ms. ` +
            `Raise startupTimeoutMs if adapter ${adapter} loads slowly.${this.stderrText()}`,
          { pool, workerId, stderr: [...this.stderrTail] },
        )),
        startupTimeoutMs,
      );
      const onAbort = () => reject(startCancelled(this.options));
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      readCappedLines(this.child.control!, CONTROL_LINE_BYTES, (line) => {
        const message = parseControl(line);
        if (!message) return;
        if (message.type === 'ready') {
          ready = true;
          done();
          if (message.protocol === PROTOCOL_VERSION) resolve(message as unknown as ReadyInfo);
          else reject(this.protocolMismatch(message.protocol));
        } else if (message.type === 'startup_error') {
          startupError = message;
        } else {
          this.options.onControl(message, this.pid);
        }
      });
      this.exited.then(async (exit) => {
        done();
        if (ready) return; // a later exit is the supervisor's business, not start-up's
        // Let the last stderr and control lines arrive before quoting them: the pipes close once
        // the worker's group is gone (killed on its exit); one that escaped the group could keep
        // them open, hence the limit.
        await Promise.race([this.outputClosed, sleep(OUTPUT_CLOSE_TIMEOUT_MS, undefined, { ref: false })]);
        reject(this.startupFailure(exit, startupError));
      });
    });
  }

  private startupFailure(exit: WorkerExit, error: ControlMessage | undefined): StartupFailedError {
    const { workerId, pool, adapter } = this.options;
    const how = describeExit(exit);
    if (error) {
      const said = `${error.error_type}: ${error.message}`;
      return new StartupFailedError(
        `Worker ${workerId} of pool "${pool}" could not start adapter ${adapter}: ${said}${startupHint(said, this.options)}\n${error.traceback ?? ''}`,
        { pool, workerId, pythonType: String(error.error_type), pythonTraceback: String(error.traceback ?? ''), stderr: [...this.stderrTail] },
      );
    }
    return new StartupFailedError(
      `Worker ${workerId} of pool "${pool}" exited with ${how} before it was ready.` +
        `${startupHint(this.stderrTail.join('\n'), this.options)}${this.stderrText()}`,
      { pool, workerId, stderr: [...this.stderrTail] },
    );
  }

  private protocolMismatch(theirs: unknown): StartupFailedError {
    const { workerId, pool, executable } = this.options;
    const bridge = theirs === undefined ? 'states no protocol version (an older bridge)' : `speaks protocol version ${JSON.stringify(theirs)}`;
    return new StartupFailedError(
      `Worker ${workerId} of pool "${pool}": the Python bridge (python: ${executable}) ${bridge}, ` +
        `but this snakepit package speaks protocol version ${PROTOCOL_VERSION}. Install matching versions of ` +
        'the npm package and the Python bridge (snakepit_bridge): the bridge that runs must be the one shipped in this package.',
      { pool, workerId, stderr: [...this.stderrTail] },
    );
  }

  private stderrText(): string {
    return this.stderrTail.length ? `\nLast stderr lines:\n${this.stderrTail.join('\n')}` : '';
  }

  /**
   * Of the calls sent to a process worker, the highest id it started: once it has exited, those
   * above it never started; while it runs, those up to it have. Undefined for a thread worker
   * (it holds only calls it runs), or when nothing is known.
   */
  highestStartedCall(): number | undefined {
    return this.startedCalls?.highestStarted();
  }

  /** Sends a signal to the worker's whole process group; false if nothing was there. */
  signalGroup(signal: NodeJS.Signals): boolean {
    return this.child.signalGroup(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs` if the worker is still there; resolves once its group has ended. */
  async terminate(graceMs: number): Promise<WorkerExit> {
    if (!this.exit) {
      this.signalGroup(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
      const timer = graceMs > 0 ? setTimeout(() => this.signalGroup('SIGKILL'), graceMs) : undefined;
      await this.exited;
      clearTimeout(timer);
    }
    return this.ended;
  }

  /** Synchronous last resort for process exit: no promise will run after this. */
  killNow(): void {
    if (!this.exit) this.signalGroup('SIGKILL');
  }
}

/** The worker's command line after the interpreter's own options. */
function workerArgs(options: LaunchOptions, address: string): string[] {
  const args = [
    '--adapter', options.adapter,
    '--address', address,
    '--transport', options.transport,
    '--profile', options.profile,
    '--threads', String(options.threads),
    '--worker-id', options.workerId,
    '--run-id', options.runId,
    '--max-message-bytes', String(options.maxMessageBytes),
  ];
  if (options.threadSafetyChecks) args.push('--thread-safety-checks');
  if (options.idlePollMicros) args.push('--idle-poll-us', String(options.idlePollMicros));
  return args;
}

/**
 * The environment of a worker, and of a pool's fork server: `nonce` makes its environment block
 * unique (a fork server's children give themselves their own, in place: forkserver.py).
 */
export function workerEnv(options: Pick<LaunchOptions, 'env' | 'pythonPath'>, nonce: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...options.env,
    PYTHONPATH: [BRIDGE_DIR, ...options.pythonPath, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    PYTHONUNBUFFERED: '1',
    SNAKEPIT_CONTROL_FD: '3',
    // Not a secret: it makes the worker's environment block unique, so its reaper can tell
    // the worker's forks apart from other workers' (python/snakepit_bridge/reaper.py).
    SNAKEPIT_WORKER_NONCE: nonce,
    [OWNER_PID_ENV]: String(process.pid),
  };
}

/**
 * Spawns `python -u -c WORKER_MAIN …args` as its own process group (so a stop reaches its
 * grandchildren too), with the control pipe on fd 3.
 */
export function spawnPython(options: Pick<LaunchOptions, 'executable' | 'env' | 'pythonPath'>, args: string[], nonce: string): StartedProcess {
  // `python -m snakepit_bridge` without runpy, whose imports cost milliseconds of every start.
  const child = spawn(options.executable, ['-u', '-c', WORKER_MAIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
    env: workerEnv(options, nonce),
  });
  const errors: string[] = [];
  const exited = new Promise<WorkerExit>((resolve) => {
    child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
    child.once('error', (error) => {
      errors.push(String(error));
      if (child.pid === undefined) resolve({ exitCode: null, signal: null });
    });
  });
  return {
    pid: child.pid,
    stdout: child.stdout!,
    stderr: child.stderr!,
    control: child.stdio[3] as Duplex,
    exited,
    outputClosed: new Promise((resolve) => child.once('close', () => resolve())),
    errors,
    signalGroup: (signal) => signalGroup(child.pid, signal),
  };
}

function spawnWorker(options: LaunchOptions, args: string[]): StartedProcess {
  return spawnPython(options, args, randomBytes(8).toString('hex'));
}

/** Sends a signal to the process group `pid` leads; false if nothing was there. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

function startCancelled({ workerId, pool }: LaunchOptions): StartupFailedError {
  return new StartupFailedError(`Start of worker ${workerId} was cancelled.`, { pool, workerId });
}
