// Whatever a tool prints, Node holds a bounded amount of it: `worker:log` lines are capped at
// 64 KiB, the stderr tail quoted by STARTUP_FAILED at 20 lines of 4 KiB, and a line that never
// ends is not buffered whole. Both transports read the worker's output from the same pipes, so the
// pools name one.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import test from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { SnakepitError } from '../src/index.js';
import { clipLine, readCappedLines } from '../src/process/lineReader.js';
import { checkNoLeaks, createPit, startPit, waitFor } from './helpers.js';

const MiB = 1024 * 1024;
const LOG_LINE_BYTES = 64 * 1024;

// A full collection before each reading, so RSS shows what is retained, not garbage not yet collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const settledMemory = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { rss, heapUsed, external } = process.memoryUsage();
  // What JavaScript still holds (strings, Buffers), and what the process holds from the OS.
  return { held: heapUsed + external, rss };
};

test('a worker:log listener gets each line capped at 64 KiB, marked with its full length', async () => {
  const pit = await startPit({ pools: [{ name: 'n', poolSize: 1, adapter: 'noisy_adapters.Noisy', transport: 'local' }] });
  const lines: { stream: string; line: string }[] = [];
  pit.on('worker:log', ({ stream, line }) => lines.push({ stream, line }));
  const ended = (tag: string) => waitFor(() => lines.some((l) => l.line === tag), 20_000, `the line "${tag}"`);

  await pit.execute('shout', { count: 3, mb: 1, tag: 'short' });
  await ended('short');
  const long = lines.filter((l) => l.line.startsWith('x'));
  assert.equal(long.length, 3);
  for (const { stream, line } of long) {
    assert.equal(stream, 'stderr');
    assert.ok(Buffer.byteLength(line) <= LOG_LINE_BYTES + 100, `a line of ${Buffer.byteLength(line)} bytes`);
    assert.ok(line.startsWith('x'.repeat(LOG_LINE_BYTES)), 'the line keeps its first 64 KiB');
    assert.ok(line.endsWith('x … [truncated: line of 1048576 bytes]'), `the line ends with ${JSON.stringify(line.slice(-60))}`);
  }

  // Short lines pass whole, with the line breaks readline knew: \n, \r\n and a lone \r.
  lines.length = 0;
  await pit.execute('raw', { text: 'a\r\nb\rc\n\nd\nend\n', stream: 'stdout' });
  await ended('end');
  assert.deepEqual(lines.map((l) => l.line), ['a', 'b', 'c', '', 'd', 'end']);
  assert.ok(lines.every((l) => l.stream === 'stdout'));
  await pit.stop();
});

test('10 × 20 MB lines on stderr and on stdout leave Node memory where it was, also with a line left open', async () => {
  const pit = await startPit({ pools: [{ name: 'n', poolSize: 1, adapter: 'noisy_adapters.Noisy', transport: 'local', requestTimeoutMs: 120_000 }] });
  // Counts lines without keeping them, as an application's logger would.
  let seen = 0;
  const tags = new Set<string>();
  pit.on('worker:log', ({ line }) => {
    seen++;
    if (line.length < 20) tags.add(line);
  });
  const before = await settledMemory();

  for (const stream of ['stderr', 'stdout']) {
    await pit.execute('shout', { count: 10, mb: 20, stream, tag: `${stream}-done` }, { timeoutMs: 120_000 });
    await waitFor(() => tags.has(`${stream}-done`), 60_000, `the end of the ${stream} lines`);
  }
  // A 20 MB line with no newline yet: readline would hold all of it.
  await pit.execute('open_line', { mb: 20 }, { timeoutMs: 120_000 });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const whileOpen = await settledMemory();
  await pit.execute('raw', { text: '\nclosed\n' });
  await waitFor(() => tags.has('closed'), 20_000, 'the open line to end');
  const afterLines = await settledMemory();
  await pit.stop();
  const afterStop = await settledMemory();

  assert.equal(seen, 10 + 1 + 10 + 1 + 1 + 1);
  const growth = (now: { held: number; rss: number }) => ({
    held: +((now.held - before.held) / MiB).toFixed(1),
    rss: +((now.rss - before.rss) / MiB).toFixed(1),
  });
  const figures = { whileOpen: growth(whileOpen), afterLines: growth(afterLines), afterStop: growth(afterStop) };
  console.log(`memory growth in MiB (held by JS / RSS): ${JSON.stringify(figures)}`);
  // 400 MiB passed through. One retained line would hold 20 MiB, the old unbounded tail 200 MiB.
  // RSS also keeps what the allocator has not returned after the traffic, so its margin is wide.
  for (const [when, { held, rss }] of Object.entries(figures)) {
    assert.ok(held < 4, `${when}: JavaScript holds ${held} MiB more`);
    assert.ok(rss < 128, `${when}: RSS grew by ${rss} MiB`);
  }
});

test('line breaks split across chunks count once, and a cut never splits a character', async () => {
  // Pipe chunk boundaries cannot be placed on purpose with a real worker, so a stream stands in.
  const input = new PassThrough();
  const lines: string[] = [];
  readCappedLines(input, 8, (line) => lines.push(line));
  for (const chunk of ['a\r', '\nb', '\r', 'c\n12345', '6789\n', 'ééééé\n', 'tail']) input.write(Buffer.from(chunk));
  input.end();
  await new Promise((resolve) => input.once('end', resolve));
  assert.deepEqual(lines, ['a', 'b', 'c', '12345678 … [truncated: line of 9 bytes]', 'éééé … [truncated: line of 10 bytes]', 'tail']);
  assert.equal(clipLine('ééé', 5), 'éé … [truncated]');
  assert.equal(clipLine('short', 5), 'short');
});

test('STARTUP_FAILED quotes at most the last 20 stderr lines, each cut to 4 KiB', async () => {
  const pit = createPit({ pools: [{ name: 'b', poolSize: 1, adapter: 'noisy_adapters.NoisyBrokenInit', transport: 'local' }] });
  const error = (await pit.start().then(
    () => assert.fail('start should fail'),
    (e) => e,
  )) as SnakepitError & { details: { stderr: string[] } };
  assert.equal(error.code, 'STARTUP_FAILED');
  const tail = error.details.stderr;
  assert.ok(tail.length > 0 && tail.length <= 20, `${tail.length} stderr lines kept`);
  for (const line of tail) assert.ok(Buffer.byteLength(line) <= 4096 + 20, `a kept line of ${Buffer.byteLength(line)} bytes`);
  const long = tail.filter((line) => line.startsWith('line '));
  assert.ok(long.length > 0);
  for (const line of long) assert.ok(/^line \d+ y+ … \[truncated\]$/.test(line), `a kept line ends ${JSON.stringify(line.slice(-40))}`);
  assert.ok(error.message.length < 20 * 4200 + 10_000, `a message of ${error.message.length} characters`);
});

checkNoLeaks();

test('a line printed while the worker starts carries its pid, before the pool has it', async () => {
  const pit = createPit({ pools: [{ name: 'p', poolSize: 1, adapter: 'sample_adapters.PrintsOnInit', transport: 'local' }] });
  const lines: { line: string; pid?: number }[] = [];
  pit.on('worker:log', ({ line, pid }) => lines.push({ line, pid }));
  try {
    await pit.start();
    const [worker] = pit.inspect().pools[0].workers;
    await waitFor(() => lines.some((l) => l.line === 'loading model... done'), 10_000, 'the line printed in __init__');
    assert.equal(lines.find((l) => l.line === 'loading model... done')!.pid, worker.pid);
  } finally {
    await pit.stop();
  }
});
