/**
 * The benchmark's tunables, read once from the environment (listed in run.ts's header).
 * Bad or non-positive values fall back to the default rather than failing a long run.
 */
import { findPython } from './floors.js';

const envInt = (name: string, dflt: number): number => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : dflt;
};

export const N = envInt('BENCH_N', 50);
export const ROUNDS = envInt('BENCH_ROUNDS', 40);
export const WARMUP = envInt('BENCH_WARMUP', 300);
export const MATMUL_CALLS = envInt('BENCH_MATMUL_CALLS', 200);
// Unset means "the adapter's default size", so no n is sent at all.
export const MATMUL_N = process.env.BENCH_MATMUL_N ? envInt('BENCH_MATMUL_N', 610) : undefined;
export const CPU_ROUNDS = envInt('BENCH_CPU_ROUNDS', 3);
export const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'latency,cpu').split(',').map((s) => s.trim()));
export const BLAS_DEFAULTS = process.env.BENCH_BLAS_DEFAULTS === '1';
export const JSON_FILE = process.env.BENCH_JSON;
export const PYTHON = findPython();
