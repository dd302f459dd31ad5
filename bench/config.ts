/**
 * The benchmark's tunables, read once from the environment and the command line (listed in
 * run.ts's header). Bad or non-positive values fall back to the default rather than failing a
 * long run. `--quick` (or BENCH_QUICK=1) lowers the defaults so the whole run takes under two
 * minutes; an explicit environment value still wins.
 */
import { findPython } from './floors.js';

export const QUICK = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';

const envInt = (name: string, full: number, quick = full): number => {
  const dflt = QUICK ? quick : full;
  const v = process.env[name];
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : dflt;
};

export const N = envInt('BENCH_N', 50);
export const ROUNDS = envInt('BENCH_ROUNDS', 40, 8);
/**
 * Calls each path makes before it is measured. V8 needs ≈ 3,000 of Snakepit's calls to optimise
 * its call path on this machine (a sequential call takes 2–3 × longer until then), so every
 * path — peers included — is measured warm, as in a long-running service.
 */
export const WARMUP = envInt('BENCH_WARMUP', 5000);
export const MATMUL_CALLS = envInt('BENCH_MATMUL_CALLS', 200);
// Unset means "the adapter's default size", so no n is sent at all.
export const MATMUL_N = process.env.BENCH_MATMUL_N ? envInt('BENCH_MATMUL_N', 610) : undefined;
export const CPU_ROUNDS = envInt('BENCH_CPU_ROUNDS', 3, 1);
/**
 * The peers' tiny-call cells: many short sequential rounds (a pipe's latency swings with the
 * cores' sleep states, so short rounds let every path share each swing), fewer burst rounds.
 */
export const PEER_SEQ_ROUNDS = envInt('BENCH_PEER_SEQ_ROUNDS', 30, 12);
export const PEER_SEQ_CALLS = envInt('BENCH_PEER_SEQ_CALLS', 100);
export const PEER_ROUNDS = envInt('BENCH_PEER_ROUNDS', 5, 3);
export const PEER_BURST_MS = envInt('BENCH_PEER_BURST_MS', 500, 300);
/** Rounds of the large-payload, start-up and recovery measures. */
export const PAYLOAD_ROUNDS = envInt('BENCH_PAYLOAD_ROUNDS', 5, 3);
export const PAYLOAD_MIB = envInt('BENCH_PAYLOAD_MIB', 50);
export const LIFECYCLE_ROUNDS = envInt('BENCH_LIFECYCLE_ROUNDS', 5, 3);
/** Rounds of the preload section (each starts 8 model workers twice: its rounds are long). */
export const PRELOAD_ROUNDS = envInt('BENCH_PRELOAD_ROUNDS', 3);
export const ALL_SECTIONS = 'latency,peers,cpu,freethreaded,capacity,payloads,lifecycle,preload,remote';
export const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? ALL_SECTIONS).split(',').map((s) => s.trim()));
export const BLAS_DEFAULTS = process.env.BENCH_BLAS_DEFAULTS === '1';
export const JSON_FILE = process.env.BENCH_JSON;
export const PYTHON = findPython();
