/**
 * Section "remote": a sequential tiny call to a bridge server on loopback (TLS and a token, as
 * in a cluster) against the same call to a local worker, in interleaved rounds:
 *   - local lane:      1 local process worker, transport 'local' (the default)
 *   - local gRPC:      1 local process worker, transport 'grpc'
 *   - remote thread:   `serve --threads 4` (BenchThreaded), a remote pool of that one server
 *   - remote process:  `serve --profile process --workers 1` (Bench): the call is relayed to a
 *                      worker process behind the server
 * Figure `remoteVsLocal`: remote thread ÷ local lane (reported, no goal).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { delimiter, join } from 'node:path';
import { N, PYTHON, ROUNDS, WARMUP } from './config.js';
import { measureSequential, median, repoRoot } from './floors.js';
import { startPit, stopPit, trackChild, type Pit } from './processes.js';
import { fmt, rotated, table } from './report.js';

export interface RemoteResult {
  medianUs: Record<string, number>;
  remoteVsLocal: number;
}

interface Tls {
  dir: string;
  ca: Buffer;
  token: string;
}

function makeTls(): Tls {
  const dir = mkdtempSync(join(os.tmpdir(), 'snakepit-bench-tls-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '1', '-subj', '/CN=bench-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
  openssl('req', ...ec, '-subj', '/CN=bench-server', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1',
    '-extfile', 'san.ext', '-out', 'server.crt');
  const token = `bench-${process.pid}-${Date.now()}`;
  writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
  return { dir, ca: readFileSync(join(dir, 'ca.crt')), token };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts a bridge server; resolves with its endpoint once it says it serves. */
async function startServer(tls: Tls, adapter: string, capacity: string[]): Promise<{ child: ChildProcess; endpoint: string }> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: [join(repoRoot, 'bench', 'adapters'), join(repoRoot, 'python')].join(delimiter) };
  delete env.SNAKEPIT_TOKEN;
  const child = spawn(PYTHON, ['-m', 'snakepit_bridge', 'serve', '--adapter', adapter, '--listen', `127.0.0.1:${port}`, ...capacity,
    '--tls-cert', join(tls.dir, 'server.crt'), '--tls-key', join(tls.dir, 'server.key'), '--token-file', join(tls.dir, 'token')],
  { env, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bridge server did not start within 60 s:\n${output}`)), 60_000);
    const check = () => {
      if (/serving .* on /.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bridge server exited with ${code}:\n${output}`));
    });
  });
  return { child, endpoint: `127.0.0.1:${port}` };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function remoteSection(results: Record<string, unknown>): Promise<RemoteResult> {
  console.log(`\n== Remote call latency (sequential tiny call on loopback; ${ROUNDS} interleaved rounds × ${N} calls)\n`);
  const tls = makeTls();
  const servers: ChildProcess[] = [];
  const pits: Pit[] = [];
  try {
    const thread = await startServer(tls, 'bench_adapters.BenchThreaded', ['--threads', '4']);
    const process1 = await startServer(tls, 'bench_adapters.Bench', ['--profile', 'process', '--workers', '1']);
    servers.push(thread.child, process1.child);
    const remote = (name: string, endpoint: string) =>
      ({ name, workerProfile: 'remote', endpoints: [endpoint], tls: { ca: tls.ca }, token: tls.token });
    const pit = await startPit([
      { name: 'lane', workerProfile: 'process', poolSize: 1, adapter: 'bench_adapters.Bench', transport: 'local' },
      { name: 'grpc', workerProfile: 'process', poolSize: 1, adapter: 'bench_adapters.Bench', transport: 'grpc' },
      remote('remoteThread', thread.endpoint),
      remote('remoteProcess', process1.endpoint),
    ]);
    pits.push(pit);
    const paths = [
      { key: 'localLane', label: 'local process worker, local lane', pool: 'lane' },
      { key: 'localGrpc', label: 'local process worker, gRPC', pool: 'grpc' },
      { key: 'remoteThread', label: 'bridge server, thread profile (TLS, token)', pool: 'remoteThread' },
      { key: 'remoteProcess', label: 'bridge server, process profile (TLS, token, relayed)', pool: 'remoteProcess' },
    ].map((p) => ({ ...p, fn: () => pit.execute('echo', { x: 1 }, { pool: p.pool }) }));

    for (const p of paths) await measureSequential(p.fn, WARMUP, 0);
    const rounds = new Map<string, number[]>(paths.map((p) => [p.key, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of rotated(paths, round)) rounds.get(p.key)!.push((await measureSequential(p.fn, N, 20)).medianUs);
    }
    const medianUs = Object.fromEntries(paths.map((p) => [p.key, median(rounds.get(p.key)!)]));
    const local = medianUs.localLane;
    console.log(table(['path', 'median µs', '÷ local lane'], paths.map((p) => [p.label, fmt(medianUs[p.key]), fmt(medianUs[p.key] / local, 2)])));
    const result = { medianUs, remoteVsLocal: medianUs.remoteThread / local };
    results.remote = result;
    return result;
  } finally {
    for (const pit of pits) await stopPit(pit);
    for (const child of servers) await stopServer(child);
    rmSync(tls.dir, { recursive: true, force: true });
  }
}
