/**
 * The machine's own noise, measured alongside the figures: the time of a fixed CPU loop in
 * this process, sampled between sections and rounds. Its spread says how far any figure of
 * this run can move for reasons that are not the code (the machine is shared).
 */
import os from 'node:os';
import { median } from './floors.js';

const samplesMs: number[] = [];
const loadAverages: number[] = [];

/** ≈10 ms of integer arithmetic, the same work every time. */
function fixedLoop(): number {
  let x = 0;
  for (let i = 0; i < 3_000_000; i++) x = (x + i * 7) % 1_000_003;
  return x;
}

/** Times the fixed loop a few times now; call between sections and rounds. */
export function sampleNoise(times = 3): void {
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    fixedLoop();
    samplesMs.push(performance.now() - t0);
  }
  loadAverages.push(os.loadavg()[0]!);
}

export interface NoiseSummary {
  samples: number;
  loopMs: { min: number; median: number; max: number };
  /** (max − min) ÷ median of the fixed loop's time. */
  spread: number;
  loadAverage1m: { min: number; max: number };
}

export function noiseSummary(): NoiseSummary {
  const med = median(samplesMs);
  const min = Math.min(...samplesMs);
  const max = Math.max(...samplesMs);
  return {
    samples: samplesMs.length,
    loopMs: { min, median: med, max },
    spread: (max - min) / med,
    loadAverage1m: { min: Math.min(...loadAverages), max: Math.max(...loadAverages) },
  };
}
