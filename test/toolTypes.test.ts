// Typed tools: `npx snakepit types` reads the example adapters' hints with a real Python and
// writes their interfaces; `tsc --strict` accepts calls that fit them and refuses a wrong
// argument or a wrong use of a result, with the error a user would see; and a typed view
// calls its own pool's tools on real workers.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PoolNotFoundError } from '../src/index.js';
import type { TypedTools } from './fixtures/typedTools.js';
import { checkNoLeaks, startPit } from './helpers.js';

checkNoLeaks();

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const project = mkdtempSync(path.join(os.tmpdir(), 'snakepit-types-'));
after(() => rmSync(project, { recursive: true, force: true }));

// No interpreter choice leaks in from the environment running the tests: from the repository,
// the command finds its .venv as it would a consumer project's.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(SNAKEPIT_|VIRTUAL_ENV$|PYTHONPATH$)/.test(key)));

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: repo, env: cleanEnv, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const snakepit = (args: string[]) => run(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(repo, 'src', 'cli.ts'), ...args]);

const EXAMPLES = ['--python-path', 'examples/adapters'];
const TEST_ADAPTERS = ['--python-path', 'python/tests/adapters'];
// Each adapter, the file its interface goes to (one as a .d.ts), and where it lives.
const DECLARATIONS = [
  { adapter: 'text_tools.TextTools', file: 'text.tools.ts', path: EXAMPLES },
  { adapter: 'text_tools.WebAdapter', file: 'web.tools.ts', path: EXAMPLES },
  { adapter: 'ml_model.InferenceAdapter', file: 'ml.tools.ts', path: EXAMPLES },
  { adapter: 'typed_adapters.Typed', file: 'typed.tools.ts', path: TEST_ADAPTERS },
  { adapter: 'typed_numpy_adapters.Arrays', file: 'arrays.tools.d.ts', path: TEST_ADAPTERS },
  // Hints that recur, a module that writes to stdout at import, names and literals TypeScript must quote.
  { adapter: 'hostile_types.Hostile', file: 'hostile.tools.ts', path: TEST_ADAPTERS },
  { adapter: 'hostile_types.Ünïcode', file: 'unicode.tools.ts', path: TEST_ADAPTERS },
];
const written = new Map<string, string>();

test('`snakepit types` writes the example adapters\' tools from their hints', async () => {
  const runs = await Promise.all(DECLARATIONS.map(({ adapter, file, path: where }) => snakepit(['types', '--adapter', adapter, ...where, '--out', path.join(project, file)])));
  for (const [i, { code, stdout, stderr }] of runs.entries()) {
    const { adapter, file } = DECLARATIONS[i];
    assert.equal(code, 0, `${adapter}: ${stdout}${stderr}`);
    assert.match(stderr, new RegExp(`^wrote \\S+Tools \\(\\d+ tools? of ${adapter.replace('.', '\\.')}\\) to `));
    written.set(file, readFileSync(path.join(project, file), 'utf8'));
  }
  const text = written.get('text.tools.ts')!;
  assert.match(text, /^\/\/ The tools of text_tools\.TextTools, from their Python type hints/);
  assert.match(text, /export interface TextTools \{\n  \/\*\* Count words \*\/\n  word_count: \{\n    args: \{ text: string \};\n    result: number;\n  \};/);
  assert.match(text, /reverse_bytes: \{\n    args: \{ blob: Uint8Array \};\n    result: Buffer;/);
  assert.match(written.get('web.tools.ts')!, /export interface WebAdapterTools \{[\s\S]*fetch: \{\n    args: \{ url: string; latency_ms\?: number \| bigint \};\n    result: \{ url: string; status: number \};/);
  assert.match(written.get('ml.tools.ts')!, /predict: \{\n    args: \{ input_data: readonly number\[\] \};\n    result: \{ prediction: number\[\] \};/);
  const arrays = written.get('arrays.tools.d.ts')!;
  assert.match(arrays, /^import type \{ NdArray, NdArrayArgument \} from 'snakepit';$/m);
  assert.match(arrays, /normalise: \{\n    args: \{ x: NdArrayArgument<"float32"> \};\n    result: NdArray<"float32">;/);
  assert.match(arrays, /rows: \{\n    args: \{ x: NdArrayArgument<"uint8"> \};\n    chunk: NdArray<"uint8">;/);
  const typed = written.get('typed.tools.ts')!;
  assert.match(typed, /count: \{\n    args: \{ n: number \| bigint \};\n    chunk: number;/); // a generator: ctx is no argument
  assert.match(typed, /"class-name": \{\n    args: Record<string, never>;\n    result: string;/);
  assert.match(typed, /  \/\*\* Two lines and a \*\\\/ that would end a comment \*\/\n  noted: \{/); // one line, still a comment
  assert.match(written.get('hostile.tools.ts')!, /walk: \{\n    args: \{ tree: \{ label: string; children: readonly unknown\[\] \} \};/); // the tree within itself
  assert.match(written.get('unicode.tools.ts')!, /export interface ÜnïcodeTools \{[\s\S]*  class: \{\n    args: \{ "ñame": string; quoted\?: "say \\"hi\\"\\n" \| "it's" \| "\*\/" \};/);
});

test('test/fixtures/typedTools.ts is what `snakepit types` writes today', async () => {
  const fixture = 'test/fixtures/typedTools.ts';
  const [help, printed] = await Promise.all([
    snakepit(['types', '--adapter', 'typed_adapters.Typed', ...TEST_ADAPTERS, '--out', fixture, '--help']),
    snakepit(['types', '--adapter', 'typed_adapters.Typed', ...TEST_ADAPTERS]),
  ]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /usage: npx snakepit types --adapter module\.Class/);
  assert.equal(printed.code, 0, printed.stderr);
  // Printed, the header names no --out; the fixture was written with it.
  const expected = readFileSync(path.join(repo, fixture), 'utf8').replace(` --out ${fixture}`, '');
  assert.equal(printed.stdout, expected, `regenerate it: npx snakepit types --adapter typed_adapters.Typed ${TEST_ADAPTERS.join(' ')} --out ${fixture}`);
});

test('`snakepit types` fails with the reason and the doctor command', async () => {
  const [missing, bad] = await Promise.all([snakepit(['types', '--adapter', 'text_tools.NoSuchClass', ...EXAMPLES]), snakepit(['types', '--adapter', 'nodots'])]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /could not read the tools of text_tools\.NoSuchClass with .*: exited with 1: LookupError: module 'text_tools' has no class named 'NoSuchClass'/);
  assert.match(missing.stderr, /`npx snakepit doctor --adapter text_tools\.NoSuchClass --python-path examples\/adapters` says what is missing/);
  assert.deepEqual([bad.code, bad.stderr.trim()], [1, 'snakepit types: "nodots" is not of the form module.Class; pass --adapter like calc.Calc']);
});

// Calls that fit the interfaces: the file must compile without a single error.
const FITTING = `
import { Snakepit, type InspectOption, type NdArray, type PoolConfig, type SnakepitConfig, type ToolResult } from 'snakepit';
import type { ArraysTools } from './arrays.tools.js';
import type { InferenceAdapterTools } from './ml.tools.js';
import type { TextTools } from './text.tools.js';
import type { TypedTools } from './typed.tools.js';
import type { WebAdapterTools } from './web.tools.js';

interface AddArgs { a: number; b: number }  // an interface: no index signature

export async function fitting(pit: Snakepit): Promise<void> {
  const args: AddArgs = { a: 1, b: 2 };
  const untyped: unknown = await pit.execute('add', args);
  for await (const chunk of pit.stream('count', args)) console.log(chunk, untyped);

  const typed = pit.tools<TypedTools>({ pool: 'typed' });
  const sum: number = await typed.execute('add', args);
  await typed.execute('add', { a: 2n ** 60n, b: sum });
  const points = await typed.execute('scale', { points: [{ x: 1, y: 2 }] as const });
  const x: number = points[0].x;
  for await (const n of typed.stream('count', { n: 3 }, { highWaterMark: 8 })) console.log(n.toFixed(), x);
  const all: number[] = await typed.execute('count', { n: 3 });
  for await (const [i, word] of typed.stream('words', { text: 'a b' })) console.log(i.toFixed(), word.toUpperCase(), all);
  const described: Record<string, number | string | null> = await typed.execute('describe', {
    shape: { kind: 'circle', centre: { x: 0, y: 0 }, options: { tags: ['a'] } },
  });
  const ok: 'ok' = await typed.execute('pick', { mode: null });
  const reversed: Buffer = await typed.execute('blob', { data: new Uint8Array([1, 2]), encoding: 'ascii' });
  const nothing: null = await typed.execute('nothing');
  const name: string = await typed.execute('class-name', {}, { timeoutMs: 1000, signal: AbortSignal.timeout(2000) });
  await typed.execute('loose', { anything: [1], values: [], mapping: { k: 1 }, pair: [1, 'a'], extra: true });
  const one: ToolResult<TypedTools['user']> = await typed.execute('user', { user_id: 7 });
  const each = await typed.broadcast('add', args, { timeoutMs: 1000 });
  const sums: number[] = each.flatMap((entry) => (entry.ok ? [entry.value] : []));
  const pinned: number = await typed.execute('add', args, { workerId: each[0].workerId });
  console.log(described, ok, reversed, nothing, name, one[1] === true, sums, pinned);

  const arrays = pit.tools<ArraysTools>({ pool: 'arrays' });
  const unit: NdArray<'float32'> = await arrays.execute('normalise', { x: new Float32Array([3, 4]) });
  const back: Float32Array = (await arrays.execute('normalise', { x: unit })).data;
  const any: NdArray = await arrays.execute('anything', { x: new Uint8ClampedArray(2), half: null });
  await arrays.execute('anything', { x: any });
  for await (const row of arrays.stream('rows', { x: { dtype: 'uint8', shape: [2, 2], data: new Uint8Array(4) } })) console.log(row.data, back);

  const text = pit.tools<TextTools>();
  const words: number = await text.execute('word_count', { text: 'a b' });
  const web = pit.tools<WebAdapterTools>({ pool: 'web' });
  const page = await web.execute('fetch', { url: 'https://example.test' });
  const ml = pit.tools<InferenceAdapterTools>({ pool: 'ml' });
  const { prediction } = await ml.execute('predict', { input_data: [1, 2, 3] });
  console.log(words, page.status.toFixed(), prediction.map((p) => p * 2), await ml.execute('served'));
}

export const inspect: InspectOption = (event) => console.log(event.type);
export const pools: PoolConfig[] = [{ name: 'typed', adapter: 'typed_adapters.Typed', poolSize: 2 }];
export const config: SnakepitConfig = { pools, inspect: { inspect: { next: inspect }, stop: () => undefined } };
`;

// Each line marked "// error TSxxxx: text" must have that error, and no other line any.
const WRONG_ARGUMENTS = `
import type { Snakepit } from 'snakepit';
import type { ArraysTools } from './arrays.tools.js';
import type { TypedTools } from './typed.tools.js';

export async function wrongArguments(pit: Snakepit): Promise<void> {
  const typed = pit.tools<TypedTools>({ pool: 'typed' });
  await typed.execute('add', { a: '1', b: 2 }); // error TS2322: Type 'string' is not assignable to type 'number | bigint'.
  await typed.execute('add', { a: 1 }); // error TS2741: Property 'b' is missing
  await typed.execute('ad', { a: 1, b: 2 }); // error TS2345: Argument of type '"ad"' is not assignable
  await typed.execute('add', { a: 1, b: 2, c: 3 }); // error TS2353: 'c' does not exist
  await typed.execute('pick', { mode: 'slow' }); // error TS2322: Type '"slow"' is not assignable
  await typed.execute('describe', { shape: { kind: 'circle', centre: { x: 0 }, options: {} } }); // error TS2741: Property 'y' is missing
  await typed.execute('nothing', { n: 1 }); // error TS2322: Type 'number' is not assignable to type 'never'.
  await typed.execute('add', { a: 1, b: 2 }, { pool: 'other' }); // error TS2353: 'pool' does not exist
  await typed.broadcast('add', { a: 1, b: 2 }, { workerId: 'typed-1' }); // error TS2353: 'workerId' does not exist
  await typed.broadcast('add', { a: 1, b: '2' }); // error TS2322: Type 'string' is not assignable to type 'number | bigint'.
  const arrays = pit.tools<ArraysTools>({ pool: 'arrays' });
  await arrays.execute('normalise', { x: new Float64Array(2) }); // error TS2322: Type 'Float64Array<ArrayBuffer>' is not assignable
  await arrays.execute('mean', { x: { dtype: 'int64', shape: [2], data: new Int32Array(2) } }); // error TS2322: Type 'Int32Array<ArrayBuffer>' is not assignable
}
`;

const WRONG_RESULTS = `
import type { Snakepit } from 'snakepit';
import type { ArraysTools } from './arrays.tools.js';
import type { TextTools } from './text.tools.js';
import type { TypedTools } from './typed.tools.js';

export async function wrongResults(pit: Snakepit): Promise<void> {
  const typed = pit.tools<TypedTools>({ pool: 'typed' });
  const text: string = await typed.execute('add', { a: 1, b: 2 }); // error TS2322: Type 'number' is not assignable to type 'string'.
  for await (const n of typed.stream('count', { n: 1 })) n.toUpperCase(); // error TS2339: Property 'toUpperCase' does not exist on type 'number'.
  const counted: string[] = await typed.execute('count', { n: 1 }); // error TS2322: Type 'number[]' is not assignable to type 'string[]'.
  (await typed.execute('scale', { points: [] }))[0].z; // error TS2339: Property 'z' does not exist
  const kind: string = (await typed.execute('describe', { shape: { kind: 'square', centre: { x: 0, y: 0 }, options: {} } })).kind; // error TS2322: Type 'string | number | null' is not assignable to type 'string'.
  const blob: Buffer = await pit.tools<TextTools>().execute('slugify', { text }); // error TS2322: Type 'string' is not assignable to type 'Buffer
  for (const entry of await typed.broadcast('add', { a: 1, b: 2 })) if (entry.ok) entry.value.toUpperCase(); // error TS2339: Property 'toUpperCase' does not exist on type 'number'.
  const array: Float64Array = (await pit.tools<ArraysTools>({ pool: 'arrays' }).execute('normalise', { x: new Float32Array(1) })).data; // error TS2322: Type 'Float32Array<ArrayBuffer>' is not assignable to type 'Float64Array
  console.log(counted, kind, blob, array);
}
`;

interface Diagnostic {
  file: string;
  line: number;
  code: string;
  message: string;
}

test('tsc --strict: calls that fit compile, and a wrong argument or a wrong result use is an error', async () => {
  assert.equal(written.size, DECLARATIONS.length, 'the declarations were written by the first test');
  const sources = { 'fitting.ts': FITTING, 'wrongArguments.ts': WRONG_ARGUMENTS, 'wrongResults.ts': WRONG_RESULTS };
  for (const [file, source] of Object.entries(sources)) writeFileSync(path.join(project, file), source.trimStart());
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', skipLibCheck: true,
      types: ['node'], typeRoots: [path.join(repo, 'node_modules', '@types')],
      // `snakepit` is this checkout, as a consumer's node_modules would hold it.
      paths: { snakepit: [path.join(repo, 'src', 'index.ts')] },
    },
    files: [...Object.keys(sources), ...DECLARATIONS.map((d) => d.file)],
  }));
  // One program for every case: a tsc run costs seconds on a busy machine.
  const tsc = await run(path.join(repo, 'node_modules', '.bin', 'tsc'), ['-p', path.join(project, 'tsconfig.json'), '--pretty', 'false']);
  const diagnostics: Diagnostic[] = [...tsc.stdout.matchAll(/^(.+?)\((\d+),\d+\): error (TS\d+): (.*)$/gm)]
    .map(([, file, line, code, message]) => ({ file: path.basename(file), line: Number(line), code, message }));
  assert.equal(diagnostics.length > 0 && tsc.code !== 0, true, `tsc found the wrong uses:\n${tsc.stdout}${tsc.stderr}`);
  assert.deepEqual(diagnostics.filter((d) => !(d.file in sources)), [], 'the generated declarations compile');
  assert.deepEqual(diagnostics.filter((d) => d.file === 'fitting.ts'), [], 'the fitting calls compile');
  for (const file of ['wrongArguments.ts', 'wrongResults.ts']) {
    const expected = readFileSync(path.join(project, file), 'utf8').split('\n').flatMap((text, i) => {
      const marked = /\/\/ error (TS\d+): (.*)$/.exec(text);
      return marked ? [{ line: i + 1, code: marked[1], message: marked[2] }] : [];
    });
    const found = diagnostics.filter((d) => d.file === file);
    for (const want of expected) {
      const at = found.filter((d) => d.line === want.line);
      assert.ok(at.some((d) => d.code === want.code && d.message.includes(want.message)), `${file}:${want.line} wants ${want.code} "${want.message}"; tsc said:\n${at.map((d) => `${d.code} ${d.message}`).join('\n') || 'nothing'}`);
    }
    assert.deepEqual(found.filter((d) => !expected.some((e) => e.line === d.line)), [], `${file}: no error on an unmarked line`);
  }
  console.log(`tsc --strict: ${diagnostics.length} expected errors, none in the fitting calls or the declarations`);
});

test('a typed view calls its own pool, and an unknown pool is refused when the view is made', async () => {
  const pit = await startPit({
    pools: [
      { name: 'default', poolSize: 1, adapter: 'sample_adapters.Calc', transport: 'local' },
      { name: 'typed', poolSize: 1, adapter: 'typed_adapters.Typed', transport: 'local' },
    ],
  });
  try {
    const typed = pit.tools<TypedTools>({ pool: 'typed' });
    assert.equal(typed.pool, 'typed');
    assert.equal(await typed.execute('add', { a: 2, b: 3 }), 5);
    const chunks: number[] = [];
    for await (const n of typed.stream('count', { n: 3 })) chunks.push(n);
    assert.deepEqual(chunks, [0, 1, 2]);
    assert.deepEqual(await typed.execute('count', { n: 2 }), [0, 1]); // a generator executed: every chunk at once
    assert.deepEqual(await typed.execute('scale', { points: [{ x: 1, y: -1 }] }, { timeoutMs: 10_000 }), [{ x: 2, y: -2 }]);
    assert.equal(await typed.execute('class-name'), 'Typed');
    assert.deepEqual(await typed.broadcast('add', { a: 2, b: 3 }), [{ workerId: 'typed-1', ok: true, value: 5 }]);
    // The view's pool wins over one a JavaScript caller slips into the options.
    assert.equal(await typed.execute('add', { a: 1, b: 1 }, { pool: 'default' } as never), 2);
    assert.equal(await pit.tools().execute('add', { a: 1, b: 1 }), 2); // the default pool's Calc, untyped
    // A view of the default pool stays there: another pool's worker is not one of its own.
    await assert.rejects(pit.tools().execute('add', { a: 1, b: 1 }, { workerId: 'typed-1' }), (error: Error) => /Pool "default" has no worker "typed-1"/.test(error.message));
    assert.throws(() => pit.tools({ pool: 'nope' }), (error) => error instanceof PoolNotFoundError && /No pool named "nope"/.test(error.message));
    await assert.rejects(typed.execute('add', { a: 1, b: 1 }, 'fast' as never), { code: 'INVALID_ARGUMENT' });
  } finally {
    await pit.stop();
  }
});
