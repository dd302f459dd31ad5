// What a worker's error reply becomes for the caller: the coded SnakepitError of its kind.
import { ErrorCode, InvalidArgumentError, MessageTooLargeError, PythonError, SnakepitError, ToolNotFoundError } from '../errors.js';
import type { CallErrorMessage } from './sessionCodec.js';

/** A call a draining bridge server handed back unstarted. */
export function drainingError(error: CallErrorMessage): SnakepitError {
  return new SnakepitError(ErrorCode.WORKER_CRASHED, `${error.message || 'The bridge server is draining'}: the call never started there; retry it.`);
}

export function toCallError(tool: string, error: CallErrorMessage): SnakepitError {
  switch (error.code) {
    case 'TOOL_NOT_FOUND':
      return new ToolNotFoundError(tool, error.message);
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError(tool, error.message);
    case 'MESSAGE_TOO_LARGE':
      return new MessageTooLargeError(tool, error.message);
    case 'WORKER_CRASHED': // a process-profile bridge server's worker died under this call
      return new SnakepitError(ErrorCode.WORKER_CRASHED, `Tool "${tool}": ${error.message}`);
    default:
      return new PythonError(tool, error.type || 'Exception', error.message, error.traceback);
  }
}
