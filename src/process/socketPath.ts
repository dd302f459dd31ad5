// Unix socket paths for workers. The kernel keeps a socket's path in 108 bytes including the
// final NUL, so names stay short: a counter, not the worker id (a long pool name would not fit).
import { lstatSync } from 'node:fs';
import path from 'node:path';
import { InvalidConfigError, StartupFailedError } from '../errors.js';

export const MAX_SOCKET_PATH_BYTES = 107;
/** Room left for a socket's file name when a directory is checked: `zzzzzzzz.sock`. */
const NAME_ROOM = 13;

let counter = 0;

/** Fails start-up early when sockets in `dir` could not be bound. */
export function checkSocketDir(dir: string): void {
  const bytes = Buffer.byteLength(dir) + 1 + NAME_ROOM;
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new InvalidConfigError(
      `Worker sockets in ${dir} would be ${bytes} bytes long; Unix socket paths hold at most ${MAX_SOCKET_PATH_BYTES}. ` +
        'Set TMPDIR (or XDG_RUNTIME_DIR) to a shorter directory.',
    );
  }
}

/** A socket path in `dir` that nothing occupies yet. */
export function freeSocketPath(dir: string): string {
  for (;;) {
    const candidate = path.join(dir, `${(++counter).toString(36)}.sock`);
    if (Buffer.byteLength(candidate) > MAX_SOCKET_PATH_BYTES) {
      throw new StartupFailedError(
        `The worker socket path ${candidate} is longer than ${MAX_SOCKET_PATH_BYTES} bytes. ` +
          'Set TMPDIR (or XDG_RUNTIME_DIR) to a shorter directory.',
      );
    }
    if (!occupied(candidate)) return candidate;
  }
}

function occupied(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
