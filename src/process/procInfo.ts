// What /proc says about a process. Every reader answers undefined when the process is gone or
// not ours to read, so callers treat "unknown" as "leave it alone".
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  state: string;
  processGroup: number;
  /** Clock ticks after boot: with the pid, names one process even once the pid is reused. */
  startTime: number;
}

export function procStat(pid: number): ProcStat | undefined {
  const text = read(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  // The command name in parentheses may hold spaces and ')'; the fields after the last ')' are fixed.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], processGroup: Number(fields[2]), startTime: Number(fields[19]) };
}

/** Alive and not a zombie (a killed process its parent has not reaped yet). */
export function isRunning(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** Whether a process of the group still runs; zombies do not (they are dead, just not reaped). */
export function groupRunning(processGroup: number): boolean {
  try {
    process.kill(-processGroup, 0);
  } catch {
    return false; // none there, or none of ours
  }
  return readdirSync('/proc').some((entry) => {
    if (!/^\d+$/.test(entry)) return false;
    const stat = procStat(Number(entry));
    return stat?.processGroup === processGroup && stat.state !== 'Z';
  });
}

// A killed process can outlive its group's leader while the kernel frees its memory (≈ 0.1 s per
// GiB); past this, one stuck in the kernel is left to finish on its own.
const GROUP_END_TIMEOUT_MS = 5000;

/** Resolves once no process of the group runs, or after GROUP_END_TIMEOUT_MS. */
export async function groupEnded(processGroup: number | undefined): Promise<void> {
  const deadline = Date.now() + GROUP_END_TIMEOUT_MS;
  while (processGroup !== undefined && groupRunning(processGroup) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The real, effective, saved and filesystem uids. */
export function procUids(pid: number): number[] | undefined {
  const line = read(`/proc/${pid}/status`)?.split('\n').find((l) => l.startsWith('Uid:'));
  return line?.slice(4).trim().split(/\s+/).map(Number);
}

export function procArgs(pid: number): string[] | undefined {
  return read(`/proc/${pid}/cmdline`)?.split('\0');
}

/** One variable of the environment the process was started with. */
export function procEnv(pid: number, name: string): string | undefined {
  const entry = read(`/proc/${pid}/environ`)?.split('\0').find((e) => e.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Resident memory of a process in MiB, from the kernel (VmRSS), 0 if it is gone. */
export function residentMb(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}
