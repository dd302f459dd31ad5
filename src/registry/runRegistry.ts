// Remembers which worker processes an instance started, so a later start of the same instance
// can kill any that survived (a frozen worker cannot notice its parent died), and clears away
// what dead runs left behind. Everything lives in a per-user private directory:
//
//   <base>/runs/<instanceId>/<runId>.json   the run's record: owner Node PID and worker PIDs
//   <base>/sock/<runId>/                    the run's worker sockets
//
// A record is acted on only once the Node process that wrote it is gone (two live instances
// with the same id leave each other alone), and a PID is only killed after /proc proves it is
// our uid's worker of that very run whose spawning Node process is gone — never a reused PID,
// never a live instance's worker, whatever a record claims.
import { createHash } from 'node:crypto';
import { readdirSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { InvalidConfigError } from '../errors.js';
import { onProcessExit } from '../process/exitHook.js';
import { ensurePrivateDir, ownUid, privateBaseDir } from './privateDir.js';
import { isRunning, procArgs, procEnv, procStat, procUids } from '../process/procInfo.js';
import { readRecord, RECORD_FILE, RECORD_GONE, RUN_ID, writeRecord } from './runRecord.js';
import { OWNER_PID_ENV, WORKER_MAIN } from '../process/pythonProcess.js';
import { checkSocketDir } from '../process/socketPath.js';

/** Safe as one path segment: no separator, no dots, so never `..`. */
const SAFE_INSTANCE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const WARNING_CODE = 'SNAKEPIT_REGISTRY';
/** Unreadable records already warned about: they stay in place, and one warning is enough. */
const reported = new Set<string>();

export class RunRegistry {
  /** Where this run's workers put their Unix sockets. */
  readonly socketDir: string;
  private readonly runsRoot: string;
  private readonly socketRoot: string;
  private readonly file: string;
  /** The PIDs last recorded (their owner is the instance's LiveWorkers). */
  private pids: number[] = [];
  /** The PIDs to record next (see writeSoon). */
  private latest: number[] = [];
  private writeFailed = false;
  private cleared = false;
  private writeQueued = false;
  private releaseExitHook = () => {};

  private constructor(
    base: string,
    private readonly instanceId: string,
    private readonly runId: string,
  ) {
    this.runsRoot = path.join(base, 'runs');
    this.socketRoot = path.join(base, 'sock');
    this.socketDir = path.join(this.socketRoot, runId);
    this.file = path.join(this.runsRoot, instanceId, `${runId}.json`);
  }

  /**
   * Prepares the private directories, writes this run's record and creates its socket
   * directory. Throws INVALID_CONFIG for an unsafe id or directory, before anything is written.
   */
  static open(instanceId: string, runId: string): RunRegistry {
    if (!SAFE_INSTANCE_ID.test(instanceId)) {
      throw new InvalidConfigError(
        `instanceId ${JSON.stringify(instanceId)} is not allowed: use 1 to 64 letters, digits, "_" or "-".`,
        [{ path: 'instanceId', message: 'must match ^[A-Za-z0-9_-]{1,64}$' }],
      );
    }
    if (!RUN_ID.test(runId)) throw new InvalidConfigError(`Run id ${JSON.stringify(runId)} is not 12 hex digits.`);
    const base = privateBaseDir();
    const registry = new RunRegistry(base, instanceId, runId);
    checkSocketDir(registry.socketDir);
    for (const dir of [base, registry.runsRoot, registry.socketRoot]) ensurePrivateDir(dir);
    // The record comes first: a sweep that finds a socket directory then finds its live owner.
    try {
      registry.writeNow();
    } catch (error) {
      throw new InvalidConfigError(`Cannot write the run record ${registry.file}: ${(error as Error).message}`);
    }
    try {
      ensurePrivateDir(registry.socketDir);
    } catch (error) {
      rmSync(registry.file, { force: true });
      throw error;
    }
    // Node exiting without stop() kills the workers first (see exitHook), then this clears up.
    registry.releaseExitHook = onProcessExit(() => registry.clear());
    return registry;
  }

  /** The default instance id: the same working directory and pools mean the same instance. */
  static defaultInstanceId(pools: { name: string; adapter: string }[]): string {
    const key = JSON.stringify([process.cwd(), pools.map((p) => [p.name, p.adapter])]);
    return createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  /**
   * Kills the workers (and their process groups) left by earlier runs of this instance whose
   * Node process died, and removes the records and socket directories of dead runs. Never throws:
   * what cannot be read or removed is left in place and reported in one warning.
   */
  killSurvivors(): number[] {
    const killed: number[] = [];
    const problems: string[] = [];
    // Listed before the records are read: a run writes its record before its socket directory.
    const socketDirs = list(this.socketRoot).filter((name) => RUN_ID.test(name));
    const kept = new Set([this.runId]);
    for (const instanceId of list(this.runsRoot).filter((name) => SAFE_INSTANCE_ID.test(name))) {
      const dir = path.join(this.runsRoot, instanceId);
      for (const name of list(dir)) {
        const runId = RECORD_FILE.exec(name)?.[1];
        if (!runId || runId === this.runId) continue;
        if (this.settleRun(instanceId, runId, killed, problems) === 'kept') kept.add(runId);
      }
      // Only an empty directory goes; a starting run recreates its own (see write()).
      if (instanceId !== this.instanceId) removeIfEmpty(dir);
    }
    for (const runId of socketDirs) if (!kept.has(runId)) this.removeSocketDir(runId, problems);
    if (problems.length > 0) {
      const listed = problems.length > 10 ? [...problems.slice(0, 10), `and ${problems.length - 10} more`] : problems;
      process.emitWarning(`Snakepit left ${problems.length} file(s) of its private directory alone: ${listed.join('; ')}.`, {
        code: WARNING_CODE,
      });
    }
    return killed;
  }

  /** Leaves a live or unreadable run alone; kills a dead run's survivors if it is ours, then removes its files. */
  private settleRun(instanceId: string, runId: string, killed: number[], problems: string[]): 'kept' | 'removed' {
    const file = path.join(this.runsRoot, instanceId, `${runId}.json`);
    const record = readRecord(file, runId);
    if (record === RECORD_GONE) return 'kept'; // its run ended, or another start swept it: nothing left to do
    if (typeof record === 'string') {
      if (!reported.has(file)) problems.push(`${file} ${record}, so it is not a record`);
      reported.add(file);
      return 'kept';
    }
    if (isRunning(record.ownerPid)) return 'kept';
    const workers = record.pids.map((pid) => ({ pid, state: workerState(pid, runId) }));
    // A worker whose spawner lives proves the run is live, whatever the record says.
    if (workers.some((w) => w.state === 'live')) return 'kept';
    const survivors = workers.filter((w) => w.state === 'orphaned').map((w) => w.pid);
    if (instanceId === this.instanceId) {
      for (const pid of survivors) if (killGroup(pid)) killed.push(pid);
    } else if (survivors.length > 0) {
      return 'kept'; // for a start of their own instance to kill
    }
    this.removeRun(instanceId, runId, problems);
    return 'removed';
  }

  /** Records the run's live worker PIDs (written once per turn, when they differ from the ones on record). */
  record(pids: number[]): void {
    this.latest = pids;
    this.writeSoon();
  }

  /** Removes this run's socket directory, then its record. */
  clear(): void {
    this.releaseExitHook();
    this.cleared = true;
    const problems: string[] = [];
    this.removeRun(this.instanceId, this.runId, problems);
    if (problems.length > 0) process.emitWarning(`Snakepit could not clean up: ${problems.join('; ')}.`, { code: WARNING_CODE });
  }

  private writeNow(): void {
    const record = { runId: this.runId, ownerPid: process.pid, pids: this.pids };
    for (let attempt = 1; ; attempt++) {
      try {
        writeRecord(this.file, record);
        return;
      } catch (error) {
        // Not made yet, or removed by another start while it was empty.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw error;
        ensurePrivateDir(path.dirname(this.file));
      }
    }
  }

  /**
   * One write for the PIDs that changed in the same turn: a pool's batch spawns its workers
   * together, and each write (a file and a rename) costs milliseconds on the start-up's path. A
   * worker spawned in this turn is unrecorded until its end, but then it is also not yet past
   * the links that end it with this process (the control pipe, the parent-death signal).
   */
  private writeSoon(): void {
    if (this.writeQueued) return;
    this.writeQueued = true;
    queueMicrotask(() => {
      this.writeQueued = false;
      const pids = this.latest;
      if (pids.length === this.pids.length && pids.every((pid, i) => pid === this.pids[i])) return;
      this.pids = pids;
      this.write();
    });
  }

  private write(): void {
    if (this.cleared) return; // a late worker exit must not bring the record back
    try {
      this.writeNow();
    } catch (error) {
      // Losing track of survivors must not stop the workers; say so once.
      if (this.writeFailed) return;
      this.writeFailed = true;
      process.emitWarning(
        `Snakepit could not write its run record ${this.file} (${(error as Error).message}); ` +
          'workers that outlive this process will not be killed by the next start.',
        { code: WARNING_CODE },
      );
    }
  }

  private removeRun(instanceId: string, runId: string, problems: string[]): void {
    this.removeSocketDir(runId, problems);
    const file = path.join(this.runsRoot, instanceId, `${runId}.json`);
    remove(file, problems);
    remove(`${file}.partial`, problems);
  }

  private removeSocketDir(runId: string, problems: string[]): void {
    remove(path.join(this.socketRoot, runId), problems);
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function remove(target: string, problems: string[]): void {
  try {
    rmSync(target, { recursive: true, force: true });
  } catch (error) {
    problems.push(`${target} could not be removed (${(error as Error).message})`);
  }
}

function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty, or already gone.
  }
}

/**
 * What a PID listed for run `runId` is: `other` unless it is our uid's worker of that very run
 * (its command line says so and /proc can tell who spawned it); then `orphaned` when that
 * spawning Node process is gone (not running, or its PID now names a process that started
 * after the worker), else `live`.
 */
function workerState(pid: number, runId: string): 'orphaned' | 'live' | 'other' {
  const args = procArgs(pid);
  const at = args?.indexOf('--run-id') ?? -1;
  if (!args?.includes(WORKER_MAIN) || at < 0 || args[at + 1] !== runId) return 'other';
  const uid = ownUid();
  const uids = procUids(pid);
  if (uid !== undefined && (!uids || uids.some((u) => u !== uid))) return 'other';
  const owner = Number(procEnv(pid, OWNER_PID_ENV));
  const worker = procStat(pid);
  if (!Number.isSafeInteger(owner) || owner <= 1 || !worker) return 'other';
  const spawner = procStat(owner);
  return !spawner || spawner.state === 'Z' || spawner.startTime > worker.startTime ? 'orphaned' : 'live';
}

/** SIGKILLs the worker and, when it leads one, its process group (its tools' children). */
function killGroup(pid: number): boolean {
  const target = procStat(pid)?.processGroup === pid ? -pid : pid;
  try {
    process.kill(target, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
