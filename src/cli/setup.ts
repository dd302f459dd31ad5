// `npx snakepit setup [--grpc] [--requirements FILE]`: a lean runtime environment in the
// consumer's project — a virtualenv with the user's requirements and, with --grpc, the bridge's
// gRPC extra (grpcio, within the bounds python/pyproject.toml declares; only transport 'grpc'
// and bridge servers need it: the local lane runs on the standard library). The bridge itself
// is not installed: workers load it from this package through PYTHONPATH, and a .pth file puts
// the same folder on the environment's own path, for everything else run with it (pytest).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BRIDGE_DIR, explainPythonExecutable, findProjectRoot, SETUP_VENV, venvPython } from '../process/pythonExecutable.js';
import { pipArgument, readBridgeRequirements, satisfies } from './bridgeRequirements.js';
import { compileBridge, pythonVersion, runPython } from './python.js';

export interface SetupOptions {
  requirements?: string;
  /** Also install the gRPC extra. */
  grpc?: boolean;
  cwd: string;
  log: (line: string) => void;
}

/** Returns the process exit code. */
export function setup({ requirements, grpc = false, cwd, log }: SetupOptions): number {
  const fail = (what: string, fix: string) => {
    log(`snakepit setup failed: ${what}\n  fix: ${fix}`);
    return 1;
  };
  const project = findProjectRoot(cwd);
  const venv = path.join(project, SETUP_VENV);
  const python = venvPython(venv);
  const stampFile = path.join(venv, '.snakepit-setup-stamp');

  const bridge = readBridgeRequirements();
  const requirementsFile = requirements && path.resolve(cwd, requirements);
  if (requirementsFile && !existsSync(requirementsFile)) {
    return fail(`the requirements file ${requirementsFile} does not exist`, 'pass --requirements with a path relative to the working directory');
  }
  // What the environment was made from: when none of it changed, there is nothing to do.
  const stamp = createHash('sha256')
    .update(JSON.stringify({ dependencies: bridge.dependencies, grpc: grpc ? bridge.grpc : [], requirementsFile }))
    .update(requirementsFile ? readFileSync(requirementsFile) : '')
    .digest('hex');
  if (existsSync(python) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp) {
    log(`Python environment is up to date: ${venv}`);
    // This package may have been upgraded or moved since.
    const linked = linkBridge(python);
    if (linked) return fail(linked, 'check that the environment is writable, or delete it and run `npx snakepit setup` again');
    compileFor(python, log);
    return reportChoice(python, cwd, log);
  }

  if (!existsSync(python)) {
    const bootstrap = process.env.SNAKEPIT_PYTHON_BOOTSTRAP || 'python3';
    const version = pythonVersion(bootstrap);
    if (!version) {
      return fail(`${bootstrap} was not found or does not run`, `install Python ${bridge.requiresPython || '3'} (with its venv module), or set SNAKEPIT_PYTHON_BOOTSTRAP to such an interpreter`);
    }
    if (bridge.requiresPython && !satisfies(version, bridge.requiresPython)) {
      return fail(`${bootstrap} is Python ${version}; the bridge needs ${bridge.requiresPython}`, `set SNAKEPIT_PYTHON_BOOTSTRAP to a Python ${bridge.requiresPython} interpreter`);
    }
    log(`creating ${venv} with ${bootstrap} (Python ${version})`);
    mkdirSync(path.dirname(venv), { recursive: true });
    // Keeps the environment out of the project's version control without touching its files.
    writeFileSync(path.join(path.dirname(venv), '.gitignore'), '*\n');
    const made = runPython(bootstrap, ['-m', 'venv', venv], { stdio: ['ignore', 'inherit', 'pipe'] });
    if (!made.ok) {
      rmSync(venv, { recursive: true, force: true });
      return fail(`creating the virtualenv ${made.failure}`, 'install the venv module of that Python (on Debian/Ubuntu: apt install python3-venv)');
    }
  }

  rmSync(stampFile, { force: true }); // a failed install below must not look up to date next time
  const packages = [...bridge.dependencies, ...(grpc ? bridge.grpc : [])].map(pipArgument);
  const installing = [...packages, ...(requirementsFile ? ['-r', requirementsFile] : [])];
  if (installing.length > 0) {
    log(`installing ${installing.join(' ')}`);
    const installed = runPython(python, ['-m', 'pip', 'install', ...installing], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (!installed.ok) return fail(`pip install ${installed.failure}`, `check the output above; rerun \`npx snakepit setup\` once the package index is reachable`);
  } else {
    log('nothing to install: the local lane needs only the standard library (add --grpc for transport \'grpc\')');
  }

  const linked = linkBridge(python);
  if (linked) return fail(linked, 'check that the environment is writable, or delete it and run `npx snakepit setup` again');
  const check = runPython(python, ['-c', 'import snakepit_bridge.worker, snakepit_bridge.session']);
  if (!check.ok) return fail(`the bridge does not import with ${python}: ${check.failure}`, 'run `npx snakepit doctor` for details');

  writeFileSync(stampFile, stamp + '\n');
  log(`Python environment ready: ${venv}`);
  compileFor(python, log);
  return reportChoice(python, cwd, log);
}

/** The .pth file in the environment's site-packages; it is read at every start of that Python. */
const BRIDGE_PTH = 'snakepit_bridge.pth';

/**
 * Puts this package's bridge on the environment's own path, so `import snakepit_bridge` works
 * outside a worker (an adapter's tests with plain pytest). Rewritten at every setup, so it follows
 * the installed package. Returns what went wrong, if anything did.
 */
function linkBridge(python: string): string | undefined {
  const where = runPython(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']);
  if (!where.ok) return `${python} could not name its site-packages: ${where.failure}`;
  const file = path.join(where.stdout.trim(), BRIDGE_PTH);
  try {
    writeFileSync(file, BRIDGE_DIR + '\n');
  } catch (error) {
    return `writing ${file} failed: ${(error as Error).message}`;
  }
  return undefined;
}

function compileFor(python: string, log: (line: string) => void): void {
  const compiled = compileBridge(python);
  if (!compiled.ok) log(`note: the bridge's bytecode could not be written (${compiled.failure}); workers will compile the bridge at every start.`);
}

/** Says whether Snakepit will pick the new environment, or which rule comes before it. */
function reportChoice(python: string, cwd: string, log: (line: string) => void): number {
  const choice = explainPythonExecutable(undefined, process.env, cwd);
  if (choice.path === python) log('Snakepit uses it by default from this project; `npx snakepit doctor` checks it.');
  else log(`note: Snakepit will run ${choice.path} instead, because ${choice.reason}. Unset that, or point python.executable at ${python}.`);
  return 0;
}
