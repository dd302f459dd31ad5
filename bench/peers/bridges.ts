/**
 * The paths a tiny call can take from Node to Python, each opened the way its users open it.
 * A bridge is used inside a cell (cell.ts): one fresh Node process per path, so no path shares
 * a heap, an event loop or an embedded interpreter with another.
 *
 * Every path echoes a tiny value through Python. The peers get their best case: pythonia
 * echoes an int (a dict would come back as a proxy needing a second round trip), the others
 * echo `{ x: 1 }` and get a plain object back.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON } from '../config.js';
import { startPit, stopPit, type PoolConfig } from '../processes.js';
import { JsonLines } from './jsonLines.js';
import { freeThreadedPython } from '../../scripts/freeThreadedPython.js';

const here = dirname(fileURLToPath(import.meta.url));
export const echoScript = join(here, 'echo.py');
const require = createRequire(import.meta.url);

export interface Bridge {
  call(): Promise<unknown>;
  /** The Python processes doing the work; empty when Python runs inside this Node process. */
  pythonPids(): number[];
  close(): Promise<void>;
}

const TINY = { x: 1 };

/** The DESIGN table's floor: a hand-written JSON-lines client over a child's stdio. */
async function jsonLines(): Promise<Bridge> {
  const child = spawn(PYTHON, [echoScript], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = new JsonLines(child);
  return {
    call: () => lines.request(TINY),
    pythonPids: () => [child.pid!],
    close: () => lines.close(),
  };
}

/**
 * No bridge at all, as cheap as a tiny call over pipes gets here: 2 bare echo processes taking
 * calls in turn, the calls of one tick written together, the replies of one read answered in
 * one write. What no bridge with at most 2 Python processes can be expected to beat.
 */
async function bareFloor(): Promise<Bridge> {
  const children = [0, 1].map(() => spawn(PYTHON, [echoScript, '--batched'], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const lines = children.map((child) => new JsonLines(child, true));
  let next = 0;
  return {
    call: () => lines[next++ % lines.length].request(TINY),
    pythonPids: () => children.map((child) => child.pid!),
    close: async () => void (await Promise.all(lines.map((l) => l.close()))),
  };
}

async function pythonShell(): Promise<Bridge> {
  const { PythonShell } = (await import('python-shell')) as typeof import('python-shell');
  const shell = new PythonShell(echoScript, { mode: 'json', pythonPath: PYTHON, stderrParser: () => undefined });
  // One Python process answering in order: a FIFO of waiting calls pairs the replies.
  const waiting: Array<(v: unknown) => void> = [];
  shell.on('message', (m: unknown) => waiting.shift()?.(m));
  const exited = new Promise<void>((res) => shell.childProcess.once('exit', () => res()));
  return {
    call: () =>
      new Promise((res) => {
        waiting.push(res);
        shell.send(TINY);
      }),
    pythonPids: () => [shell.childProcess.pid!],
    close: async () => {
      shell.end(() => undefined);
      await exited;
    },
  };
}

async function pythonia(): Promise<Bridge> {
  // pythonia starts its Python on import, with PYTHON_BIN as the interpreter.
  process.env.PYTHON_BIN = PYTHON;
  const { python } = require('pythonia') as { python: ((file: string) => Promise<Record<string, (v: unknown) => Promise<unknown>>>) & { exit(): void } };
  const mod = await python(echoScript);
  const proc = (globalThis as { __pythonBridge?: { com?: { proc?: { pid?: number } } } }).__pythonBridge?.com?.proc;
  const pid = proc?.pid;
  return {
    call: () => mod.echo!(1),
    pythonPids: () => (pid ? [pid] : []),
    close: async () => python.exit(),
  };
}

async function nodeCallsPython(): Promise<Bridge> {
  const { interpreter: py } = (await import('node-calls-python')) as typeof import('node-calls-python');
  const mod = await py.import(echoScript, false);
  // The async form: the call runs on libuv's thread pool, so Node's event loop stays free.
  return {
    call: () => py.call(mod, 'echo', TINY),
    pythonPids: () => [],
    close: async () => undefined,
  };
}

/** A Snakepit pool on the bench's Python, or on free-threaded 3.13t. */
function snakepit(pool: Omit<PoolConfig, 'name'>, build: 'gil' | 'free-threaded' = 'gil'): () => Promise<Bridge> {
  return async () => {
    const python = build === 'gil' ? PYTHON : freeThreadedPython();
    const pit = await startPit([{ name: 'peer', adapter: pool.workerProfile === 'thread' ? 'bench_adapters.BenchThreaded' : 'bench_adapters.Bench', ...pool }], python);
    return {
      call: () => pit.execute('echo', TINY, { pool: 'peer' }),
      pythonPids: () => pit.inspect().pools.flatMap((p) => p.workers.map((w) => w.pid)).filter((pid) => pid > 0),
      close: () => stopPit(pit),
    };
  };
}

export const BRIDGES = {
  'json-lines': { label: 'hand-written JSON lines over stdio, 1 process', open: jsonLines },
  'bare-floor-2': { label: 'no bridge: 2 bare echo processes, calls and replies written together', open: bareFloor },
  'python-shell': { label: 'python-shell 5, 1 process', open: pythonShell },
  pythonia: { label: 'pythonia 1.2, 1 process', open: pythonia },
  'node-calls-python': { label: 'node-calls-python (CPython inside Node)', open: nodeCallsPython },
  'snakepit-process-1': { label: 'Snakepit process profile, 1 worker', open: snakepit({ workerProfile: 'process', poolSize: 1 }) },
  'snakepit-process-1-no-poll': { label: 'Snakepit process profile, 1 worker, idlePollMicros 0', open: snakepit({ workerProfile: 'process', poolSize: 1, idlePollMicros: 0 }) },
  'snakepit-process-1-prefetch-8': { label: 'Snakepit process profile, 1 worker, prefetch 8', open: snakepit({ workerProfile: 'process', poolSize: 1, prefetch: 8 }) },
  'snakepit-process-2': { label: 'Snakepit process profile, 2 workers', open: snakepit({ workerProfile: 'process', poolSize: 2 }) },
  'snakepit-process-2-prefetch-8': { label: 'Snakepit process profile, 2 workers, prefetch 8', open: snakepit({ workerProfile: 'process', poolSize: 2, prefetch: 8 }) },
  'snakepit-thread-1x16': { label: 'Snakepit thread profile, 1 worker × 16 threads', open: snakepit({ workerProfile: 'thread', poolSize: 1, threadsPerWorker: 16 }) },
  'snakepit-process-1-3.13t': { label: 'Snakepit process profile, 1 worker, free-threaded 3.13t', open: snakepit({ workerProfile: 'process', poolSize: 1 }, 'free-threaded') },
  'snakepit-thread-1x16-3.13t': {
    label: 'Snakepit thread profile, 1 worker × 16 threads, free-threaded 3.13t',
    open: snakepit({ workerProfile: 'thread', poolSize: 1, threadsPerWorker: 16 }, 'free-threaded'),
  },
} satisfies Record<string, { label: string; open: () => Promise<Bridge> }>;

export type BridgeKey = keyof typeof BRIDGES;
