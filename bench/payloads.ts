/**
 * Section "Large payloads": a 50 MiB Buffer into Python (`consume`, returns its length) and
 * 50 MiB of bytes back (`produce`) on a 1-worker process pool over each transport, against a
 * plain pipe into the same Python (peers/pipe.ts) in the same run, interleaved over rounds.
 * Figures `bufferToPythonVsPipe`, `bufferFromPythonVsPipe` = the local lane's MB/s ÷ the
 * pipe's (goal ≥ 0.8), with gRPC's beside them (goal ≥ 0.3). Also: a 50 MiB Float64Array
 * round trip (`echo`, back as a NumPy array) against the same numbers as a JSON list, once
 * (it takes seconds): `float64ArrayVsJsonList` = the list's time ÷ the typed array's.
 */
import { PAYLOAD_MIB, PAYLOAD_ROUNDS, PYTHON } from './config.js';
import { median } from './floors.js';
import { PlainPipe } from './peers/pipe.js';
import { startPit, stopPit } from './processes.js';
import { fmt, rotated, table } from './report.js';
import { sampleNoise } from './noise.js';

export interface PayloadResult {
  mib: number;
  /** MB/s of each path: Snakepit over the local lane and over gRPC, and the plain pipe. */
  mbPerSec: { localTo: number; localFrom: number; grpcTo: number; grpcFrom: number; pipeTo: number; pipeFrom: number };
  /** The local lane's (the default transport's) ratios to the pipe. */
  bufferToPythonVsPipe: number;
  bufferFromPythonVsPipe: number;
  /** The same over gRPC. */
  grpcToPythonVsPipe: number;
  grpcFromPythonVsPipe: number;
  /** Round trip of the same numbers in seconds: as a Float64Array, and as a JSON list. */
  arraySeconds: { typed: number; jsonList: number };
  float64ArrayVsJsonList: number;
}

const seconds = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};

export async function payloadsSection(results: Record<string, unknown>): Promise<PayloadResult> {
  const size = PAYLOAD_MIB * 1024 * 1024;
  console.log(`\n== Large payloads (a ${PAYLOAD_MIB} MiB Buffer each way, 1 process worker over each transport vs a plain pipe into the same Python; ${PAYLOAD_ROUNDS} round(s))\n`);
  const data = Buffer.alloc(size, 7);
  const pit = await startPit([
    { name: 'local', workerProfile: 'process', poolSize: 1, adapter: 'bench_adapters.Bench', transport: 'local' },
    { name: 'grpc', workerProfile: 'process', poolSize: 1, adapter: 'bench_adapters.Bench', transport: 'grpc' },
  ]);
  const pipe = new PlainPipe(PYTHON);
  const to = async (pool: string, value: Buffer) => {
    const n = await pit.execute('consume', { data: value }, { pool });
    if (n !== value.length) throw new Error(`consume saw ${String(n)} bytes, sent ${value.length}`);
  };
  const from = async (pool: string, bytes: number) => {
    const b = await pit.execute('produce', { size: bytes }, { pool });
    if (!Buffer.isBuffer(b) || b.length !== bytes) throw new Error(`produce returned ${Buffer.isBuffer(b) ? b.length + ' bytes' : typeof b}`);
  };
  try {
    const paths = {
      localTo: () => to('local', data),
      localFrom: () => from('local', size),
      grpcTo: () => to('grpc', data),
      grpcFrom: () => from('grpc', size),
      pipeTo: () => pipe.toPython(data),
      pipeFrom: async () => {
        const b = await pipe.fromPython(size);
        if (b.length !== size) throw new Error(`pipe returned ${b.length} bytes`);
      },
    };
    type Key = keyof typeof paths;
    const keys = Object.keys(paths) as Key[];
    // Warm-up with 1 MiB each: buffers sized, code paths compiled.
    const small = data.subarray(0, 1024 * 1024);
    for (const pool of ['local', 'grpc']) {
      await to(pool, small);
      await from(pool, small.length);
    }
    await pipe.toPython(small);
    await pipe.fromPython(small.length);

    const rounds = new Map<Key, number[]>(keys.map((k) => [k, []]));
    for (let round = 0; round < PAYLOAD_ROUNDS; round++) {
      const parts: string[] = [];
      for (const k of rotated(keys, round)) {
        const s = await seconds(paths[k]);
        rounds.get(k)!.push(size / s / 1e6);
        parts.push(`${k} ${fmt(s, 2)} s`);
      }
      sampleNoise(1);
      console.log(`  round ${round + 1}/${PAYLOAD_ROUNDS}: ${parts.join(', ')}`);
    }
    const mb = Object.fromEntries(keys.map((k) => [k, median(rounds.get(k)!)])) as Record<Key, number>;
    const arraySeconds = await arrayRoundTrips(pit, size);
    const out: PayloadResult = {
      mib: PAYLOAD_MIB,
      mbPerSec: mb,
      bufferToPythonVsPipe: mb.localTo / mb.pipeTo,
      bufferFromPythonVsPipe: mb.localFrom / mb.pipeFrom,
      grpcToPythonVsPipe: mb.grpcTo / mb.pipeTo,
      grpcFromPythonVsPipe: mb.grpcFrom / mb.pipeFrom,
      arraySeconds,
      float64ArrayVsJsonList: arraySeconds.jsonList / arraySeconds.typed,
    };
    console.log('');
    console.log(
      table(
        ['direction', 'local lane MB/s', 'gRPC MB/s', 'plain pipe MB/s', 'local ÷ pipe', 'gRPC ÷ pipe'],
        [
          ['Node → Python', fmt(mb.localTo, 1), fmt(mb.grpcTo, 1), fmt(mb.pipeTo, 1), fmt(out.bufferToPythonVsPipe, 3), fmt(out.grpcToPythonVsPipe, 3)],
          ['Python → Node', fmt(mb.localFrom, 1), fmt(mb.grpcFrom, 1), fmt(mb.pipeFrom, 1), fmt(out.bufferFromPythonVsPipe, 3), fmt(out.grpcFromPythonVsPipe, 3)],
        ],
      ),
    );
    console.log(
      `\n  ${PAYLOAD_MIB} MiB of float64 there and back: Float64Array ${fmt(arraySeconds.typed, 3)} s, ` +
        `JSON list ${fmt(arraySeconds.jsonList, 1)} s (${fmt(out.float64ArrayVsJsonList, 0)}× slower)`,
    );
    results.payloads = out;
    return out;
  } finally {
    await pipe.close();
    await stopPit(pit);
  }
}

/** Median of PAYLOAD_ROUNDS typed round trips, and one of the same numbers as a JSON list. */
async function arrayRoundTrips(pit: Awaited<ReturnType<typeof startPit>>, size: number): Promise<{ typed: number; jsonList: number }> {
  const values = new Float64Array(size / 8);
  for (let i = 0; i < values.length; i++) values[i] = Math.sin(i) * 1e6;
  const typed: number[] = [];
  for (let round = 0; round < PAYLOAD_ROUNDS; round++) {
    typed.push(
      await seconds(async () => {
        const back = (await pit.execute('echo', { values }, { pool: 'local' })) as { values: { data: Float64Array } };
        if (back.values.data.length !== values.length) throw new Error('the array came back short');
      }),
    );
  }
  const list = Array.from(values);
  const jsonList = await seconds(async () => {
    const back = (await pit.execute('echo', { values: list }, { pool: 'local' })) as { values: number[] };
    if (back.values.length !== list.length) throw new Error('the list came back short');
  });
  return { typed: median(typed), jsonList };
}
