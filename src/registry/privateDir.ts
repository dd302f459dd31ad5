// The per-user directory that holds run records and worker sockets. Only our uid may touch
// it: a directory another user created first, a symlink, or one others can read or write is
// refused, because whoever controls it could make us kill processes or connect to their socket.
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InvalidConfigError } from '../errors.js';

/** Our uid, or undefined where the platform has none (ownership checks are then skipped). */
export const ownUid = (): number | undefined => process.getuid?.();

/**
 * `$XDG_RUNTIME_DIR/snakepit` when that directory is usable, else `<tmpdir>/snakepit-<uid>`.
 * The environment is read on every call, so a changed TMPDIR takes effect at the next start.
 */
export function privateBaseDir(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (runtime && path.isAbsolute(runtime) && isPrivateDir(runtime)) return path.join(runtime, 'snakepit');
  // Resolved, because the worker's socket address must be an absolute path.
  return path.resolve(os.tmpdir(), `snakepit-${ownUid() ?? 'user'}`);
}

/** Creates `dir` with mode 0700, or checks that the existing one is a directory only we can use. */
export function ensurePrivateDir(dir: string): void {
  const problem = privacyProblem(makeOrFind(dir));
  if (problem) {
    throw new InvalidConfigError(
      `Refusing to use ${dir}: it ${problem}, so another user could tamper with Snakepit's run records and sockets. ` +
        'Remove it, or set TMPDIR (or XDG_RUNTIME_DIR) to a directory only you can write.',
    );
  }
}

/** The directory's own status (never a symlink's target), creating it first if it is missing. */
function makeOrFind(dir: string): Stats {
  for (let attempt = 1; ; attempt++) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new InvalidConfigError(
          `Cannot create the private directory ${dir}: ${(error as Error).message}. ` +
            'Set TMPDIR (or XDG_RUNTIME_DIR) to a writable directory.',
        );
      }
    }
    try {
      return lstatSync(dir);
    } catch (error) {
      // Removed between the two calls (an emptied directory another start cleared): make it again.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw error;
    }
  }
}

function isPrivateDir(dir: string): boolean {
  try {
    return privacyProblem(lstatSync(dir)) === undefined;
  } catch {
    return false;
  }
}

/** Why a directory is not private to us, or undefined when it is. */
function privacyProblem(stats: Stats): string | undefined {
  if (stats.isSymbolicLink()) return 'is a symbolic link';
  if (!stats.isDirectory()) return 'is not a directory';
  const uid = ownUid();
  if (uid !== undefined && stats.uid !== uid) return `is owned by uid ${stats.uid}, not by us (uid ${uid})`;
  if ((stats.mode & 0o077) !== 0) return `has mode ${(stats.mode & 0o777).toString(8)}, not 700`;
  return undefined;
}
