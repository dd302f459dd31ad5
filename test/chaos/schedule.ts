// The fault harness's random choices, all drawn from a seeded PRNG so that a run's schedule can
// be replayed: which call each caller makes next (plain, with a deadline, aborted, stuck, a
// ctx.call chain, a stream) and which fault comes next (kill -9, SIGSTOP/SIGCONT, a recycle).
// Calls and faults draw from two generators, so timing never shifts one schedule onto the other.

/** mulberry32: a small, fast 32-bit PRNG; plenty for choosing faults. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Random = () => number;

const between = (random: Random, low: number, high: number) => low + (high - low) * random();
const intBetween = (random: Random, low: number, high: number) => Math.floor(between(random, low, high + 1));

function pick<K extends string>(random: Random, weights: Record<K, number>): K {
  const entries = Object.entries(weights) as [K, number][];
  let x = random() * entries.reduce((sum, [, w]) => sum + w, 0);
  for (const [kind, weight] of entries) if ((x -= weight) < 0) return kind;
  return entries[entries.length - 1][0];
}

export type CallPlan =
  | { kind: 'plain'; seconds: number }
  /** A deadline that the work may or may not overrun (the tool stops when cancelled). */
  | { kind: 'deadline'; seconds: number; timeoutMs: number }
  | { kind: 'abort'; seconds: number; abortAfterMs: number }
  /** Overruns its deadline, ignoring cancellation, until about cancelGraceMs later: its worker may be replaced. */
  | { kind: 'stuck'; seconds: number; timeoutMs: number }
  /** A tool that calls Node, which runs a nested call on the same pool. */
  | { kind: 'chain'; seconds: number }
  /** A stream of `n` chunks; the consumer may leave after `leaveAfter` of them. */
  | { kind: 'stream'; n: number; seconds: number; leaveAfter: number | undefined };

export function nextCall(random: Random, cancelGraceMs: number): CallPlan {
  const kind = pick(random, { plain: 70, deadline: 8, abort: 6, stuck: 2, chain: 6, stream: 8 });
  switch (kind) {
    case 'plain':
      return { kind, seconds: random() < 0.95 ? between(random, 0, 0.005) : between(random, 0.02, 0.2) };
    case 'deadline':
      return { kind, seconds: between(random, 0, 0.3), timeoutMs: intBetween(random, 20, 300) };
    case 'abort':
      return { kind, seconds: between(random, 0, 0.3), abortAfterMs: intBetween(random, 0, 300) };
    case 'stuck': {
      // Ends around when its grace runs out, so its reply and the stuck-call kill often race.
      const timeoutMs = intBetween(random, 20, 100);
      const overrunMs = random() < 0.7 ? intBetween(random, -30, 60) : intBetween(random, 60, 500);
      return { kind, seconds: (timeoutMs + cancelGraceMs + overrunMs) / 1000, timeoutMs };
    }
    case 'chain':
      return { kind, seconds: between(random, 0, 0.05) };
    case 'stream': {
      const n = intBetween(random, 1, 20);
      return { kind, n, seconds: between(random, 0, 0.005), leaveAfter: random() < 0.3 ? intBetween(random, 0, n - 1) : undefined };
    }
  }
}

export type FaultPlan =
  /** Waits `afterMs`, then acts on the worker at `target` (a fraction: its place among live workers). */
  | { kind: 'kill'; afterMs: number; target: number }
  /** SIGSTOP, then SIGCONT `forMs` later: long ones outlast the heartbeat and get the worker killed. */
  | { kind: 'stop'; afterMs: number; target: number; forMs: number }
  | { kind: 'recycle'; afterMs: number; target: number };

export function nextFault(random: Random, meanGapMs: number, frozenDetectedMs: number): FaultPlan {
  const kind = pick(random, { kill: 5, stop: 3, recycle: 2 });
  const afterMs = Math.round(-Math.log(1 - random()) * meanGapMs); // exponential gaps
  const target = random();
  if (kind !== 'stop') return { kind, afterMs, target };
  const forMs = random() < 0.6 ? intBetween(random, 20, 300) : intBetween(random, frozenDetectedMs + 200, frozenDetectedMs + 1200);
  return { kind, afterMs, target, forMs };
}
