// What a pool's calls came to since it was made, per tool label: outcomes, and run and wait
// times in Prometheus buckets. Counted on every call whether or not anyone scrapes (a few
// increments), so metrics() agrees with stats() however late the first scrape comes; never reset.

/** Upper bounds, in seconds, of the duration histograms' buckets. */
export const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** A histogram as Prometheus keeps it: a count per bucket (not cumulative), their sum and count. */
export class Buckets {
  readonly counts: number[] = SECONDS_BUCKETS.map(() => 0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    const bucket = SECONDS_BUCKETS.findIndex((bound) => seconds <= bound);
    if (bucket >= 0) this.counts[bucket]++;
    this.sum += seconds;
    this.count++;
  }
}

export interface ToolTotals {
  /** Calls settled, by outcome: `ok` or the error code. */
  outcomes: Map<string, number>;
  /** How long successful calls ran on their worker. */
  duration: Buckets;
  /** How long calls that ran waited for their worker. */
  wait: Buckets;
}

export class CallTotals {
  readonly tools = new Map<string, ToolTotals>();

  of(label: string): ToolTotals {
    let totals = this.tools.get(label);
    if (!totals) this.tools.set(label, (totals = { outcomes: new Map(), duration: new Buckets(), wait: new Buckets() }));
    return totals;
  }
}
