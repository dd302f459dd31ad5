/**
 * Section "Large payloads": a 50 MiB Buffer into Python (`consume`, returns its length) and
 * 50 MiB of bytes back (`produce`) on a 1-worker process pool, against a plain pipe into the
 * same Python (peers/pipe.ts) in the same run, interleaved over rounds.
 * Figures `bufferToPythonVsPipe`, `bufferFromPythonVsPipe` = Snakepit's MB/s ÷ the pipe's.
 * Goals: ≥ 0.8 on a local fast lane, ≥ 0.3 over gRPC.
 */
import { PAYLOAD_MIB, PAYLOAD_ROUNDS, PYTHON } from './config.js';
import { median } from './floors.js';
import { PlainPipe } from './peers/pipe.js';
import { startPit, stopPit } from './processes.js';
import { fmt, rotated, table } from './report.js';
import { sampleNoise } from './noise.js';

export interface PayloadResult {
  mib: number;
  mbPerSec: { snakepitTo: number; snakepitFrom: number; pipeTo: number; pipeFrom: number };
  bufferToPythonVsPipe: number;
  bufferFromPythonVsPipe: number;
}

const seconds = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};

export async function payloadsSection(results: Record<string, unknown>): Promise<PayloadResult> {
  const size = PAYLOAD_MIB * 1024 * 1024;
  console.log(`\n== Large payloads (a ${PAYLOAD_MIB} MiB Buffer each way, 1 process worker vs a plain pipe into the same Python; ${PAYLOAD_ROUNDS} round(s))\n`);
  const data = Buffer.alloc(size, 7);
  const pit = await startPit([{ name: 'bulk', workerProfile: 'process', poolSize: 1, adapter: 'bench_adapters.Bench' }]);
  const pipe = new PlainPipe(PYTHON);
  try {
    const paths = {
      snakepitTo: async () => {
        const n = await pit.execute('consume', { data }, { pool: 'bulk' });
        if (n !== size) throw new Error(`consume saw ${String(n)} bytes, sent ${size}`);
      },
      snakepitFrom: async () => {
        const b = await pit.execute('produce', { size }, { pool: 'bulk' });
        if (!Buffer.isBuffer(b) || b.length !== size) throw new Error(`produce returned ${Buffer.isBuffer(b) ? b.length + ' bytes' : typeof b}`);
      },
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
    await pit.execute('consume', { data: small }, { pool: 'bulk' });
    await pit.execute('produce', { size: small.length }, { pool: 'bulk' });
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
    const out: PayloadResult = {
      mib: PAYLOAD_MIB,
      mbPerSec: mb,
      bufferToPythonVsPipe: mb.snakepitTo / mb.pipeTo,
      bufferFromPythonVsPipe: mb.snakepitFrom / mb.pipeFrom,
    };
    console.log('');
    console.log(
      table(
        ['direction', 'Snakepit MB/s', 'plain pipe MB/s', 'ratio'],
        [
          ['Node → Python', fmt(mb.snakepitTo, 1), fmt(mb.pipeTo, 1), fmt(out.bufferToPythonVsPipe, 3)],
          ['Python → Node', fmt(mb.snakepitFrom, 1), fmt(mb.pipeFrom, 1), fmt(out.bufferFromPythonVsPipe, 3)],
        ],
      ),
    );
    results.payloads = out;
    return out;
  } finally {
    await pipe.close();
    await stopPit(pit);
  }
}
