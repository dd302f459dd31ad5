// Where the Python side lives and which interpreter runs it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest folder above this file holding python/snakepit_bridge. */
export const PACKAGE_ROOT = findPackageRoot(path.dirname(fileURLToPath(import.meta.url)));

/** Put on every worker's PYTHONPATH, so the bridge loads without being pip-installed. */
export const BRIDGE_DIR = path.join(PACKAGE_ROOT, 'python');

/** python.executable, else SNAKEPIT_PYTHON, else the project's own venv, else python3. */
export function resolvePythonExecutable(configured: string | undefined): string {
  if (configured) return configured;
  if (process.env.SNAKEPIT_PYTHON) return process.env.SNAKEPIT_PYTHON;
  const venvPython = path.join(PACKAGE_ROOT, '.venv', 'bin', 'python');
  return existsSync(venvPython) ? venvPython : 'python3';
}

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'python', 'snakepit_bridge'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(start, '..');
  }
}
