// Functions the application exposes to Python (`pit.expose`), run when a tool calls
// `ctx.call(name, **kwargs)`. A call arrives on a worker's connection as a HostCall and is
// answered there with one HostReply: the function's result, or its error as Python will raise it.
import { AsyncLocalStorage } from 'node:async_hooks';
import { decodeValue, type EncodeLimits, encodeValue } from './codec.js';
import { InvalidArgumentError } from './errors.js';
import type { HostCallMessage, HostReplyMessage } from './sessionCodec.js';

/** A function Python may call: it gets the keyword arguments as one object. */
export type ExposedFunction = (args: Record<string, unknown>) => unknown;

/**
 * Set while an exposed function runs: a call it makes is nested inside a running tool, so it
 * must not be sent ahead to a busy worker, whose running call may be the very one waiting for it.
 */
export const nestedCalls = new AsyncLocalStorage<true>();

const NAME_MAX = 256;

/** Answers one worker's calls into Node, encoding results within its pool's limits. */
export interface HostCallAnswerer {
  answer(call: HostCallMessage): Promise<HostReplyMessage>;
}

export class HostFunctions {
  private readonly functions = new Map<string, ExposedFunction>();

  /** Registers `fn` under `name` (replacing one of that name); returns a function that removes it. */
  expose(name: string, fn: ExposedFunction): () => void {
    if (typeof name !== 'string' || name.length === 0 || name.length > NAME_MAX) {
      throw new InvalidArgumentError('expose', `expose(name, fn): name must be a non-empty string of at most ${NAME_MAX} characters, got ${describe(name)}.`);
    }
    if (typeof fn !== 'function') {
      throw new InvalidArgumentError('expose', `expose("${name}", fn): fn must be a function (sync or async), got ${describe(fn)}.`);
    }
    this.functions.set(name, fn);
    return () => {
      if (this.functions.get(name) === fn) this.functions.delete(name);
    };
  }

  forPool(limits: EncodeLimits): HostCallAnswerer {
    return { answer: (call) => this.answer(call, limits) };
  }

  /** Runs one host call to its reply; never rejects. */
  private async answer(call: HostCallMessage, limits: EncodeLimits): Promise<HostReplyMessage> {
    const fn = this.functions.get(call.name);
    if (!fn) {
      const known = [...this.functions.keys()].sort().join(', ') || '(none)';
      return failure(call.id, 'NOT_EXPOSED', 'NotExposed', `no function named "${call.name}" is exposed to Python (exposed: ${known}); register it with pit.expose("${call.name}", fn)`);
    }
    try {
      const args = decodeValue(call.args) as Record<string, unknown>;
      const value = await nestedCalls.run(true, () => fn(args));
      return { id: call.id, result: encodeValue(value === undefined ? null : value, limits) };
    } catch (error) {
      const thrown = error instanceof Error ? error : new Error(String(error));
      return failure(call.id, 'NODE_ERROR', thrown.name || 'Error', thrown.message, thrown.stack ?? '');
    }
  }
}

function failure(id: number, code: string, type: string, message: string, traceback = ''): HostReplyMessage {
  return { id, error: { code, type, message, traceback } };
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value.slice(0, 40)}"` : value === null ? 'null' : typeof value;
}
