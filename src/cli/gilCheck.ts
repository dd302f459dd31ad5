// doctor's GIL line: which build the interpreter is, whether the GIL is on, and, with --adapter,
// whether importing the adapter turned it on (a C extension that has not declared it can run
// without the GIL: Python enables it for the whole process). Not a failure — a process worker
// loses nothing by it — but a thread worker then runs Python one thread at a time.
import type { Check } from './doctor.js';

export interface GilAnswer {
  /** sysconfig's Py_GIL_DISABLED: a free-threaded ("t") build. */
  free_threaded: boolean;
  /** sys._is_gil_enabled() before the adapter's import. */
  gil_enabled: boolean;
  /** The module whose import enabled the GIL (snakepit_bridge.gil.GilWatch), if one did. */
  gil_enabled_by?: string | null;
}

export function gilCheck(answer: GilAnswer, adapter: string | undefined): Check {
  if (!answer.free_threaded) {
    return { name: 'GIL', ok: true, detail: 'standard build: the GIL is on, so thread workers run Python one thread at a time (native code that releases it runs in parallel)' };
  }
  if (answer.gil_enabled) {
    return { name: 'GIL', ok: true, detail: 'free-threaded build, but the GIL is on (PYTHON_GIL=1 or -X gil=1)' };
  }
  if (answer.gil_enabled_by) {
    const module = answer.gil_enabled_by;
    return {
      name: 'GIL',
      ok: true,
      warn: true,
      detail: `free-threaded build, but importing ${adapter} enabled the GIL: ${module} has not declared that it can run without it, so thread workers run Python one thread at a time (worker:thread-safety-warning, kind gil_enabled)`,
      fix: `use a build of ${module} with free-threading support, or workerProfile 'process'`,
    };
  }
  return { name: 'GIL', ok: true, detail: `free-threaded build: the GIL is off${adapter ? ` after importing ${adapter}` : ''}, so thread workers run Python in parallel` };
}
