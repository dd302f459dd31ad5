// Every failure a caller can see is a SnakepitError with a stable `code`.
// `instanceof` is answered by a brand and the code, not by prototype identity, so it keeps
// working when two copies of this package end up in one application.

const brand = Symbol.for('snakepit.error');

export const ErrorCode = {
  INVALID_CONFIG: 'INVALID_CONFIG',
  POOL_NOT_FOUND: 'POOL_NOT_FOUND',
  POOL_SATURATED: 'POOL_SATURATED',
  QUEUE_TIMEOUT: 'QUEUE_TIMEOUT',
  TIMEOUT: 'TIMEOUT',
  ABORTED: 'ABORTED',
  WORKER_CRASHED: 'WORKER_CRASHED',
  PYTHON_ERROR: 'PYTHON_ERROR',
  TOOL_NOT_FOUND: 'TOOL_NOT_FOUND',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  STARTUP_FAILED: 'STARTUP_FAILED',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  MAX_RESTARTS_EXCEEDED: 'MAX_RESTARTS_EXCEEDED',
  MESSAGE_TOO_LARGE: 'MESSAGE_TOO_LARGE',
  /** Misuse of the instance's lifecycle: a second start(), the actor tree before start(). */
  INVALID_STATE: 'INVALID_STATE',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class SnakepitError extends Error {
  /** The code subclasses answer to in `instanceof`; the base class answers to all. */
  static readonly code: ErrorCode | undefined = undefined;
  readonly [brand] = true;
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(value as any)[brand]) return false;
    return this.code === undefined || (value as SnakepitError).code === this.code;
  }
}

export class InvalidConfigError extends SnakepitError {
  static override readonly code = ErrorCode.INVALID_CONFIG;
  constructor(
    message: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(ErrorCode.INVALID_CONFIG, message);
  }
}

export class PoolNotFoundError extends SnakepitError {
  static override readonly code = ErrorCode.POOL_NOT_FOUND;
  constructor(readonly pool: string, known: string[]) {
    super(
      ErrorCode.POOL_NOT_FOUND,
      `No pool named "${pool}". Configured pools: ${known.map((p) => `"${p}"`).join(', ') || 'none'}.`,
    );
  }
}

export class PoolSaturatedError extends SnakepitError {
  static override readonly code = ErrorCode.POOL_SATURATED;
  constructor(readonly pool: string, maxQueue: number) {
    super(
      ErrorCode.POOL_SATURATED,
      `Pool "${pool}" is saturated: every worker is busy and ${maxQueue} calls are already queued. ` +
        'Retry later, raise maxQueue, or add workers.',
    );
  }
}

export class QueueTimeoutError extends SnakepitError {
  static override readonly code = ErrorCode.QUEUE_TIMEOUT;
  constructor(readonly pool: string, waitedMs: number) {
    super(
      ErrorCode.QUEUE_TIMEOUT,
      `Call waited ${waitedMs} ms in the queue of pool "${pool}" without a free worker. ` +
        'Raise queueTimeoutMs or add workers.',
    );
  }
}

/**
 * A call made inside an exposed function (ctx.call → execute) that cannot get a worker because
 * the calls it is nested in hold the places it needs. Its code is QUEUE_TIMEOUT, so it is also
 * `instanceof QueueTimeoutError`; `chain` names the tools, outermost first, this call's last.
 */
export class CallChainError extends SnakepitError {
  static override readonly code = ErrorCode.QUEUE_TIMEOUT;
  constructor(readonly pool: string, readonly chain: string[], message: string) {
    super(ErrorCode.QUEUE_TIMEOUT, message);
  }
}

/** Where a call was when its deadline passed: waiting for a worker, on one, or answered too late. */
export type TimeoutStage = 'queued' | 'running' | 'answered';

export class TimeoutError extends SnakepitError {
  static override readonly code = ErrorCode.TIMEOUT;
  constructor(readonly tool: string, timeoutMs: number, stage: TimeoutStage, cancelGraceMs: number) {
    const what = {
      queued: ': no worker took it in that time, so it never ran in Python.',
      // Python cannot be interrupted: say what the caller's give-up does and does not do.
      running:
        '. Python may still be running it: the tool sees ctx.cancelled turn true, and its worker keeps the call\'s ' +
        `place until the tool returns. If it is still running ${cancelGraceMs} ms from now (cancelGraceMs), ` +
        'the worker is judged stuck and replaced.',
      answered: ': its answer came after the deadline and was dropped.',
    }[stage];
    super(ErrorCode.TIMEOUT, `Tool "${tool}" did not answer within ${timeoutMs} ms${what}`);
  }
}

export class AbortedError extends SnakepitError {
  static override readonly code = ErrorCode.ABORTED;
  constructor(readonly tool: string, reason?: unknown) {
    super(ErrorCode.ABORTED, `Call to tool "${tool}" was aborted by its signal.`, { cause: reason });
  }
}

export interface WorkerExit {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** "signal SIGKILL" or "exit code 1", as messages say how a process ended. */
export function describeExit(exit: WorkerExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.exitCode}`;
}

export class WorkerCrashedError extends SnakepitError {
  static override readonly code = ErrorCode.WORKER_CRASHED;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /**
   * With a `cause`, `failure` says what went wrong instead of the exit status; `message` replaces
   * the whole text (a call made for this worker alone that it never got to).
   */
  constructor(
    readonly workerId: string,
    readonly pid: number | undefined,
    exit: WorkerExit,
    cause?: unknown,
    failure = 'could not be sent the call',
    message?: string,
  ) {
    const how = exit.signal ? `died with signal ${exit.signal}` : `died with exit code ${exit.exitCode}`;
    super(
      ErrorCode.WORKER_CRASHED,
      message ??
        `Worker ${workerId} (pid ${pid}) ${cause === undefined ? how : `${failure} (${String(cause)})`} while handling this call. ` +
          'The supervisor restarts it; retry the call if it is safe to repeat.',
      { cause },
    );
    this.exitCode = exit.exitCode;
    this.signal = exit.signal;
  }
}

/**
 * The tool raised. `message` is Python's own last line, `ValueError: bad input`, which a
 * handler may pass on: the traceback, with its file paths, is kept apart in `pythonTraceback`.
 */
export class PythonError extends SnakepitError {
  static override readonly code = ErrorCode.PYTHON_ERROR;
  constructor(
    /** The tool that raised. */
    readonly tool: string,
    /** The exception's class name, e.g. `ValueError`. */
    readonly pythonType: string,
    /** `str()` of the exception: the message without its type. */
    readonly pythonMessage: string,
    /** The traceback as Python prints it, `Traceback (most recent call last):` on. */
    readonly pythonTraceback: string,
  ) {
    super(ErrorCode.PYTHON_ERROR, pythonMessage ? `${pythonType}: ${pythonMessage}` : pythonType);
  }
}

export class ToolNotFoundError extends SnakepitError {
  static override readonly code = ErrorCode.TOOL_NOT_FOUND;
  constructor(readonly tool: string, message: string) {
    super(ErrorCode.TOOL_NOT_FOUND, message);
  }
}

export class InvalidArgumentError extends SnakepitError {
  static override readonly code = ErrorCode.INVALID_ARGUMENT;
  constructor(readonly tool: string, message: string) {
    super(ErrorCode.INVALID_ARGUMENT, message);
  }
}

export class MessageTooLargeError extends SnakepitError {
  static override readonly code = ErrorCode.MESSAGE_TOO_LARGE;
  constructor(readonly tool: string, message: string, readonly size?: number, readonly limit?: number) {
    super(ErrorCode.MESSAGE_TOO_LARGE, message);
  }

  static forArguments(tool: string, size: number, limit: number): MessageTooLargeError {
    return new MessageTooLargeError(
      tool,
      `The arguments of tool "${tool}" take ${size} bytes, over the pool's maxMessageBytes (${limit}). ` +
        'Send less per call (split the data), or raise maxMessageBytes.',
      size,
      limit,
    );
  }
}

export class InvalidStateError extends SnakepitError {
  static override readonly code = ErrorCode.INVALID_STATE;
  constructor(message: string) {
    super(ErrorCode.INVALID_STATE, message);
  }
}

export class StartupFailedError extends SnakepitError {
  static override readonly code = ErrorCode.STARTUP_FAILED;
  constructor(
    message: string,
    readonly details: { pool?: string; workerId?: string; pythonType?: string; pythonTraceback?: string; stderr?: string[] } = {},
  ) {
    super(ErrorCode.STARTUP_FAILED, message);
  }
}

export class ShuttingDownError extends SnakepitError {
  static override readonly code = ErrorCode.SHUTTING_DOWN;
  constructor() {
    super(ErrorCode.SHUTTING_DOWN, 'Snakepit is stopping or stopped and takes no new calls. Start a new instance.');
  }
}

export class MaxRestartsExceededError extends SnakepitError {
  static override readonly code = ErrorCode.MAX_RESTARTS_EXCEEDED;
  /** `level` root: pools failed faster than the root supervisor allows, and everything stopped. */
  constructor(readonly pool: string, intensity: number, periodMs: number, readonly level: 'pool' | 'root' = 'pool') {
    super(
      ErrorCode.MAX_RESTARTS_EXCEEDED,
      (level === 'pool'
        ? `Pool "${pool}" failed: its workers crashed more than ${intensity} times within ${periodMs} ms, `
        : `Snakepit stopped: pools failed (last: "${pool}") more than ${intensity} times within ${periodMs} ms, `) +
        'so the supervisor gave up instead of restarting in a loop. Check the worker:crashed and worker:log ' +
        'events for the cause, then start Snakepit again.',
    );
  }
}
