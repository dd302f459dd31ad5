// Checks of what a caller hands the public API (tool name, arguments object, call options,
// durations), so misuse is INVALID_ARGUMENT at once, with a message saying what to send.
import { MAX_DURATION_MS, MAX_HIGH_WATER_MARK } from '../config.js';
import type { BroadcastOptions, StreamOptions } from './calls.js';

const MAX_SESSION_ID_LENGTH = 1024;

/** What is wrong with a call's tool name, arguments or options, if anything. */
export function checkCall(tool: unknown, args: unknown, options: unknown): string | undefined {
  if (typeof tool !== 'string' || tool.length === 0) return `The tool name must be a non-empty string; got ${describeValue(tool)}.`;
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    return `Arguments to tool "${tool}" must be an object of keyword arguments, e.g. { a: 1 }; got ${describeValue(args)}.`;
  }
  if (options === null || typeof options !== 'object') return `Call options must be an object, e.g. { pool: 'ml', timeoutMs: 5000 }; got ${describeValue(options)}.`;
  const { pool, timeoutMs, signal, sessionId, workerId, onProgress, highWaterMark } = options as StreamOptions;
  if (pool !== undefined && typeof pool !== 'string') return `The pool option must be a pool's name; got ${describeValue(pool)}.`;
  if (timeoutMs !== undefined && !isDuration(timeoutMs, false)) {
    return `timeoutMs must be a number of ms above 0 and at most ${MAX_DURATION_MS}; got ${describeValue(timeoutMs)}.`;
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) return `signal must be an AbortSignal (e.g. AbortSignal.timeout(1000)); got ${describeValue(signal)}.`;
  if (sessionId !== undefined && (typeof sessionId !== 'string' || sessionId.length === 0 || sessionId.length > MAX_SESSION_ID_LENGTH)) {
    return `sessionId must be a non-empty string of at most ${MAX_SESSION_ID_LENGTH} characters, e.g. a user or conversation id; got ${describeValue(sessionId)}.`;
  }
  if (workerId !== undefined && (typeof workerId !== 'string' || workerId.length === 0)) {
    return `workerId must be a worker's id as inspect() shows it, e.g. "default-1"; got ${describeValue(workerId)}.`;
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') return `onProgress must be a function of ({ done, total, message }); got ${describeValue(onProgress)}.`;
  if (highWaterMark !== undefined && !(Number.isInteger(highWaterMark) && highWaterMark >= 1 && highWaterMark <= MAX_HIGH_WATER_MARK)) {
    return `highWaterMark must be a whole number of chunks from 1 to ${MAX_HIGH_WATER_MARK}; got ${describeValue(highWaterMark)}.`;
  }
  return undefined;
}

/** What is wrong with a broadcast's options beyond a call's: it is made for every worker at once. */
export function checkBroadcast(options: BroadcastOptions): string | undefined {
  const { workerId, sessionId } = options as { workerId?: unknown; sessionId?: unknown };
  if (workerId !== undefined) return 'A broadcast runs on every worker of the pool; to reach one, call execute() with { workerId }.';
  if (sessionId !== undefined) return 'A broadcast runs on every worker of the pool, so a sessionId cannot bind it to one; leave it out.';
  return undefined;
}

export function isDuration(value: unknown, zeroAllowed: boolean): value is number {
  return typeof value === 'number' && Number.isFinite(value) && (zeroAllowed ? value >= 0 : value > 0) && value <= MAX_DURATION_MS;
}

export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
}
