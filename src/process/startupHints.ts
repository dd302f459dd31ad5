// What to do about a worker that did not start, read from what Python said. The usual causes
// are no interpreter, a gRPC worker on an interpreter without grpcio, an adapter module not on
// the path, or a package the adapter imports that the interpreter lacks.

export interface StartupSetting {
  /** The interpreter, and why it was chosen ("SNAKEPIT_PYTHON is set", …). */
  executable: string;
  executableSource?: string;
  /** The adapter's own entries, absolute; the bridge's directory comes first at run time. */
  pythonPath: string[];
  adapter: string;
}

/** The lines a STARTUP_FAILED message ends with: the interpreter, PYTHONPATH, and the likely fix. */
export function startupHint(pythonSaid: string, setting: StartupSetting): string {
  const { executable, executableSource, pythonPath } = setting;
  const why = executableSource ? ` (${executableSource})` : '';
  const path = pythonPath.length ? pythonPath.join(':') : '(no python.pythonPath entries)';
  return `\nInterpreter: ${executable}${why}\nPython path: ${path}\nTo fix: ${likelyFix(pythonSaid, setting)}`;
}


function likelyFix(pythonSaid: string, { executable, adapter }: StartupSetting): string {
  if (/ENOENT|No such file or directory/.test(pythonSaid) && !/No module named/.test(pythonSaid)) {
    return `there is no interpreter at ${executable}: run \`npx snakepit setup\`, or set python.executable (or SNAKEPIT_PYTHON) to a Python 3.8 or newer.`;
  }
  const missing = /No module named '([^']+)'/.exec(pythonSaid)?.[1];
  if (missing === 'grpc') {
    return (
      `transport 'grpc' needs grpcio, which this interpreter lacks: run \`npx snakepit setup --grpc\` in your project, ` +
      `or \`${executable} -m pip install grpcio\`, or use the default local transport, which needs nothing installed.`
    );
  }
  const adapterModule = adapter.slice(0, adapter.lastIndexOf('.'));
  if (missing && (adapterModule === missing || adapterModule.startsWith(`${missing}.`))) {
    return (
      `Python cannot find the adapter's module "${adapterModule}": add the directory that holds ` +
      `${adapterModule.split('.')[0]} to python.pythonPath (relative entries are resolved against the working directory, ${process.cwd()}).`
    );
  }
  if (missing) {
    return (
      `the adapter imports "${missing}", which this interpreter does not have: install it into it ` +
      `(\`${executable} -m pip install <package>\`, or \`npx snakepit setup --requirements requirements.txt\`).`
    );
  }
  if (/has no class/.test(pythonSaid)) return `check the class name in adapter "${adapter}" (module.Class).`;
  return 'see the Python error above; `npx snakepit doctor --adapter ' + adapter + '` checks the interpreter, its packages and the adapter import.';
}
