// Functions the application exposes to Python (`pit.expose`), run when a tool calls
// `ctx.call(name, **kwargs)`. A call arrives on a worker's connection as a HostCall and is
// answered there with exactly one HostReply: the function's result, or its error as Python will
// raise it — whatever the function throws, its description is built so that it cannot throw,
// and cut to its budget (safeText.ts). A function runs as part of its caller's call chain
// (callChains.ts), so the calls it makes know which worker places the chain holds.
import { runInChain } from './callChains.js';
import { Request } from './calls.js';
import { ArgumentProblem, decodeValue, type EncodeLimits, encodeValue } from '../wire/codec.js';
import { InvalidArgumentError } from '../errors.js';
import { cutText, describeThrown } from './safeText.js';
import type { HostCallMessage, HostReplyMessage } from '../wire/sessionCodec.js';
import type { HostCallAnswerer } from '../wire/workerConnection.js';

/** A function Python may call: it gets the keyword arguments as one object. */
export type ExposedFunction = (args: Record<string, unknown>) => unknown;

const NAME_MAX = 256;

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
    return { answer: (call, caller) => this.answer(call, limits, caller) };
  }

  /** Runs one host call to its reply; never rejects. */
  private async answer(call: HostCallMessage, limits: EncodeLimits, caller: unknown): Promise<HostReplyMessage> {
    const fn = this.functions.get(call.name);
    if (!fn) {
      const known = [...this.functions.keys()].sort().join(', ') || '(none)';
      return failure(call.id, 'NOT_EXPOSED', 'NotExposed', `no function named "${call.name}" is exposed to Python (exposed: ${known}); register it with pit.expose("${call.name}", fn)`);
    }
    let value: unknown;
    try {
      const args = decodeValue(call.args) as Record<string, unknown>;
      // A caller already gone (its call settled meanwhile) still makes this a nested call.
      const from = caller instanceof Request ? caller : { tool: '(a call already ended)', slot: undefined, chain: undefined };
      value = await runInChain(from, call.name, () => fn(args));
    } catch (thrown) {
      const { type, message, stack } = describeThrown(thrown);
      return failure(call.id, 'NODE_ERROR', type, message, stack);
    }
    try {
      return { id: call.id, result: encodeValue(value === undefined ? null : value, limits) };
    } catch (thrown) {
      return resultFailure(call, thrown);
    }
  }
}

/** A result that cannot go to Python: too large, or not a value the wire carries. */
function resultFailure(call: HostCallMessage, thrown: unknown): HostReplyMessage {
  if (thrown instanceof ArgumentProblem && thrown.tooLarge) {
    const { size, limit } = thrown.tooLarge;
    return failure(call.id, 'MESSAGE_TOO_LARGE', 'MessageTooLarge', `the result of "${call.name}" takes at least ${size} bytes, over the pool's maxMessageBytes (${limit}); return less per call`);
  }
  const problem = thrown instanceof ArgumentProblem ? `${thrown.path ? `at ${thrown.path.replace(/^\./, '')} ` : ''}${thrown.problem}` : describeThrown(thrown).message;
  return failure(call.id, 'NODE_ERROR', 'TypeError', `the result of "${call.name}" cannot be sent to Python: ${problem}`);
}

function failure(id: number, code: string, type: string, message: string, traceback = ''): HostReplyMessage {
  return { id, error: { code, type, message: cutText(message), traceback: cutText(traceback) } };
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value.slice(0, 40)}"` : value === null ? 'null' : typeof value;
}
