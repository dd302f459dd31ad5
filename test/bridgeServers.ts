// Real standalone bridge servers for the remote-pool tests: a CA and certificates made with
// openssl for the run, and `python -m snakepit_bridge serve` processes on loopback ports, each
// ended by PID when the test file ends.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { explainPythonExecutable } from '../src/process/pythonExecutable.js';
import { ADAPTER_DIRS, isAlive, sleep, waitFor } from './helpers.js';

export interface Pki {
  dir: string;
  ca: Buffer;
  /** A CA that signed nothing of ours: trusting it must fail. */
  otherCa: Buffer;
  serverCert: string;
  serverKey: string;
  clientCert: Buffer;
  clientKey: Buffer;
  caFile: string;
  tokenFile: string;
  token: string;
}

const openssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

/** A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, a token file. */
export function makePki(): Pki {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'snakepit-pki-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = (name: string) =>
    openssl(dir, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
  ca('test-ca');
  ca('other-ca');
  const leaf = (name: string, extensions: string) => {
    writeFileSync(path.join(dir, `${name}.ext`), extensions);
    openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`,
      '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'test-ca.crt', '-CAkey', 'test-ca.key', '-CAcreateserial',
      '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
  };
  leaf('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  const token = 'remote-test-token-' + Math.random().toString(36).slice(2);
  writeFileSync(path.join(dir, 'token'), `${token}\n`, { mode: 0o600 });
  const read = (name: string) => readFileSync(path.join(dir, name));
  return {
    dir,
    ca: read('test-ca.crt'),
    otherCa: read('other-ca.crt'),
    serverCert: path.join(dir, 'server.crt'),
    serverKey: path.join(dir, 'server.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    caFile: path.join(dir, 'test-ca.crt'),
    tokenFile: path.join(dir, 'token'),
    token,
  };
}

/** A port free on loopback right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface BridgeServer {
  port: number;
  endpoint: string;
  child: ChildProcess;
  pid: number;
  output: () => string;
  exited: Promise<number | null>;
}

const servers = new Set<ChildProcess>();
after(async () => {
  for (const child of servers) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await sleep(100);
});

/** Starts `python -m snakepit_bridge serve` with TLS and the token; resolves once it listens. */
export async function startServer(
  pki: Pki,
  options: { port?: number; adapter?: string; threads?: number; processWorkers?: number; extra?: string[]; mtls?: boolean } = {},
): Promise<BridgeServer> {
  const port = options.port ?? (await freePort());
  const capacity = options.processWorkers
    ? ['--profile', 'process', '--workers', String(options.processWorkers)]
    : ['--threads', String(options.threads ?? 4)];
  const args = [
    '-m', 'snakepit_bridge', 'serve',
    '--adapter', options.adapter ?? 'sample_adapters.Threaded',
    '--listen', `127.0.0.1:${port}`,
    ...capacity,
    '--tls-cert', pki.serverCert, '--tls-key', pki.serverKey,
    '--token-file', pki.tokenFile,
    ...(options.mtls ? ['--tls-client-ca', pki.caFile] : []),
    ...(options.extra ?? []),
  ];
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONPATH: ADAPTER_DIRS.join(path.delimiter) };
  delete env.SNAKEPIT_TOKEN;
  const child = spawn(explainPythonExecutable(undefined).path, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  servers.add(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(() => /serving .* on /.test(output) || child.exitCode !== null, 30_000, `the bridge server on port ${port}`);
  if (child.exitCode !== null) throw new Error(`the bridge server exited with ${child.exitCode}:\n${output}`);
  return { port, endpoint: `127.0.0.1:${port}`, child, pid: child.pid!, output: () => output, exited };
}

/** SIGKILL, and waits until the process is gone. */
export async function killServer(server: BridgeServer): Promise<void> {
  server.child.kill('SIGKILL');
  await server.exited;
  await waitFor(() => !isAlive(server.pid), 5000, `server ${server.pid} to be gone`);
}
