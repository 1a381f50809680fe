/**
 * Validation problems: collected (never thrown one by one), sorted by line,
 * and rendered one per line as `file:line: service "web": message`.
 */

export interface Diagnostic {
  /** Key path inside its table: "server_retry", "servers[1]", "listen[0]", "" for the table itself. */
  readonly path: string;
  /** `service "web"` or `service[2]` (0-based, when the name is unusable); absent for global keys. */
  readonly service?: string;
  /** 1-based line in the source, when it could be located. */
  readonly line?: number;
  /** The text after the service label, e.g. `servers[1]: port 99999 is out of range (1-65535)`. */
  readonly message: string;
}

/** The label used in messages for service number `index` (0-based). */
export function serviceLabel(name: unknown, index: number): string {
  return typeof name === "string" && name !== "" ? `service ${JSON.stringify(name)}` : `service[${index}]`;
}

/** One message line: `plb.toml:12: service "web": servers[1]: port 99999 is out of range (1-65535)`. */
export function formatDiagnostic(file: string, d: Diagnostic): string {
  const where = d.line === undefined ? `${file || "<config>"}` : `${file || "<config>"}:${d.line}`;
  const label = d.service ? `${d.service}: ` : "";
  return `${where}: ${label}${d.message}`;
}

/** All messages, by line (problems without a line last), one per line. */
export function formatDiagnostics(file: string, list: readonly Diagnostic[]): string {
  const sorted = list
    .map((d, i) => ({ d, i }))
    .sort((a, b) => (a.d.line ?? Infinity) - (b.d.line ?? Infinity) || a.i - b.i)
    .map(({ d }) => d);
  return sorted.map((d) => formatDiagnostic(file, d)).join("\n");
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2][j - 2] + 1);
      d[i][j] = best;
    }
  }
  return d[a.length][b.length];
}

const normalize = (s: string): string => s.toLowerCase().replace(/-/g, "_");

/**
 * The candidate closest to `word`, if close enough to be a likely typo:
 * same name up to case and "-"/"_", or within 1 edit (words ≤ 4 chars),
 * 2 (≤ 8 chars) or 3 (longer).
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const w = normalize(word);
  const exact = candidates.find((c) => normalize(c) === w);
  if (exact !== undefined) return exact;
  const limit = w.length <= 4 ? 1 : w.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const n = normalize(c);
    // The distance is at least the difference in length: skip what cannot be close (a 16 KiB key against
    // every candidate cost a (16 K × 20)-cell matrix each; found by npm run fuzz).
    if (Math.abs(n.length - w.length) > limit) continue;
    const dist = editDistance(w, n);
    if (dist <= limit && dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

/** ` (did you mean "server_retry"?)` or "". */
export function suggestion(word: string, candidates: readonly string[]): string {
  const s = didYouMean(word, candidates);
  return s === undefined ? "" : ` (did you mean ${JSON.stringify(s)}?)`;
}
