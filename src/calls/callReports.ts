// What listeners and tracers hear of a pool's calls: the request:* and session:moved events,
// built only when someone listens (a call's hot path pays one listener count each), and the
// end of a call's span.
import type { EventEmitter } from 'eventemitter3';
import type { Progress } from './calls.js';
import type { WorkerSlot } from './workerSlot.js';
import type { SnakepitError } from '../errors.js';
import type { SnakepitEvents } from '../events.js';
import { type CallSpan, SPAN_ERROR } from '../observe/tracing.js';

export class CallReports {
  constructor(
    private readonly pool: string,
    private readonly events: EventEmitter<SnakepitEvents>,
  ) {}

  queued(tool: string, queueLength: number): void {
    if (!this.events.listenerCount('request:queued')) return;
    this.events.emit('request:queued', { pool: this.pool, tool, queueLength, at: Date.now() });
  }

  started(slot: WorkerSlot, tool: string, waitedMs: number): void {
    if (!this.events.listenerCount('request:started')) return;
    this.events.emit('request:started', { pool: slot.pool, workerId: slot.id, pid: slot.pid, tool, waitedMs, at: Date.now() });
  }

  completed(slot: WorkerSlot, tool: string, durationMs: number, runMs: number): void {
    if (!this.events.listenerCount('request:completed')) return;
    this.events.emit('request:completed', { pool: slot.pool, workerId: slot.id, pid: slot.pid, tool, durationMs, runMs, at: Date.now() });
  }

  failed(tool: string, error: SnakepitError, slot: WorkerSlot | undefined): void {
    if (!this.events.listenerCount('request:failed')) return;
    this.events.emit('request:failed', { pool: this.pool, tool, code: error.code, error, workerId: slot?.id, at: Date.now() });
  }

  progressed(slot: WorkerSlot | undefined, tool: string, progress: Progress): void {
    if (!this.events.listenerCount('request:progress')) return;
    this.events.emit('request:progress', { pool: this.pool, workerId: slot?.id, tool, ...progress, at: Date.now() });
  }

  sessionMoved(sessionId: string, fromWorkerId: string, toWorkerId: string): void {
    if (!this.events.listenerCount('session:moved')) return;
    this.events.emit('session:moved', { pool: this.pool, sessionId, fromWorkerId, toWorkerId, at: Date.now() });
  }
}

export function endSpan(span: CallSpan, error: SnakepitError | undefined): void {
  span.setAttribute('snakepit.outcome', error ? error.code : 'ok');
  if (error) span.setStatus({ code: SPAN_ERROR, message: error.message });
  span.end();
}

/** A progress report's value as Python sent it ({done, total, message}), typed. */
export function toProgress(value: unknown): Progress {
  const { done, total, message } = (value ?? {}) as Record<string, unknown>;
  return {
    done: typeof done === 'number' ? done : Number(done),
    total: typeof total === 'number' ? total : null,
    message: typeof message === 'string' ? message : null,
  };
}
