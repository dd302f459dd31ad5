// A call's arguments checked and encoded before the call holds a queue place or a worker, so a
// bad one fails that call alone, with an error naming where in the arguments it is.
import { ArgumentProblem, encodeArguments, type WireValue } from '../wire/codec.js';
import { InvalidArgumentError, MessageTooLargeError, type SnakepitError } from '../errors.js';
import { describeThrown } from './safeText.js';

export function encodeCallArguments(
  tool: string,
  args: object,
  limits: { maxArgumentDepth: number; maxMessageBytes: number },
): WireValue | SnakepitError {
  try {
    return encodeArguments(args, { maxDepth: limits.maxArgumentDepth, maxBytes: limits.maxMessageBytes });
  } catch (thrown) {
    // A getter, toJSON or Proxy trap of the caller's may throw anything.
    const error = thrown instanceof ArgumentProblem ? thrown : new ArgumentProblem('', `could not be read: ${describe(thrown)}`);
    if (error.tooLarge) return MessageTooLargeError.forArguments(tool, error.tooLarge.size, error.tooLarge.limit);
    const path = error.path.replace(/^\./, '');
    const shown = path.length > 120 ? `${path.slice(0, 60)}…${path.slice(-40)}` : path;
    const where = path ? `Argument "${shown}"` : 'The arguments object';
    return new InvalidArgumentError(tool, `${where} of tool "${tool}" ${error.problem}.`);
  }
}

function describe(thrown: unknown): string {
  const { type, message } = describeThrown(thrown, 1024);
  return `${type}: ${message}`;
}
