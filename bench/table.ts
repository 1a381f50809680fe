/** Combining rounds and formatting numbers for the markdown tables of all modes. */

export const int = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "n/a" : Math.round(n).toLocaleString("en-US"));
export const fix = (d: number) => (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(d));
export const pct = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? "—" : `${Math.round(n)}%`);

/** a / b when both are finite numbers and b > 0. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : undefined;
}

/** The median of `v` (sorted in place). */
export function median(v: number[]): number {
  v.sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/** "min–max" of `v`, rounded. */
export const spread = (v: number[]) => `${int(Math.min(...v))}–${int(Math.max(...v))}`;

/** Median of each number over rounds (other processes' CPU, keys ending in "Foreign": the maximum); strings: the first one. */
export function combine<M extends object>(rounds: M[]): M | undefined {
  if (rounds.length === 0) return undefined;
  const out: Record<string, number | string> = {};
  const keys = new Set(rounds.flatMap((r) => Object.keys(r))) as Set<keyof M & string>;
  for (const k of keys) {
    const vals = rounds.map((r) => r[k] as unknown).filter((x) => x !== undefined);
    if (typeof vals[0] === "string") out[k] = vals[0];
    else {
      const nums = (vals as number[]).filter((x) => Number.isFinite(x));
      // Disturbance by other processes: the worst round, not the median.
      if (nums.length) out[k] = k.endsWith("Foreign") ? Math.max(...nums) : median(nums);
    }
  }
  return out as M;
}

/** "- **name failed:** first lines of the error" for each target whose run failed. */
export function errorLines<T extends string>(r: Record<T, { error?: string } | undefined>, label: (t: T) => string = (t) => t): string[] {
  return (Object.entries(r) as [T, { error?: string } | undefined][])
    .filter(([, m]) => m?.error)
    .map(([t, m]) => `- **${label(t)} failed:** ${m!.error!.split("\n").slice(0, 6).join(" / ")}`);
}
