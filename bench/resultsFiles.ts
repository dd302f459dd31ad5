/**
 * Writes a run's outcome where the next reader looks: bench/results/latest.json (everything
 * measured, with the figures) and bench/RESULTS.md (the figures, the peers' table and the
 * machine's noise, as Markdown).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON, QUICK } from './config.js';
import { formatValue, verdict, type Figure } from './figures.js';
import type { NoiseSummary } from './noise.js';
import type { PeersResult } from './peers.js';
import { fmt } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
export const LATEST_JSON = join(here, 'results', 'latest.json');
export const RESULTS_MD = join(here, 'RESULTS.md');

export function machineInfo(): Record<string, string | number> {
  const py = spawnSync(PYTHON, ['--version'], { encoding: 'utf8' });
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    python: (py.stdout || py.stderr).trim() || PYTHON,
  };
}

const row = (cells: string[]) => `| ${cells.join(' | ')} |`;

function peersMarkdown(peers: PeersResult | undefined): string[] {
  if (!peers) return ['Not run.'];
  const cpu = (c: { nodeUs: number; pythonUs: number | null }) => `${fmt(c.nodeUs)} / ${c.pythonUs === null ? 'in Node' : fmt(c.pythonUs)}`;
  const lines = [
    row(['path', 'sequential tiny call', '16 in flight', 'Node / Python CPU µs per call (sequential)', '(16 in flight)']),
    row(['---', '---:', '---:', '---:', '---:']),
    ...Object.values(peers.paths).map((p) => row([p!.label, `${fmt(p!.seqUs)} µs`, `${fmt(p!.callsPerSec)}/s`, cpu(p!.seqCpu), cpu(p!.burstCpu)])),
  ];
  for (const [k, why] of Object.entries(peers.skipped)) lines.push('', `${k}: skipped (${why})`);
  return lines;
}

export function writeResults(args: {
  results: Record<string, unknown>;
  figures: Figure[];
  noise: NoiseSummary;
  peers?: PeersResult;
  sections: string[];
  seconds: number;
}): void {
  const machine = machineInfo();
  const at = new Date().toISOString();
  const json = { at, mode: QUICK ? 'quick' : 'full', sections: args.sections, machine, noise: args.noise, figures: args.figures, ...args.results };
  mkdirSync(dirname(LATEST_JSON), { recursive: true });
  writeFileSync(LATEST_JSON, JSON.stringify(json, null, 2) + '\n');

  const n = args.noise;
  const md = [
    '# Benchmark results',
    '',
    `Written by \`npm run bench${QUICK ? ' -- --quick' : ''}\` on ${at} in ${fmt(args.seconds)} s ` +
      `(sections: ${args.sections.join(', ')}). Machine: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.python}.`,
    '',
    `Machine noise in this run: a fixed CPU loop took ${fmt(n.loopMs.min, 1)}–${fmt(n.loopMs.max, 1)} ms (median ${fmt(n.loopMs.median, 1)} ms, ` +
      `spread ${fmt(n.spread * 100)} % of the median over ${n.samples} samples); 1-minute load average ${fmt(n.loadAverage1m.min, 2)}–${fmt(n.loadAverage1m.max, 2)}. ` +
      'A figure can move by about that spread for reasons that are not the code.',
    '',
    'Everything measured is in `bench/results/latest.json`; the method is in `bench/NOTES.md`.',
    '',
    '## Figures',
    '',
    row(['figure', 'value', 'goal', '', 'measured as']),
    row(['---', '---:', '---', '---', '---']),
    ...args.figures.map((f) => row([`\`${f.name}\``, formatValue(f), f.goal, verdict(f), f.note])),
    '',
    '## Peers: a tiny call',
    '',
    'Each path in a fresh Node process of its own, medians over interleaved rounds.',
    '',
    ...peersMarkdown(args.peers),
    '',
  ].join('\n');
  writeFileSync(RESULTS_MD, md);
}
