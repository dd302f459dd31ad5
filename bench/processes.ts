/**
 * Every process the benchmark starts — Snakepit pits, floor servers, the peers' cells and
 * their Python processes — goes through here, so that `cleanup()` can guarantee none outlives
 * the run (even on error or Ctrl-C).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PYTHON } from './config.js';
import { isAlive, startFloorServer, type FloorServer } from './floors.js';

const adaptersDir = join(dirname(fileURLToPath(import.meta.url)), 'adapters');

// ---------------------------------------------------------------------------------------
// The part of the Snakepit API the benchmark uses (imported dynamically, so the floors
// still run and report when the library cannot be loaded).

interface InspectWorker {
  id: string;
  pid: number;
  state: string;
  inFlight: number;
  capacity: number;
  requests: number;
  restarts: number;
  gilEnabled?: boolean;
}
interface InspectSnapshot {
  pools: Array<{ name: string; profile: string; capacity: number; workers: InspectWorker[]; preload?: { pid?: number } }>;
}
export interface Pit {
  execute(tool: string, args: Record<string, unknown>, opts: { pool: string }): Promise<unknown>;
  inspect(): InspectSnapshot;
  stop(opts?: { timeoutMs?: number }): Promise<void>;
  on(event: 'worker:ready', fn: (e: { pid: number; startupMs: number }) => void): unknown;
  off(event: 'worker:ready', fn: (e: { pid: number; startupMs: number }) => void): unknown;
}
export type PoolConfig = Record<string, unknown> & { name: string };

async function loadSnakepit(): Promise<{ start(config: unknown): Promise<Pit> }> {
  // BENCH_SNAKEPIT_MODULE: load another build of the library (e.g. dist/) instead of src/.
  const spec = process.env.BENCH_SNAKEPIT_MODULE
    ? pathToFileURL(resolve(process.env.BENCH_SNAKEPIT_MODULE)).href
    : '../src/index.js';
  const mod = (await import(spec)) as Record<string, unknown>;
  const Snakepit = mod.Snakepit as { start?: (config: unknown) => Promise<Pit> } | undefined;
  if (!Snakepit || typeof Snakepit.start !== 'function') {
    throw new Error('src/index exports no Snakepit.start');
  }
  return { start: (config) => Snakepit.start!(config) };
}

// ---------------------------------------------------------------------------------------
// Tracking

// Every Python worker PID this run has seen, so none outlives it.
const seenPids = new Set<number>();
const livePits = new Set<Pit>();
const liveFloors = new Set<FloorServer>();
const liveChildren = new Set<ChildProcess>();

/** Python processes started outside a pit (the peers'): cleanup makes sure they are gone. */
export function notePythonPids(pids: number[]): void {
  for (const pid of pids) if (pid > 0) seenPids.add(pid);
}

/** A helper process of the run (a peer's cell, a pipe): killed by cleanup if still running. */
export function trackChild(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** The worker PIDs seen so far (for the summary line and the JSON report). */
export const workerPidsSeen = (): number[] => [...seenPids];

/** Record the pit's current worker PIDs; call again after work, as restarts bring new ones. */
export function notePids(pit: Pit): void {
  try {
    for (const pool of pit.inspect().pools) {
      for (const w of pool.workers) if (w.pid > 0) seenPids.add(w.pid);
      if (pool.preload?.pid) seenPids.add(pool.preload.pid); // a fork server
    }
  } catch {
    /* inspect unavailable: nothing to note */
  }
}

export async function startPit(pools: PoolConfig[], python = PYTHON): Promise<Pit> {
  const { start } = await loadSnakepit();
  const pit = await start({
    python: { executable: python, pythonPath: [adaptersDir] },
    pools,
  });
  livePits.add(pit);
  notePids(pit);
  return pit;
}

export async function stopPit(pit: Pit): Promise<void> {
  notePids(pit);
  livePits.delete(pit);
  await pit.stop({ timeoutMs: 5000 });
}

export async function startFloor(): Promise<FloorServer> {
  const server = await startFloorServer({ python: PYTHON });
  liveFloors.add(server);
  return server;
}

export async function stopFloor(server: FloorServer): Promise<void> {
  liveFloors.delete(server);
  await server.stop();
}

// ---------------------------------------------------------------------------------------
// Clean-up

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function isLivePython(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return /python/i.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
}

/** Stop whatever is still running and kill any worker that survived; returns what went wrong. */
export async function cleanup(): Promise<string[]> {
  const problems: string[] = [];
  for (const pit of [...livePits]) {
    try {
      await stopPit(pit);
    } catch (e) {
      problems.push(`pit.stop failed: ${(e as Error).message}`);
    }
  }
  for (const f of [...liveFloors]) await stopFloor(f).catch(() => undefined);
  for (const child of [...liveChildren]) {
    problems.push(`helper process ${child.pid} was still running at the end; killed it`);
    child.kill('SIGKILL');
  }
  // Give exits a moment to be reaped, then make sure (a PID the kernel has since given to
  // some other program is not ours: only a live Python process is).
  const deadline = Date.now() + 3000;
  while ([...seenPids].some(isLivePython) && Date.now() < deadline) await sleep(50);
  for (const pid of seenPids) {
    if (isLivePython(pid)) {
      problems.push(`python process ${pid} was still alive after stop; killed it`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
  }
  return problems;
}
