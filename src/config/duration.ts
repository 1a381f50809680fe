/**
 * Durations: a number of seconds (`2`, `0.5`) or a string with a unit
 * (`"500ms"`, `"2s"`, `"1m"`, `"1h"`, `"1d"`; a plain `"2"` is seconds).
 * Results are whole milliseconds (rounded to the nearest).
 */
import { describeValue } from "./describe.ts";

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const DURATION_RE = /^(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?$/i;

const EXPECTED = 'a duration (seconds like 2 or 0.5, or a string like "500ms", "2s", "1m", "1h")';

/**
 * Milliseconds for `v`, or an error phrase meant to follow the key name:
 * `must be a duration (…), got string "abc"`, `must not be negative, got -1`.
 */
export function parseDuration(v: unknown): number | string {
  if (typeof v === "number") {
    if (Number.isNaN(v)) return `must be ${EXPECTED}, got nan`;
    if (v < 0) return `must not be negative, got ${describeValue(v, false)}`;
    if (!Number.isFinite(v)) return `must be finite, got ${describeValue(v, false)}`;
    return toMs(v * 1000, v);
  }
  if (typeof v === "bigint") return v < 0n ? "must not be negative" : "is too large";
  if (typeof v === "string") {
    const text = v.trim();
    if (/^-\s*\d|^-\s*\.\d/.test(text)) return `must not be negative, got ${describeValue(v, false)}`;
    const m = DURATION_RE.exec(text);
    if (!m) return `must be ${EXPECTED}, got ${describeValue(v)}`;
    const unit = (m[2] ?? "s").toLowerCase();
    return toMs(Number(m[1]) * UNIT_MS[unit], v);
  }
  return `must be ${EXPECTED}, got ${describeValue(v)}`;
}

function toMs(ms: number, original: unknown): number | string {
  if (!Number.isFinite(ms) || ms > Number.MAX_SAFE_INTEGER) return `is too large, got ${describeValue(original, false)}`;
  return Math.round(ms);
}

/** Compact text for a number of milliseconds: 500 → "500ms", 2000 → "2s", 90000 → "90s". */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  if (ms >= 1000 && ms % 100 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
