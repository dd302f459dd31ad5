// Where the Python side lives and which interpreter runs it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../packageRoot.js';

/** Put on every worker's PYTHONPATH, so the bridge loads without being pip-installed. */
export const BRIDGE_DIR = path.join(PACKAGE_ROOT, 'python');

/** Where `npx snakepit setup` puts the runtime environment, relative to the project. */
export const SETUP_VENV = path.join('.snakepit', 'venv');

/** Which rule of the interpreter order chose the interpreter. */
export type PythonSource =
  | 'python.executable'
  | 'SNAKEPIT_PYTHON'
  | 'VIRTUAL_ENV'
  | 'project .venv'
  | 'snakepit setup'
  | 'snakepit dev checkout'
  | 'PATH';

export interface PythonChoice {
  /** The interpreter to run: an absolute path, or a bare command looked up on PATH. */
  path: string;
  source: PythonSource;
  /** The rule in words, for diagnostics: "SNAKEPIT_PYTHON is set". */
  reason: string;
}

/**
 * The interpreter order: `python.executable` → `SNAKEPIT_PYTHON` → `VIRTUAL_ENV` → the
 * project's `./.venv` → the environment `npx snakepit setup` made → this package's own `.venv`
 * when it is a development checkout → `python3`. The project is the nearest folder at or above
 * `cwd` holding a package.json.
 */
export function explainPythonExecutable(
  configured: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): PythonChoice {
  if (configured) return { path: configured, source: 'python.executable', reason: 'python.executable is configured' };
  if (env.SNAKEPIT_PYTHON) return { path: env.SNAKEPIT_PYTHON, source: 'SNAKEPIT_PYTHON', reason: 'SNAKEPIT_PYTHON is set' };

  const venvRules: [PythonSource, string | undefined, string][] = [
    ['VIRTUAL_ENV', env.VIRTUAL_ENV, 'a virtualenv is active (VIRTUAL_ENV)'],
    ['project .venv', path.join(findProjectRoot(cwd), '.venv'), "the project's .venv exists"],
    ['snakepit setup', path.join(findProjectRoot(cwd), SETUP_VENV), '`npx snakepit setup` made this environment'],
    ['snakepit dev checkout', isDevCheckout(PACKAGE_ROOT) ? path.join(PACKAGE_ROOT, '.venv') : undefined, "Snakepit's own development .venv exists"],
  ];
  for (const [source, venv, reason] of venvRules) {
    const python = venv && venvPython(venv);
    if (python && existsSync(python)) return { path: python, source, reason };
  }
  return { path: 'python3', source: 'PATH', reason: 'no interpreter is configured and no virtualenv was found, so python3 from PATH' };
}

/** The nearest folder at or above `cwd` with a package.json; `cwd` itself when there is none. */
export function findProjectRoot(cwd: string = process.cwd()): string {
  const start = path.resolve(cwd);
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return start;
  }
}

export function venvPython(venv: string): string {
  return path.join(venv, 'bin', 'python');
}

/** Installed as a dependency, the package sits inside node_modules; a checkout does not. */
function isDevCheckout(packageRoot: string): boolean {
  return !packageRoot.split(path.sep).includes('node_modules');
}
