/**
 * A real histogram (cumulative buckets, sum, count), as Prometheus means
 * it: every observation counts, nothing is averaged away. Buckets suit a
 * proxy: from half a millisecond to a minute.
 */

/** Upper bounds in seconds. */
export const BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Histogram {
  /** counts[i]: observations in (BUCKETS[i-1], BUCKETS[i]]; the last slot: above the largest bound. */
  readonly counts = new Float64Array(BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }

  /** Cumulative counts per bound, then +Inf (= count). */
  cumulative(): number[] {
    const out: number[] = [];
    let acc = 0;
    for (let i = 0; i < BUCKETS.length; i++) out.push((acc += this.counts[i]));
    out.push(this.count);
    return out;
  }

  /** Add `other`'s observations (workers' histograms summed by the master). */
  add(other: { readonly counts: ArrayLike<number>; readonly sum: number; readonly count: number }): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i] += other.counts[i] ?? 0;
    this.sum += other.sum;
    this.count += other.count;
  }
}
