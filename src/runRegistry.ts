// Remembers which worker processes an instance started, so a later start of the same instance
// can kill any that survived (a frozen worker cannot notice its parent died). Each run keeps
// its own record; a record is acted on only once the Node process that wrote it is gone (two
// live instances with the same id leave each other alone), and a PID is only killed after its
// command line proves it is our worker of that run, never a reused PID.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface RunRecord {
  runId: string;
  ownerPid: number;
  pids: number[];
}

export class RunRegistry {
  private readonly dir: string;
  private readonly file: string;
  private readonly pids = new Set<number>();

  constructor(instanceId: string, private readonly runId: string) {
    this.dir = path.join(os.tmpdir(), 'snakepit-runs', instanceId);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.file = path.join(this.dir, `${runId}.json`);
  }

  /** The default instance id: the same working directory and pools mean the same instance. */
  static defaultInstanceId(pools: { name: string; adapter: string }[]): string {
    const key = JSON.stringify([process.cwd(), pools.map((p) => [p.name, p.adapter])]);
    return createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  /** Kills the workers (and their process groups) left by earlier runs whose Node process died. */
  killSurvivors(): number[] {
    const killed: number[] = [];
    for (const name of readdirSync(this.dir)) {
      const file = path.join(this.dir, name);
      const record = readRecord(file);
      if (!record || record.runId === this.runId || isRunning(record.ownerPid)) continue;
      for (const pid of record.pids) {
        if (isOurWorker(pid, record.runId) && killGroup(pid)) killed.push(pid);
      }
      rmSync(file, { force: true });
    }
    return killed;
  }

  add(pid: number): void {
    this.pids.add(pid);
    this.write();
  }

  remove(pid: number): void {
    if (this.pids.delete(pid)) this.write();
  }

  clear(): void {
    rmSync(this.file, { force: true });
  }

  private write(): void {
    const record: RunRecord = { runId: this.runId, ownerPid: process.pid, pids: [...this.pids] };
    writeFileSync(this.file, JSON.stringify(record), { mode: 0o600 });
  }
}

function readRecord(file: string): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (a killed process its parent has not reaped yet). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function killGroup(pid: number): boolean {
  try {
    process.kill(-pid, 'SIGKILL');
    return true;
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
      return true;
    } catch {
      return false;
    }
  }
}

function isOurWorker(pid: number, runId: string): boolean {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const at = args.indexOf('--run-id');
    return args.includes('snakepit_bridge') && at >= 0 && args[at + 1] === runId;
  } catch {
    return false;
  }
}
