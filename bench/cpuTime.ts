/**
 * CPU time spent by processes, for "µs of CPU per call": Node's own from process.cpuUsage(),
 * Python's from the kernel's per-thread scheduler counters (nanoseconds, every thread of the
 * process, so a thread-profile worker's pool threads count too).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** On-CPU time of every thread of `pid`, in µs; NaN when /proc cannot be read. */
export function processCpuUs(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    }
    return ns / 1000;
  } catch {
    return NaN;
  }
}

export const totalCpuUs = (pids: number[]): number => pids.reduce((s, pid) => s + processCpuUs(pid), 0);

/** This Node process's CPU time (user + system, all its threads), in µs. */
export function nodeCpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}
