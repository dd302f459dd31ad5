// Running an interpreter from the CLI: the bridge on PYTHONPATH as workers have it, and a
// missing interpreter reported as such rather than as an exception.
import { spawnSync, type StdioOptions } from 'node:child_process';
import path from 'node:path';
import { BRIDGE_DIR } from '../process/pythonExecutable.js';

export interface RunResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  /** Why it did not run or did not succeed, in one line. */
  failure?: string;
}

export function runPython(
  python: string,
  args: string[],
  options: { pythonPath?: string[]; stdio?: StdioOptions; timeoutMs?: number } = {},
): RunResult {
  const result = spawnSync(python, args, {
    encoding: 'utf8',
    timeout: options.timeoutMs,
    killSignal: 'SIGKILL',
    stdio: options.stdio ?? 'pipe',
    maxBuffer: 16 * 1024 * 1024,
    env: {
      ...process.env,
      PIP_DISABLE_PIP_VERSION_CHECK: '1',
      // The same PYTHONPATH order a worker gets (src/process/pythonProcess.ts).
      PYTHONPATH: [BRIDGE_DIR, ...(options.pythonPath ?? []), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    },
  });
  const stdout = result.stdout ?? '';
  const stderr = result.stderr ?? '';
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    const failure =
      code === 'ENOENT' ? `${python} was not found`
      : code === 'ETIMEDOUT' ? `${python} did not finish within ${options.timeoutMs} ms`
      : `${python} could not run: ${result.error.message}`;
    return { ok: false, stdout, stderr, failure };
  }
  if (result.status !== 0) {
    const lastLine = stderr.trim().split('\n').at(-1);
    return { ok: false, stdout, stderr, failure: `exited with ${result.status ?? result.signal}${lastLine ? `: ${lastLine}` : ''}` };
  }
  return { ok: true, stdout, stderr };
}

/** "3.11.7", or undefined when the interpreter cannot run. */
export function pythonVersion(python: string): string | undefined {
  const result = runPython(python, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])']);
  return result.ok ? result.stdout.trim() : undefined;
}

/**
 * Writes the bridge's bytecode for this interpreter, next to the bridge. Without it a worker
 * compiles the bridge at every start (≈ 30 ms of CPU each) wherever Python may not write it
 * itself: PYTHONDONTWRITEBYTECODE, common in container images, or a read-only install.
 */
export function compileBridge(python: string): RunResult {
  return runPython(python, ['-m', 'compileall', '-q', path.join(BRIDGE_DIR, 'snakepit_bridge')]);
}
