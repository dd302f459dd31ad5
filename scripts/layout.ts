// The source layout in one table: each part of src/ (and machines/), what it holds, and which
// other parts its modules may import. test/layout.test.ts holds the code to it (every file in
// a part, every import in an allowed direction) and README.md's layout table to what it
// renders; `npx tsx scripts/layout.ts` rewrites that table after a file is added or moved.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

export interface Part {
  /** A folder (`src/wire/`), or the name of a group of files in src/ itself (`shared`). */
  name: string;
  /** For a group in src/ itself: its files. */
  rootFiles?: string[];
  role: string;
  /** The other parts its modules may import from, lower layers only. */
  mayImport: string[];
}

const FACADE = 'façade';
const SHARED = 'shared';

/** Bottom up: a part may import only parts listed before it. */
export const PARTS: Part[] = [
  {
    name: 'machines/',
    role: 'the pure statecharts (worker, pool, the root supervisor, a pool\'s fork server) and the restart policy; their effects are named, and supervision/ provides them',
    mayImport: [],
  },
  {
    name: SHARED,
    rootFiles: ['adapterPath.ts', 'config.ts', 'errors.ts', 'events.ts', 'packageRoot.ts', 'workerLog.ts'],
    role: "what every folder may use: the options and their defaults, the form of an adapter's module.Class, the coded errors, the events, where worker output goes, where the package's own files are",
    mayImport: ['machines/'],
  },
  {
    name: 'src/wire/',
    role: 'the Session protocol: the value codec, client and server frames and their field keys (generated from the proto), the worker connection (call table, outbox, one-frame bursts), large arguments in parts, error replies as coded errors, and its transports, the local lane and gRPC',
    mayImport: [SHARED],
  },
  {
    name: 'src/process/',
    role: 'a worker process on this machine: which interpreter, spawning it, start-up hints, its output lines, what /proc says, the exit hook, socket paths, the calls a dead worker had started; the LiveWorker contract every worker fulfils',
    mayImport: ['src/wire/', SHARED],
  },
  {
    name: 'src/preload/',
    role: "a pool's preloading fork server (`preload`): the process, its requests and the links its forks open to Node, and its supervision (restarts, refusal, falling back to spawning)",
    mayImport: ['src/process/', SHARED, 'machines/'],
  },
  {
    name: 'src/registry/',
    role: "the run's record of its worker processes in a private directory, and the next start's sweep for survivors",
    mayImport: ['src/process/', SHARED],
  },
  {
    name: 'src/remote/',
    role: "workers served by a bridge server: the remote worker, a pool's endpoints and their DNS watch",
    mayImport: ['src/process/', 'src/wire/', SHARED],
  },
  {
    name: 'src/observe/',
    role: 'what a pool records of its calls and exports: stats, totals, bounded tool labels, trace spans, Prometheus metrics, the inspect option',
    mayImport: ['src/process/', SHARED, 'machines/'],
  },
  {
    name: 'src/calls/',
    role: "a call from submit to settled: the per-worker slot (the one writer of a worker's load, routing state and live handle) and the request, the dispatcher (queue and routing), balancing, the FIFO, affinity sessions, calls made for one worker and broadcasts, argument checks and encoding, call chains, streams, functions exposed to Python, the texts of what user code throws, typed views of a pool's tools",
    mayImport: ['src/observe/', 'src/process/', 'src/wire/', SHARED, 'machines/'],
  },
  {
    name: 'src/supervision/',
    role: "the machines' real effects (boot, exit watch, heartbeat, retire), the lifecycle events, live worker processes, failures' error objects, the recycler, what inspect() and health() show",
    mayImport: ['src/calls/', 'src/remote/', 'src/preload/', 'src/process/', SHARED, 'machines/'],
  },
  {
    name: 'src/cli/',
    role: 'the `npx snakepit` commands: setup, doctor, types (and rendering an adapter\'s tools as TypeScript), python',
    mayImport: ['src/process/', SHARED],
  },
  {
    name: FACADE,
    rootFiles: ['callbackGuard.ts', 'cli.ts', 'index.ts', 'launches.ts', 'signals.ts', 'snakepit.ts'],
    role: "the entries (index.ts the library's API, cli.ts the command) and the Snakepit class, which wires the folders together; launches.ts what its workers, remote workers and fork servers start with, callbackGuard.ts isolates what the application's callbacks throw, signals.ts stops on SIGTERM/SIGINT",
    mayImport: ['src/supervision/', 'src/calls/', 'src/observe/', 'src/remote/', 'src/registry/', 'src/preload/', 'src/process/', 'src/wire/', 'src/cli/', SHARED, 'machines/'],
  },
  {
    name: 'src/dashboard/',
    role: 'the optional web dashboard (`snakepit/dashboard`), built on the public API and the exported worker machine',
    mayImport: [FACADE, SHARED, 'machines/'],
  },
];

/** Every .ts file under src/ and machines/, as a path from the repository root with `/`. */
export function sourceFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(path.join(REPO, dir)).sort().flatMap((name) => {
      const rel = `${dir}/${name}`;
      if (statSync(path.join(REPO, rel)).isDirectory()) return walk(rel);
      return name.endsWith('.ts') ? [rel] : [];
    });
  return [...walk('src'), ...walk('machines')];
}

/** The part a file belongs to, undefined when the table has none for it. */
export function partOf(file: string): Part | undefined {
  const segments = file.split('/');
  if (segments[0] === 'src' && segments.length === 2) return PARTS.find((part) => part.rootFiles?.includes(segments[1]));
  const folder = `${segments.slice(0, segments[0] === 'src' ? 2 : 1).join('/')}/`;
  return PARTS.find((part) => part.name === folder);
}

export interface Import {
  from: string;
  /** The imported file, from the repository root, `.js` read as the `.ts` it is built from. */
  to: string;
  line: number;
}

/** The relative imports of a file: static, re-exports and dynamic `import()`. */
export function importsOf(file: string): Import[] {
  const text = readFileSync(path.join(REPO, file), 'utf8');
  const found: Import[] = [];
  for (const match of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.\.?\/[^'"]+)['"]/g)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), match[1])).replace(/\.js$/, '.ts');
    found.push({ from: file, to: target, line: text.slice(0, match.index).split('\n').length });
  }
  return found;
}

const isGroup = (name: string): boolean => PARTS.some((part) => part.name === name && part.rootFiles);
/** A part as the failures name it: `src/wire/`, or `src/ (shared)` for a group of src/ itself. */
const display = (name: string): string => (isGroup(name) ? `src/ (${name})` : name);

/** Imports from one part into another that the table does not allow. */
export function forbiddenImports(files: string[] = sourceFiles()): string[] {
  const problems: string[] = [];
  for (const file of files) {
    const from = partOf(file);
    for (const { to, line } of importsOf(file)) {
      const target = partOf(to);
      if (!from || !target) continue; // reported by the file check
      if (target !== from && !from.mayImport.includes(target.name)) {
        const allowed = from.mayImport.map(display).join(', ') || 'nothing outside itself';
        problems.push(`${file}:${line} imports ${to}: ${display(from.name)} may import only ${allowed}`);
      }
    }
  }
  return problems;
}

const cell = (text: string): string => text.replaceAll('|', '\\|');
/** A part as the README's table names it. */
const label = (name: string): string => (isGroup(name) ? `\`src/\` (${name})` : `\`${name}\``);

function filesOf(part: Part, files: string[] = sourceFiles()): string[] {
  if (part.rootFiles) return part.rootFiles;
  return files.filter((file) => partOf(file) === part).map((file) => file.slice(part.name.length));
}

/** README.md's layout table, top layer first. */
export function layoutTable(files: string[] = sourceFiles()): string {
  const rows = [...PARTS].reverse().map((part) => {
    const imports = part.mayImport.length ? part.mayImport.map(label).join(', ') : '— (nothing in `src/`)';
    const names = filesOf(part, files).map((name) => `\`${name}\``).join(', ');
    return `| ${label(part.name)} | ${cell(part.role)} | ${imports} | ${names} |`;
  });
  return ['| part | what it holds | may import | files |', '|---|---|---|---|', ...rows].join('\n');
}

export const TABLE_START = '<!-- layout table: written by `npx tsx scripts/layout.ts` from its PARTS, held to the code by test/layout.test.ts -->';
export const TABLE_END = '<!-- end of layout table -->';

/** The README with its layout table replaced by the one the code gives; throws if it has no markers. */
export function withLayoutTable(readme: string, table: string = layoutTable()): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md has no layout table between ${TABLE_START} and ${TABLE_END}`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = path.join(REPO, 'README.md');
  writeFileSync(file, withLayoutTable(readFileSync(file, 'utf8')));
  console.log('wrote the layout table in README.md');
}
