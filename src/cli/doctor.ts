// `npx snakepit doctor [--adapter module.Class] [--python-path DIR]`: checks what a worker
// needs — the interpreter and why it was chosen, its version, the bridge import and the adapter
// import — whether the gRPC extra (grpcio, for transport 'grpc') is there within the bridge's
// bounds, whether NumPy is (what arrays become in Python), and prints the fix for each failure.
// Exit code 1 when anything fails.
import path from 'node:path';
import { ADAPTER_PATH } from '../adapterPath.js';
import { BRIDGE_DIR, explainPythonExecutable, findProjectRoot } from '../process/pythonExecutable.js';
import { pipArgument, readBridgeRequirements, satisfies, type Requirement } from './bridgeRequirements.js';
import { gilCheck, type GilAnswer } from './gilCheck.js';
import { runPython } from './python.js';

export interface DoctorOptions {
  adapter?: string;
  pythonPath: string[];
  cwd: string;
  log: (line: string) => void;
}

export interface Check {
  name: string;
  ok: boolean;
  /** Worth knowing, not a failure: shown as WARN with its fix, and the exit code stays 0. */
  warn?: boolean;
  detail: string;
  fix?: string;
}

// Runs in the chosen interpreter and answers with one JSON line. Tools' and adapters' own
// prints go to stderr so they cannot garble the answer. Python 3 syntax old interpreters parse.
const PROBE = `
import importlib, json, sys, sysconfig
out = sys.stdout
sys.stdout = sys.stderr
def failure(e):
    return {"type": type(e).__name__, "message": str(e), "name": getattr(e, "name", None)}
class NoWatch:
    module = None
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return None
def dist_version(dist, module):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:
        try:
            return importlib.import_module(module).__version__
        except Exception:
            return None
answer = {
    "version": "%d.%d.%d" % sys.version_info[:3],
    "executable": sys.executable,
    "versions": {"grpcio": dist_version("grpcio", "grpc"), "numpy": dist_version("numpy", "numpy")},
    "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
    "gil_enabled": bool(getattr(sys, "_is_gil_enabled", lambda: True)()),
}
try:
    importlib.import_module("snakepit_bridge.worker")
    importlib.import_module("snakepit_bridge.session")
    answer["bridge"] = None
except BaseException as e:
    answer["bridge"] = failure(e)
if len(sys.argv) > 1:
    module_name, _, class_name = sys.argv[1].rpartition(".")
    try:
        from snakepit_bridge.gil import GilWatch
        watch = GilWatch()
    except BaseException:
        watch = NoWatch()
    try:
        with watch:
            cls = getattr(importlib.import_module(module_name), class_name, None)
        answer["adapter"] = None if isinstance(cls, type) else {"type": "AttributeError", "message": "no class named " + class_name, "name": None}
    except BaseException as e:
        answer["adapter"] = failure(e)
    answer["gil_enabled_by"] = watch.module
out.write(json.dumps(answer) + "\\n")
`;

// An adapter module that blocks on import must not hang the command.
const PROBE_TIMEOUT_MS = 60_000;

interface ProbeFailure {
  type: string;
  message: string;
  name: string | null;
}

interface ProbeAnswer extends GilAnswer {
  version: string;
  executable: string;
  versions: Record<string, string | null>;
  bridge: ProbeFailure | null;
  adapter?: ProbeFailure | null;
}

/** Returns the process exit code. */
export function doctor({ adapter, pythonPath, cwd, log }: DoctorOptions): number {
  const choice = explainPythonExecutable(undefined, process.env, cwd);
  const bridge = readBridgeRequirements();
  const resolvedPath = pythonPath.map((dir) => path.resolve(cwd, dir));
  const setupFix = 'run `npx snakepit setup` in the project, or point python.executable / SNAKEPIT_PYTHON at an interpreter that has them';

  log(`snakepit doctor — project ${findProjectRoot(cwd)}`);
  const checks: Check[] = [];
  const adapterName = adapter && ADAPTER_PATH.test(adapter) ? adapter : undefined;
  if (adapter && !adapterName) {
    checks.push({ name: 'adapter', ok: false, detail: `"${adapter}" is not of the form module.Class`, fix: 'pass --adapter like calc.Calc' });
  }
  const probe = runPython(choice.path, ['-c', PROBE, ...(adapterName ? [adapterName] : [])], { pythonPath: resolvedPath, timeoutMs: PROBE_TIMEOUT_MS });
  const answer = probe.ok ? parseAnswer(probe.stdout) : undefined;
  if (!answer) {
    checks.unshift({
      name: 'interpreter',
      ok: false,
      detail: `${choice.path} (${choice.reason}): ${probe.failure ?? 'gave no answer'}`,
      fix: `${setupFix}; with no python3 on this machine, install Python ${bridge.requiresPython || '3'} first`,
    });
    return report(checks, log);
  }

  checks.unshift({ name: 'interpreter', ok: true, detail: `${answer.executable} (${choice.reason})` });
  const versionOk = !bridge.requiresPython || satisfies(answer.version, bridge.requiresPython);
  checks.push({
    name: 'Python',
    ok: versionOk,
    detail: `${answer.version}${bridge.requiresPython ? ` (the bridge needs ${bridge.requiresPython})` : ''}`,
    fix: `use a Python ${bridge.requiresPython} interpreter: SNAKEPIT_PYTHON_BOOTSTRAP=/path/to/python3.x npx snakepit setup`,
  });
  for (const requirement of bridge.dependencies) checks.push(dependencyCheck(requirement, answer.versions[requirement.name], answer.executable));
  for (const requirement of bridge.grpc) checks.push(grpcExtraCheck(requirement, answer.versions[requirement.name], answer.executable));
  checks.push(numpyCheck(answer.versions.numpy));
  const dependenciesOk = checks.every((c) => c.ok);
  checks.push({
    name: 'bridge',
    ok: !answer.bridge,
    detail: answer.bridge ? `import snakepit_bridge failed: ${describe(answer.bridge)}` : `imports from ${BRIDGE_DIR}`,
    fix: dependenciesOk ? 'reinstall the snakepit package: its python/ folder is incomplete' : 'fix the failures above first',
  });
  if (adapterName && answer.adapter !== undefined) checks.push(adapterCheck(adapterName, answer.adapter, resolvedPath, cwd, answer.executable));
  checks.push(gilCheck(answer, adapterName));
  return report(checks, log);
}

export function dependencyCheck(requirement: Requirement, version: string | null | undefined, python: string): Check {
  const bounds = requirement.specifier ? `the bridge needs ${requirement.specifier}` : 'any version';
  const fix = `run \`npx snakepit setup\`, or: ${python} -m pip install "${pipArgument(requirement)}"`;
  if (!version) return { name: requirement.name, ok: false, detail: `not installed (${bounds})`, fix };
  const ok = !requirement.specifier || satisfies(version, requirement.specifier);
  return { name: requirement.name, ok, detail: `${version}${ok ? '' : ', out of range'} (${bounds})`, fix };
}

/** The gRPC extra is optional: missing is fine (the local lane does not need it), out of range is not. */
export function grpcExtraCheck(requirement: Requirement, version: string | null | undefined, python: string): Check {
  if (!version) {
    return { name: requirement.name, ok: true, detail: "not installed: only transport 'grpc' and bridge servers need it (`npx snakepit setup --grpc`)" };
  }
  const check = dependencyCheck(requirement, version, python);
  return check.ok ? check : { ...check, fix: `run \`npx snakepit setup --grpc\`, or: ${python} -m pip install "${pipArgument(requirement)}"` };
}

/** NumPy is optional: without it arrays still arrive, as memoryviews. */
export function numpyCheck(version: string | null | undefined): Check {
  if (!version) {
    return {
      name: 'NumPy',
      ok: true,
      detail: 'not installed: typed arrays and { dtype, shape, data } values arrive in tools as memoryviews (add numpy to `npx snakepit setup --requirements FILE` for ndarrays)',
    };
  }
  return { name: 'NumPy', ok: true, detail: `${version}: typed arrays and { dtype, shape, data } values arrive in tools as ndarrays, and ndarrays a tool returns arrive as { dtype, shape, data }` };
}

function adapterCheck(adapter: string, failure: ProbeFailure | null, pythonPath: string[], cwd: string, python: string): Check {
  const moduleName = adapter.slice(0, adapter.lastIndexOf('.'));
  const where = pythonPath.length > 0 ? `python path ${pythonPath.join(path.delimiter)}` : 'no --python-path';
  if (!failure) return { name: 'adapter', ok: true, detail: `${adapter} imports (${where})` };
  const moduleMissing = failure.type === 'ModuleNotFoundError' && failure.name !== null && (moduleName === failure.name || moduleName.startsWith(`${failure.name}.`));
  const fix = moduleMissing
    ? `pass the folder holding ${moduleName.replaceAll('.', '/')}.py as --python-path (python.pythonPath); relative folders resolve against the working directory, ${cwd}`
    : failure.type === 'ModuleNotFoundError'
      ? `the adapter needs ${failure.name}: ${python} -m pip install ${failure.name} (or add it to a requirements file for \`npx snakepit setup --requirements\`)`
      : failure.type === 'AttributeError'
        ? `check the class name in ${adapter}`
        : `importing ${moduleName} raised; fix that module`;
  return { name: 'adapter', ok: false, detail: `${adapter}: ${describe(failure)} (${where})`, fix };
}

function report(checks: Check[], log: (line: string) => void): number {
  const width = Math.max(...checks.map((c) => c.name.length));
  for (const c of checks) {
    log(`${!c.ok ? 'FAIL' : c.warn ? 'WARN' : 'ok  '} ${c.name.padEnd(width)}  ${c.detail}`);
    if ((!c.ok || c.warn) && c.fix) log(`     ${' '.repeat(width)}  fix: ${c.fix}`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  log(failed === 0 ? 'Everything a worker needs is in place.' : `${failed} check${failed === 1 ? '' : 's'} failed.`);
  return failed === 0 ? 0 : 1;
}

function parseAnswer(stdout: string): ProbeAnswer | undefined {
  try {
    return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as ProbeAnswer;
  } catch {
    return undefined;
  }
}

const describe = (f: ProbeFailure) => `${f.type}: ${f.message}`;
