// `npx snakepit types --adapter module.Class [--python-path DIR]... [--out FILE]`: the adapter's
// tools as a TypeScript interface, from their type hints, read by the interpreter workers use
// (snakepit_bridge/tooltypes.py imports the adapter's module; it does not create the adapter).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ADAPTER_PATH } from '../adapterPath.js';
import { explainPythonExecutable } from '../process/pythonExecutable.js';
import { runPython } from './python.js';
import { type AdapterDescription, interfaceName, renderToolTypes } from './renderToolTypes.js';

export interface TypesOptions {
  adapter?: string;
  pythonPath: string[];
  out?: string;
  cwd: string;
  /** The declaration when there is no --out, and nothing else. */
  print: (text: string) => void;
  /** What happened, warnings and failures. */
  report: (line: string) => void;
}

// An adapter module that blocks on import must not hang the command.
const READ_TIMEOUT_MS = 60_000;

/** Returns the process exit code. */
export function types({ adapter, pythonPath, out, cwd, print, report }: TypesOptions): number {
  if (!adapter || !ADAPTER_PATH.test(adapter)) {
    report(`snakepit types: ${adapter ? `"${adapter}" is not of the form module.Class` : '--adapter is required'}; pass --adapter like calc.Calc`);
    return 1;
  }
  const choice = explainPythonExecutable(undefined, process.env, cwd);
  const run = runPython(choice.path, ['-m', 'snakepit_bridge.tooltypes', adapter], {
    pythonPath: pythonPath.map((dir) => path.resolve(cwd, dir)),
    timeoutMs: READ_TIMEOUT_MS,
  });
  const described = run.ok ? parse(run.stdout) : undefined;
  if (!described) {
    report(`snakepit types: could not read the tools of ${adapter} with ${choice.path} (${choice.reason}): ${run.failure ?? 'it gave no answer'}`);
    report(`  \`npx snakepit doctor --adapter ${adapter}${pythonPath.map((dir) => ` --python-path ${dir}`).join('')}\` says what is missing`);
    return 1;
  }
  for (const warning of described.warnings) report(`warning: ${warning}`);
  if (described.tools.length === 0) report(`warning: ${adapter} has no @tool methods`);
  const command = ['npx snakepit types --adapter', adapter, ...pythonPath.flatMap((dir) => ['--python-path', dir]), ...(out ? ['--out', out] : [])].join(' ');
  const text = renderToolTypes(described, command);
  if (!out) {
    print(text);
    return 0;
  }
  const file = path.resolve(cwd, out);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  const count = described.tools.length;
  report(`wrote ${interfaceName(adapter)} (${count} tool${count === 1 ? '' : 's'} of ${adapter}) to ${out}`);
  return 0;
}

/** The answer is the last line of stdout (the module sends the adapter's own prints to stderr). */
function parse(stdout: string): AdapterDescription | undefined {
  try {
    const answer = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as AdapterDescription;
    return Array.isArray(answer.tools) ? answer : undefined;
  } catch {
    return undefined;
  }
}
