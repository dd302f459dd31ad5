/**
 * The named figures of a run, each with its goal and whether this run met it, computed from
 * the sections' results. A figure whose section did not run or failed is "not measured".
 */
import { relative } from 'node:path';
import type { CapacityResult } from './capacity.js';
import type { CpuResult } from './cpu.js';
import type { FreeThreadedResult } from './freeThreaded.js';
import type { LifecycleResult } from './lifecycle.js';
import type { PayloadResult } from './payloads.js';
import type { PeersResult } from './peers.js';
import type { PreloadResult } from './preload.js';
import type { RemoteResult } from './remote.js';
import { repoRoot } from './floors.js';
import { fmt } from './report.js';

export interface Figure {
  name: string;
  /** The figure, or null when it was not measured (see `note`). */
  value: number | Record<string, number> | null;
  goal: string;
  /** true / false against the goal; null when there is no goal or no figure. */
  met: boolean | null;
  note: string;
}

export interface SectionResults {
  peers?: PeersResult;
  cpu?: CpuResult;
  freeThreaded?: FreeThreadedResult;
  capacity?: CapacityResult;
  payloads?: PayloadResult;
  lifecycle?: LifecycleResult;
  preload?: PreloadResult;
  remote?: RemoteResult;
  /** Sequential tiny call, 1 process worker: time over gRPC ÷ time over the local lane (latency section). */
  grpcOverLocal?: number;
}

const fig = (name: string, value: number | undefined, goal: string, ok: (v: number) => boolean, note: string): Figure =>
  value === undefined || !Number.isFinite(value)
    ? { name, value: null, goal, met: null, note: 'not measured (its section failed or did not run)' }
    : { name, value, goal, met: ok(value), note };

/** A payload figure: the local lane's ratio to the pipe (goal ≥ 0.8), gRPC's in the note (goal ≥ 0.3). */
function payloadFigure(name: string, payloads: PayloadResult | undefined, dir: 'To' | 'From'): Figure {
  const key = dir === 'To' ? 'bufferToPythonVsPipe' : 'bufferFromPythonVsPipe';
  const grpcKey = dir === 'To' ? 'grpcToPythonVsPipe' : 'grpcFromPythonVsPipe';
  if (!payloads) return fig(name, undefined, '', () => false, '');
  const mb = payloads.mbPerSec;
  const grpc = payloads[grpcKey];
  return {
    ...fig(name, payloads[key], '≥ 0.8 local lane; ≥ 0.3 gRPC', (v) => v >= 0.8 && grpc >= 0.3, ''),
    note: `local lane ${fmt(mb[`local${dir}`], 1)} MB/s, gRPC ${fmt(mb[`grpc${dir}`], 1)} MB/s (${fmt(grpc, 2)} × pipe) ÷ plain pipe ${fmt(mb[`pipe${dir}`], 1)} MB/s`,
  };
}

/** RSS per unit of capacity: the GIL build's after NumPy work, 3.13t's after pure-Python work (no NumPy there). */
function rssFigure(cpu: CpuResult | undefined, ft: FreeThreadedResult | undefined): Figure {
  if (!cpu && !ft) return { name: 'rssPerCapacityUnitMb', value: null, goal: 'reported', met: null, note: 'not measured (its sections failed or did not run)' };
  const value: Record<string, number> = {};
  const notes: string[] = [];
  if (cpu) {
    Object.assign(value, cpu.rssPerCapacityUnitMb);
    notes.push('after NumPy work: process 2 × 1, thread 1 × 2');
  }
  if (ft) {
    value['process 3.13t'] = ft.rssPerCapacityUnitMb.process;
    value['thread 3.13t'] = ft.rssPerCapacityUnitMb.thread;
    notes.push('3.13t after pure-Python work: the same pools');
  }
  return { name: 'rssPerCapacityUnitMb', value, goal: 'reported', met: null, note: notes.join('; ') };
}

/** The configurations of at most 2 Python processes that `throughputVsPythonShell` takes the best of. */
const THROUGHPUT_CANDIDATES = ['snakepit-process-1', 'snakepit-process-1-prefetch-8', 'snakepit-process-2', 'snakepit-process-2-prefetch-8', 'snakepit-thread-1x16'] as const;

export function computeFigures(r: SectionResults): Figure[] {
  const p = r.peers?.paths;
  const shell = p?.['python-shell'];
  const one = p?.['snakepit-process-1'];
  const floor = p?.['bare-floor-2'];
  const thread = p?.['snakepit-thread-1x16'];
  const [oneFt, threadFt] = [p?.['snakepit-process-1-3.13t'], p?.['snakepit-thread-1x16-3.13t']];
  const throughputCandidates = THROUGHPUT_CANDIDATES
    .map((k) => ({ key: k, calls: p?.[k]?.callsPerSec }))
    .filter((c): c is { key: (typeof THROUGHPUT_CANDIDATES)[number]; calls: number } => c.calls !== undefined);
  const best = throughputCandidates.sort((a, b) => b.calls - a.calls)[0];
  const lc = r.lifecycle;
  return [
    fig('seqVsPythonShell', one && shell ? one.seqUs / shell.seqUs : undefined, '≤ 1.0', (v) => v <= 1.0,
      one && shell ? `sequential tiny call: Snakepit 1 process worker ${fmt(one.seqUs, 0)} µs ÷ python-shell ${fmt(shell.seqUs, 0)} µs` : ''),
    fig('throughputVsPythonShell', best && shell ? best.calls / shell.callsPerSec : undefined, '≥ 1.5', (v) => v >= 1.5,
      best && shell
        ? `16 in flight: best of ≤ 2 Python processes (${best.key}) ${fmt(best.calls, 0)}/s ÷ python-shell ${fmt(shell.callsPerSec, 0)}/s` +
            (floor ? `; no bridge at all (bare-floor-2) reaches ${fmt(floor.callsPerSec / shell.callsPerSec, 2)} × python-shell` : '')
        : ''),
    fig('threadHandoffRatio', thread && one ? thread.seqUs / one.seqUs : undefined, '≤ 1.5', (v) => v <= 1.5,
      thread && one
        ? `sequential tiny call: thread worker (1 × 16) ${fmt(thread.seqUs, 0)} µs ÷ process worker ${fmt(one.seqUs, 0)} µs; ` +
            `16 in flight: ${fmt(thread.callsPerSec, 0)} ÷ ${fmt(one.callsPerSec, 0)} calls/s` +
            (oneFt && threadFt
              ? `; on 3.13t ${fmt(threadFt.seqUs / oneFt.seqUs, 2)} (${fmt(threadFt.seqUs, 0)} ÷ ${fmt(oneFt.seqUs, 0)} µs; ` +
                `16 in flight ${fmt(threadFt.callsPerSec, 0)} ÷ ${fmt(oneFt.callsPerSec, 0)} calls/s)`
              : '')
        : ''),
    r.grpcOverLocal === undefined
      ? { name: 'grpcTransportVsFastLane', value: null, goal: 'reported', met: null, note: 'not measured (the latency section failed or did not run)' }
      : { name: 'grpcTransportVsFastLane', value: r.grpcOverLocal, goal: 'reported', met: null, note: 'sequential tiny call, 1 process worker: gRPC ÷ local lane (the peers above run over the local lane, the default)' },
    fig('cpuScaling', r.cpu?.cpuScaling, '≤ 1.15', (v) => v <= 1.15,
      r.cpu
        ? `200 NumPy calls on 2 process workers ${fmt(r.cpu.seconds.matmul.process, 2)} s ÷ ideal ${fmt(r.cpu.idealMatmulSeconds, 2)} s; ` +
            `two plain JSON-lines processes: ${fmt(r.cpu.seconds.matmul.plain / r.cpu.idealMatmulSeconds, 2)}`
        : ''),
    fig('pyCpuScaling', r.cpu?.pyCpuScaling.process, '≤ 0.6', (v) => v <= 0.6,
      r.cpu ? `200 pure-Python calls: 2 process workers ÷ 1 worker; thread profile (1 × 2) beside it: ${fmt(r.cpu.pyCpuScaling.thread, 2)}` : ''),
    fig('pyCpuScalingFreeThreaded', r.freeThreaded?.pyCpuScalingFreeThreaded, '≤ 0.6', (v) => v <= 0.6,
      r.freeThreaded
        ? `200 pure-Python calls on 3.13t: thread profile 1 × 2 ${fmt(r.freeThreaded.seconds.thread, 2)} s ÷ 1 × 1 ${fmt(r.freeThreaded.seconds.single, 2)} s; ` +
            `2 process workers: ${fmt(r.freeThreaded.seconds.process / r.freeThreaded.seconds.single, 2)}; 2 plain threads, no bridge: ${fmt(r.freeThreaded.plainThreadsRatio, 2)}`
        : ''),
    fig('threadCapacityEfficiency', r.capacity?.threadCapacityEfficiency, '≥ 0.85', (v) => v >= 0.85,
      r.capacity ? `64 × 50 ms sleeps on 4 × 16 took ${fmt(r.capacity.medianMs, 1)} ms` : ''),
    payloadFigure('bufferToPythonVsPipe', r.payloads, 'To'),
    payloadFigure('bufferFromPythonVsPipe', r.payloads, 'From'),
    r.payloads
      ? {
          name: 'float64ArrayVsJsonList', value: r.payloads.float64ArrayVsJsonList, goal: 'reported', met: null,
          note: `${r.payloads.mib} MiB round trip: Float64Array ${fmt(r.payloads.arraySeconds.typed, 3)} s, JSON list ${fmt(r.payloads.arraySeconds.jsonList, 1)} s`,
        }
      : { name: 'float64ArrayVsJsonList', value: null, goal: 'reported', met: null, note: 'not measured (its section failed or did not run)' },
    fig('startup8Ms', lc?.startup8Ms, '≤ 600 ms', (v) => v <= 600,
      lc ? `1 worker ${fmt(lc.startup1Ms, 0)} ms; python-shell 1 / 8 processes ${fmt(lc.pythonShellStartup1Ms, 0)} / ${fmt(lc.pythonShellStartup8Ms, 0)} ms` : ''),
    lc && lc.importMs === null
      ? { name: 'importMs', value: null, goal: '≤ 100 ms', met: null, note: 'not measured: no built entry (npm run build)' }
      : fig('importMs', lc?.importMs ?? undefined, '≤ 100 ms', (v) => v <= 100, lc ? `fresh Node process importing ${relative(repoRoot, lc.importModule ?? '')}` : ''),
    lc
      ? {
          name: 'coldStartVsPythonShell', value: { '1': lc.startup1Ms / lc.pythonShellStartup1Ms, '8': lc.startup8Ms / lc.pythonShellStartup8Ms },
          goal: '≤ 2 each', met: lc.startup1Ms / lc.pythonShellStartup1Ms <= 2 && lc.startup8Ms / lc.pythonShellStartup8Ms <= 2,
          note: `ready: 1 / 8 workers ${fmt(lc.startup1Ms, 0)} / ${fmt(lc.startup8Ms, 0)} ms ÷ python-shell ${fmt(lc.pythonShellStartup1Ms, 0)} / ${fmt(lc.pythonShellStartup8Ms, 0)} ms`,
        }
      : { name: 'coldStartVsPythonShell', value: null, goal: '≤ 2 each', met: null, note: 'not measured (its section failed or did not run)' },
    lc
      ? { name: 'frameDecodeUs', value: lc.frameDecodeUs, goal: 'reported', met: null, note: 'one call\'s ClientFrame read in Python, best of 9 × 20,000' }
      : { name: 'frameDecodeUs', value: null, goal: 'reported', met: null, note: 'not measured (its section failed or did not run)' },
    fig('recoveryRatio', lc?.recoveryRatio, '≤ 2', (v) => v <= 2,
      lc ? `kill -9 → replacement ready ${fmt(lc.recoveryMs, 0)} ms ÷ cold start of 1 worker ${fmt(lc.startup1Ms, 0)} ms` : ''),
    rssFigure(r.cpu, r.freeThreaded),
    ...preloadFigures(r.preload),
    r.remote
      ? {
          name: 'remoteVsLocal', value: r.remote.remoteVsLocal, goal: 'reported', met: null,
          note: `sequential tiny call: bridge server on loopback with TLS ${fmt(r.remote.medianUs.remoteThread, 0)} µs ÷ local lane ` +
            `${fmt(r.remote.medianUs.localLane, 0)} µs; local gRPC ${fmt(r.remote.medianUs.localGrpc, 0)} µs, process-profile server ${fmt(r.remote.medianUs.remoteProcess, 0)} µs`,
        }
      : { name: 'remoteVsLocal', value: null, goal: 'reported', met: null, note: 'not measured (its section failed or did not run)' },
  ];
}

/** The preload section's three figures, each against spawning in the same run. */
function preloadFigures(p: PreloadResult | undefined): Figure[] {
  const model = p?.model ?? '';
  return [
    fig('recoveryMsPreload', p?.recoveryMs.preload, '≤ 100 ms', (v) => v <= 100,
      p ? `kill -9 → replacement ready, ${model}; without preload ${fmt(p.recoveryMs.spawn, 0)} ms` : ''),
    p
      ? {
          name: 'pssPerExtraWorkerMb', value: { preload: p.pssPerExtraWorkerMb.preload, spawn: p.pssPerExtraWorkerMb.spawn },
          goal: '≤ 0.3 × spawn', met: p.pssRatio <= 0.3,
          note: `PSS of the pool's processes, (4 workers − 1) ÷ 3, ${model}, each worker having read it all: ${fmt(p.pssRatio, 2)} × spawn`,
        }
      : { name: 'pssPerExtraWorkerMb', value: null, goal: '≤ 0.3 × spawn', met: null, note: 'not measured (its section failed or did not run)' },
    p
      ? {
          name: 'startup8MsPreload', value: p.startup8Ms.echoPreload, goal: 'reported', met: null,
          note: `8 echo workers (without preload ${fmt(p.startup8Ms.echoSpawn, 0)} ms); 8 workers of the ${model}: ${fmt(p.startup8Ms.modelPreload, 0)} ms, without ${fmt(p.startup8Ms.modelSpawn, 0)} ms`,
        }
      : { name: 'startup8MsPreload', value: null, goal: 'reported', met: null, note: 'not measured (its section failed or did not run)' },
  ];
}

export function formatValue(f: Figure): string {
  if (f.value === null) return 'n/a';
  if (typeof f.value === 'number') return /Ms(Preload)?$/.test(f.name) ? `${fmt(f.value, 0)} ms` : f.value.toFixed(2);
  return Object.entries(f.value)
    .map(([k, v]) => `${k} ${fmt(v, 1)}`)
    .join(', ');
}

export const verdict = (f: Figure): string => (f.met === null ? (f.value === null ? '' : '—') : f.met ? 'MET' : 'NOT MET');
