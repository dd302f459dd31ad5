/**
 * Section "Peers: tiny calls": the same echo through every Node→Python path a user might pick
 * (bridges.ts), each in a fresh Node process of its own (cell.ts), measured in interleaved
 * rounds: sequential latency, then calls/s with 16 in flight, each with the CPU both sides
 * spent per call. The figure is the median over rounds. A peer that cannot be installed or
 * started here is printed as skipped with its reason; the run goes on.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PEER_BURST_MS, PEER_ROUNDS, PEER_SEQ_CALLS, PEER_SEQ_ROUNDS, WARMUP } from './config.js';
import { median, repoRoot } from './floors.js';
import { BRIDGES, type BridgeKey } from './peers/bridges.js';
import { Cell } from './peers/cells.js';
import type { CellCpu } from './peers/cell.js';
import { fmt, rotated, table } from './report.js';
import { sampleNoise } from './noise.js';

export const IN_FLIGHT = 16;

export interface PeerSummary {
  label: string;
  seqUs: number;
  seqP90Us: number;
  callsPerSec: number;
  seqCpu: CellCpu;
  burstCpu: CellCpu;
  roundSeqUs: number[];
  roundCallsPerSec: number[];
}
export interface PeersResult {
  paths: Partial<Record<BridgeKey, PeerSummary>>;
  skipped: Partial<Record<BridgeKey, string>>;
}

/** Why a peer cannot run here before trying it, or undefined. */
function knownSkipReason(key: BridgeKey): string | undefined {
  if (key !== 'node-calls-python') return undefined;
  const addon = join(repoRoot, 'node_modules', 'node-calls-python', 'build', 'Release', 'nodecallspython.node');
  if (!existsSync(join(repoRoot, 'node_modules', 'node-calls-python'))) return 'not installed';
  if (!existsSync(addon)) return 'native addon not built: its install script was blocked or failed; `npm rebuild node-calls-python` builds it (needs g++, make and python3-dev)';
  return undefined;
}

const firstLine = (text: string) => text.split('\n').find((l) => l.trim())?.trim() ?? text;

const medianCpu = (cpus: CellCpu[]): CellCpu => ({
  nodeUs: median(cpus.map((c) => c.nodeUs)),
  pythonUs: cpus.some((c) => c.pythonUs === null) ? null : median(cpus.map((c) => c.pythonUs!)),
});

export async function peersSection(results: Record<string, unknown>): Promise<PeersResult> {
  console.log(
    `\n== Peers: tiny calls (each path in its own Node process; interleaved rounds: ${PEER_SEQ_ROUNDS} × ${PEER_SEQ_CALLS} sequential calls, ` +
      `then ${PEER_ROUNDS} × ${PEER_BURST_MS} ms with ${IN_FLIGHT} in flight)\n`,
  );
  const out: PeersResult = { paths: {}, skipped: {} };
  const cells: Cell[] = [];
  try {
    // Opened one after another, so no start-up competes with another's.
    for (const key of Object.keys(BRIDGES) as BridgeKey[]) {
      const reason = knownSkipReason(key);
      if (reason) {
        out.skipped[key] = reason;
        console.log(`  ${key}: skipped (${reason})`);
        continue;
      }
      try {
        cells.push(await Cell.open(key));
      } catch (e) {
        out.skipped[key] = firstLine((e as Error).message);
        console.log(`  ${key}: skipped (${out.skipped[key]})`);
      }
    }
    const seq = new Map<BridgeKey, Array<{ medianUs: number; p90Us: number; cpu: CellCpu }>>();
    const bursts = new Map<BridgeKey, Array<{ callsPerSec: number; cpu: CellCpu }>>();
    for (const c of cells) {
      seq.set(c.key, []);
      bursts.set(c.key, []);
    }
    // One unmeasured round warms every path the same way.
    for (const c of cells) {
      await c.request({ type: 'seq', calls: PEER_SEQ_CALLS, warmup: WARMUP }, 'seq');
      await c.request({ type: 'burst', inFlight: IN_FLIGHT, ms: PEER_BURST_MS / 2 }, 'burst');
    }
    for (let round = 0; round < PEER_SEQ_ROUNDS; round++) {
      for (const c of rotated(cells, round)) seq.get(c.key)!.push(await c.request({ type: 'seq', calls: PEER_SEQ_CALLS, warmup: 20 }, 'seq'));
      if (round % 5 === 4) sampleNoise(1);
    }
    console.log(`  ${PEER_SEQ_ROUNDS} sequential rounds done`);
    for (let round = 0; round < PEER_ROUNDS; round++) {
      for (const c of rotated(cells, round)) bursts.get(c.key)!.push(await c.request({ type: 'burst', inFlight: IN_FLIGHT, ms: PEER_BURST_MS }, 'burst'));
      sampleNoise(1);
    }
    console.log(`  ${PEER_ROUNDS} rounds with ${IN_FLIGHT} in flight done`);
    for (const c of cells) {
      const s = seq.get(c.key)!;
      const b = bursts.get(c.key)!;
      out.paths[c.key] = {
        label: BRIDGES[c.key].label,
        seqUs: median(s.map((r) => r.medianUs)),
        seqP90Us: median(s.map((r) => r.p90Us)),
        callsPerSec: median(b.map((r) => r.callsPerSec)),
        seqCpu: medianCpu(s.map((r) => r.cpu)),
        burstCpu: medianCpu(b.map((r) => r.cpu)),
        roundSeqUs: s.map((r) => r.medianUs),
        roundCallsPerSec: b.map((r) => r.callsPerSec),
      };
    }
  } finally {
    for (const c of cells) await c.close();
  }
  const cpuCell = (c: CellCpu) => `${fmt(c.nodeUs)} / ${c.pythonUs === null ? 'in Node' : fmt(c.pythonUs)}`;
  console.log('');
  console.log(
    table(
      ['path', 'sequential µs', 'p90 µs', `${IN_FLIGHT} in flight calls/s`, 'Node / Python CPU µs per call (seq)', `(${IN_FLIGHT} in flight)`],
      (Object.keys(out.paths) as BridgeKey[]).map((k) => {
        const p = out.paths[k]!;
        return [p.label, fmt(p.seqUs), fmt(p.seqP90Us), fmt(p.callsPerSec), cpuCell(p.seqCpu), cpuCell(p.burstCpu)];
      }),
    ),
  );
  results.peers = out;
  return out;
}
