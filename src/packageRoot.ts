// Where this package's own files are: the worker's Python side (python/) and the protocol
// (proto/), which the process and wire folders both load from disk.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this file holding python/snakepit_bridge. */
export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'python', 'snakepit_bridge'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(start, '..');
  }
}
