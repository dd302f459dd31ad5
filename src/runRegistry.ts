// Remembers which worker processes an instance started, so a later start of the same instance
// can kill any that survived (a frozen worker cannot notice its parent died). A PID is only
// killed after its command line proves it is our worker of that run, never a reused PID.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface RunRecord {
  runId: string;
  pids: number[];
}

export class RunRegistry {
  private readonly file: string;
  private readonly pids = new Set<number>();

  constructor(instanceId: string, private readonly runId: string) {
    const dir = path.join(os.tmpdir(), 'snakepit-runs');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = path.join(dir, `${instanceId}.json`);
  }

  /** The default instance id: the same working directory and pools mean the same instance. */
  static defaultInstanceId(pools: { name: string; adapter: string }[]): string {
    const key = JSON.stringify([process.cwd(), pools.map((p) => [p.name, p.adapter])]);
    return createHash('sha256').update(key).digest('hex').slice(0, 16);
  }

  /** Kills the workers (and their process groups) left by an earlier run; returns their PIDs. */
  killSurvivors(): number[] {
    const previous = this.read();
    if (!previous || previous.runId === this.runId) return [];
    const killed: number[] = [];
    for (const pid of previous.pids) {
      if (!isOurWorker(pid, previous.runId)) continue;
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          continue;
        }
      }
      killed.push(pid);
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

  private read(): RunRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.file, 'utf8')) as RunRecord;
    } catch {
      return undefined;
    }
  }

  private write(): void {
    writeFileSync(this.file, JSON.stringify({ runId: this.runId, pids: [...this.pids] } satisfies RunRecord), { mode: 0o600 });
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
