/**
 * Floors: what a tiny call costs over plain gRPC on this machine, with no Snakepit code.
 *
 * - unary floor:  one @grpc/grpc-js unary RPC per call → grpcio sync server (echo)
 * - stream floor: one message each way on one long-lived bidi stream (send, await the echo)
 *
 * Both talk to `floors/echo_server.py` over a Unix socket in a private temp dir, with
 * Buffer pass-through (de)serializers. `measureSequential` is the shared method: it is also
 * used for Snakepit's own `execute`, so the figures compare like with like.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..');
export const floorServerScript = join(here, 'floors', 'echo_server.py');

/** SNAKEPIT_PYTHON, else the project's venv when present, else python3. */
export function findPython(): string {
  if (process.env.SNAKEPIT_PYTHON) return process.env.SNAKEPIT_PYTHON;
  const venv = join(repoRoot, '.venv', 'bin', 'python');
  if (existsSync(venv)) return venv;
  return 'python3';
}

// ---------------------------------------------------------------------------------------
// Statistics

export interface LatencyStats {
  n: number;
  medianUs: number;
  p90Us: number;
  meanUs: number;
  /** Completed calls per second of wall time over the measured loop. */
  callsPerSec: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function median(values: number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

/**
 * Sequential latency of a caller-supplied async call: `warmup` unmeasured calls, then `n`
 * calls one after another, each timed on its own.
 */
export async function measureSequential(
  fn: () => Promise<unknown>,
  n: number,
  warmup = Math.min(200, n),
): Promise<LatencyStats> {
  for (let i = 0; i < warmup; i++) await fn();
  const samples = new Array<number>(n);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const totalUs = Number(process.hrtime.bigint() - start) / 1000;
  samples.sort((a, b) => a - b);
  return {
    n,
    medianUs: quantile(samples, 0.5),
    p90Us: quantile(samples, 0.9),
    meanUs: samples.reduce((s, v) => s + v, 0) / n,
    callsPerSec: n / (totalUs / 1e6),
  };
}

// ---------------------------------------------------------------------------------------
// The floor server

export interface FloorServer {
  address: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startFloorServer(
  opts: { python?: string; startupTimeoutMs?: number } = {},
): Promise<FloorServer> {
  const python = opts.python ?? findPython();
  const child: ChildProcess = spawn(python, [floorServerScript], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const pid = child.pid!;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, 2000);
    await exited;
    clearTimeout(timer);
  };

  try {
    const address = await new Promise<string>((res, rej) => {
      let buf = '';
      const timer = setTimeout(
        () => rej(new Error(`floor server did not become ready in time; stderr:\n${stderr}`)),
        opts.startupTimeoutMs ?? 15000,
      );
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        buf += d;
        const m = /^READY (\S+)$/m.exec(buf);
        if (m) {
          clearTimeout(timer);
          res(m[1]!);
        }
      });
      child.once('error', (e) => {
        clearTimeout(timer);
        rej(e);
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        rej(new Error(`floor server exited (${code ?? sig}) before ready; stderr:\n${stderr}`));
      });
    });
    return { address, pid: child.pid!, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------
// Clients

const passThrough = (b: Buffer): Buffer => b;
/** ~30 bytes, the size of a tiny tool call's JSON. */
export const TINY_PAYLOAD: Buffer = Buffer.from('{"tool":"echo","args":{"x":1}}');

export interface FloorCaller {
  call(): Promise<unknown>;
  close(): void;
}

export function unaryCaller(address: string, payload = TINY_PAYLOAD): FloorCaller {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const call = () =>
    new Promise<Buffer>((res, rej) => {
      client.makeUnaryRequest<Buffer, Buffer>(
        '/floor.Echo/Unary',
        passThrough,
        passThrough,
        payload,
        (err, value) => (err ? rej(err) : res(value!)),
      );
    });
  return { call, close: () => client.close() };
}

export function streamCaller(address: string, payload = TINY_PAYLOAD): FloorCaller {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const stream = client.makeBidiStreamRequest<Buffer, Buffer>(
    '/floor.Echo/Stream',
    passThrough,
    passThrough,
  );
  // Sequential use: at most one call waits at a time; a FIFO keeps it correct anyway.
  const waiting: Array<{ res: (b: Buffer) => void; rej: (e: Error) => void }> = [];
  stream.on('data', (b: Buffer) => waiting.shift()?.res(b));
  stream.on('error', (e: Error) => {
    for (const w of waiting.splice(0)) w.rej(e);
  });
  const call = () =>
    new Promise<Buffer>((res, rej) => {
      waiting.push({ res, rej });
      stream.write(payload);
    });
  const close = () => {
    stream.end();
    stream.cancel();
    client.close();
  };
  return { call, close };
}

// ---------------------------------------------------------------------------------------
// Floor measurements

export interface FloorOptions {
  /** Measured calls (default 2000). */
  n?: number;
  /** Unmeasured warm-up calls (default 200). */
  warmup?: number;
  payload?: Buffer;
  python?: string;
  /** Reuse a running floor server (it is then left running); otherwise one is started and stopped. */
  server?: FloorServer;
}

async function measureFloor(
  make: (address: string, payload?: Buffer) => FloorCaller,
  opts: FloorOptions,
): Promise<LatencyStats> {
  const own = opts.server === undefined;
  const server = opts.server ?? (await startFloorServer({ python: opts.python }));
  let caller: FloorCaller | undefined;
  try {
    caller = make(server.address, opts.payload ?? TINY_PAYLOAD);
    return await measureSequential(caller.call, opts.n ?? 2000, opts.warmup ?? 200);
  } finally {
    caller?.close();
    if (own) await server.stop();
  }
}

export function measureUnaryFloor(opts: FloorOptions = {}): Promise<LatencyStats> {
  return measureFloor(unaryCaller, opts);
}

export function measureStreamFloor(opts: FloorOptions = {}): Promise<LatencyStats> {
  return measureFloor(streamCaller, opts);
}

// ---------------------------------------------------------------------------------------
// Process helpers shared by the runner

/** Resident set size of a process in kB (VmRSS from /proc), or NaN if unavailable. */
export function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
