// Shared test set-up: real Snakepit instances over real Python workers, and the leak check
// every test file runs at its end — no Python process tagged by one of its instances may live.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Snakepit, type SnakepitConfig, type SnakepitError } from '../src/index.js';
import type { LiveWorkers } from '../src/supervision/liveWorkers.js';
import type { WorkerHandle } from '../src/process/workerHandle.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ADAPTER_DIRS = [path.join(here, 'adapters'), path.join(here, '..', 'python', 'tests', 'adapters')];

const instances: Snakepit[] = [];

/**
 * The transport the suite runs over when a pool names none: SNAKEPIT_TEST_TRANSPORT (`local` or
 * `grpc`), else the product's default. scripts/test-node.mjs runs its `transport` tier once with
 * each, and the files it runs once with `none`: there a pool that leaves the transport to the
 * suite is an error, so a file cannot come to depend on the transport and still run only once.
 */
export const TEST_TRANSPORT = parseTransport(process.env.SNAKEPIT_TEST_TRANSPORT);
const TRANSPORT_OWN = process.env.SNAKEPIT_TEST_TRANSPORT === 'none';

function parseTransport(value: string | undefined): 'local' | 'grpc' | undefined {
  if (value === undefined || value === '' || value === 'none') return undefined;
  if (value === 'local' || value === 'grpc') return value;
  throw new Error(`SNAKEPIT_TEST_TRANSPORT=${value}: expected local, grpc or none`);
}

/**
 * A Snakepit with the test adapters on its path; stopped and leak-checked after the file.
 * Worker output stays off the test log unless a test asks for a logger.
 */
export function createPit(config: SnakepitConfig): Snakepit {
  if (TRANSPORT_OWN) {
    const unnamed = config.pools.filter((pool) => pool.workerProfile !== 'remote' && pool.transport === undefined);
    if (unnamed.length > 0) {
      throw new Error(`pool ${unnamed.map((pool) => pool.name).join(', ')} names no transport, but this file runs once (SNAKEPIT_TEST_TRANSPORT=none): name it, or move the file to the transport tier of scripts/test-node.mjs`);
    }
  }
  const pools = TEST_TRANSPORT ? config.pools.map((pool) => ({ transport: TEST_TRANSPORT, ...pool })) : config.pools;
  const pit = new Snakepit({ logger: false, ...config, pools, python: { ...config.python, pythonPath: ADAPTER_DIRS } });
  instances.push(pit);
  return pit;
}

export async function startPit(config: SnakepitConfig): Promise<Snakepit> {
  const pit = createPit(config);
  await pit.start();
  return pit;
}

/** Python worker processes whose command line carries one of the given run ids. */
export function workerProcesses(runIds: string[]): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (cmdline.includes('snakepit_bridge') && runIds.some((id) => cmdline.includes(`--run-id ${id}`))) {
      found.push({ pid: Number(entry), cmdline });
    }
  }
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat); // a zombie is dead, just not yet reaped
  } catch {
    return false;
  }
}

export async function waitFor<T>(check: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** For `.catch(asError)`: a call's rejection, typed with the fields our errors carry. */
export const asError = (error: unknown) =>
  error as SnakepitError & { signal?: string | null; exitCode?: number | null; pythonType?: string; pythonMessage?: string; pythonTraceback?: string };

/** The error a call rejects with (fails the test if it resolves). */
export const errorOf = (promise: Promise<unknown>) =>
  promise.then(() => assert.fail('expected the call to reject'), asError);

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Stops every instance the file created and fails if any of their workers is still alive. */
export function checkNoLeaks(extraRunIds: () => string[] = () => []): void {
  after(async () => {
    await Promise.all(instances.map((pit) => pit.stop({ timeoutMs: 2000 })));
    const runIds = [...instances.map((pit) => pit.runId), ...extraRunIds()];
    const deadline = Date.now() + 3000;
    let left = workerProcesses(runIds);
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(50);
      left = workerProcesses(runIds).filter((p) => isAlive(p.pid));
    }
    assert.deepEqual(left, [], 'Python worker processes were left alive');
  });
}

/** The token Node holds for a local worker: it is nowhere else (the pit's live handles are internal). */
export function workerToken(pit: Snakepit, workerId: string): string {
  const live = (pit as unknown as { live: LiveWorkers }).live;
  const handle = pit.config.pools.map((pool) => live.get(pool.name, workerId)).find((found) => found !== undefined);
  return (handle as WorkerHandle).process.token;
}

/**
 * A file a tool creates once it runs in Python (`sleep`'s `started` argument). A call a worker
 * holds but has not started goes back to the queue when the worker dies, so a test that kills a
 * worker to fail its call first waits for this.
 */
export function startMarker(): { file: string; started: (what?: string) => Promise<boolean> } {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'snakepit-started-')), 'started');
  return { file, started: (what = 'the call to start in Python') => waitFor(() => existsSync(file), 10_000, what) };
}
