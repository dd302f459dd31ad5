// The dashboard's server-sent events. Each message is serialised once and the same bytes go to
// every client, a tick's messages in one write. A client that falls behind — more than
// SSE_CLIENT_BUDGET_BYTES still buffered for it when the next write comes — is disconnected and
// everything buffered for it is released: a client that stops reading costs at most its budget
// (an EventSource that was only slow reconnects by itself and gets the whole state again).
import type { ServerResponse } from 'node:http';

/** Bytes that may wait in Node for one SSE client before it is disconnected. */
export const SSE_CLIENT_BUDGET_BYTES = 256 * 1024;

export class EventStreams {
  private readonly clients = new Set<ServerResponse>();
  private pending: Buffer[] = [];
  private flushing: NodeJS.Immediate | undefined;

  get size(): number {
    return this.clients.size;
  }

  /** A client subscribes; it is sent `first()` at once, then every broadcast. */
  add(res: ServerResponse, first: () => Buffer): void {
    // What waits to go out is already in the history `first()` replays: out to the others first, so no client gets it twice.
    if (this.flushing) {
      clearImmediate(this.flushing);
      this.flush();
    }
    this.clients.add(res);
    res.once('close', () => this.clients.delete(res));
    res.write(first());
  }

  broadcast(message: Buffer): void {
    if (this.clients.size === 0) return;
    this.pending.push(message);
    this.flushing ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = undefined;
    const chunk = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    for (const res of this.clients) {
      if (res.writableLength > SSE_CLIENT_BUDGET_BYTES) this.drop(res);
      else res.write(chunk);
    }
  }

  private drop(res: ServerResponse): void {
    this.clients.delete(res);
    res.destroy();
  }

  /** Disconnects every client (a client that does not read would hold an end() open forever). */
  close(): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = undefined;
    this.pending = [];
    for (const res of this.clients) this.drop(res);
  }
}

/** One server-sent event, as bytes. */
export function encodeEvent(event: string, data: unknown): Buffer {
  return Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data, plainErrors)}\n\n`);
}

/** The data of an event encodeEvent made, parsed back. */
export function eventData(message: Buffer): unknown {
  const start = message.indexOf('\ndata: ') + '\ndata: '.length;
  return JSON.parse(message.toString('utf8', start, message.length - 2));
}

/** How much of an error's message an event carries: the page shows codes, and one failure's
 *  text (up to the pool's maxMessageBytes) would otherwise go to every client. */
const MESSAGE_CHARS = 1024;

/** Errors in event payloads as their code and message (JSON.stringify would give `{}`). */
export function plainErrors(_key: string, value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const message = String(value.message);
  const shown = message.length > MESSAGE_CHARS ? `${message.slice(0, MESSAGE_CHARS)}… [${message.length} characters]` : message;
  return { name: value.name, code: (value as { code?: string }).code, message: shown };
}
