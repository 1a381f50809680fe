/**
 * IP addresses for the oracles, written from the RFCs and not from plb's
 * code: IPv4 dotted quads (no leading zeros), RFC 4291 IPv6 text (one "::",
 * an optional final dotted quad) to bytes, and back: RFC 5952 text (with
 * mapped addresses dotted or not) and many equivalent spellings of one
 * address for the generators.
 */
import { chance, int, pick, type Rng } from "../rng.ts";

const DEC = /^(?:0|[1-9][0-9]{0,2})$/;

export function parse4(s: string): number[] | undefined {
  const p = s.split(".");
  if (p.length !== 4 || !p.every((x) => DEC.test(x) && Number(x) <= 255)) return undefined;
  return p.map(Number);
}

/** 16 bytes, or undefined. */
export function parse6(s: string): number[] | undefined {
  // A final dotted quad stands for the last two groups.
  const lastColon = s.lastIndexOf(":");
  if (lastColon >= 0 && s.slice(lastColon + 1).includes(".")) {
    const v4 = parse4(s.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    s = `${s.slice(0, lastColon + 1)}${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
  }
  const groups = (part: string) => (part === "" ? [] : part.split(":"));
  const hex = (g: string) => (/^[0-9A-Fa-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN);
  const d = s.indexOf("::");
  let words: number[];
  if (d >= 0) {
    if (s.indexOf("::", d + 1) >= 0) return undefined;
    const a = groups(s.slice(0, d)).map(hex), b = groups(s.slice(d + 2)).map(hex);
    if (a.length + b.length > 7) return undefined;
    words = [...a, ...Array<number>(8 - a.length - b.length).fill(0), ...b];
  } else {
    words = groups(s).map(hex);
    if (words.length !== 8) return undefined;
  }
  if (words.some((w) => Number.isNaN(w))) return undefined;
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

export const isMapped = (b: readonly number[]) => b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

/** RFC 5952: lowercase, no leading zeros, the first longest run of two or more zero groups as "::"; mapped as ::ffff:a.b.c.d when `dotted`. */
export function format6(b: readonly number[], dotted: boolean): string {
  if (dotted && isMapped(b)) return `::ffff:${b.slice(12).join(".")}`;
  const w = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  let best = -1, len = 0;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i >= 2 && j - i > len) [best, len] = [i, j - i];
  }
  const h = (x: number[]) => x.map((v) => v.toString(16)).join(":");
  return best < 0 ? h(w) : `${h(w.slice(0, best))}::${h(w.slice(best + len))}`;
}

/** Random IPv6 bytes, biased toward zero runs, loopback, mapped and link-local. */
export function random6(r: Rng): number[] {
  const kind = int(r, 6);
  const b = Array.from({ length: 16 }, () => (chance(r, 0.5) ? 0 : int(r, 256)));
  if (kind === 0) return [...Array<number>(15).fill(0), 1];
  if (kind === 1) return [...Array<number>(10).fill(0), 0xff, 0xff, ...b.slice(12)];
  if (kind === 2) return [0xfe, 0x80, ...Array<number>(6).fill(0), ...b.slice(8)];
  if (kind === 3) return Array<number>(16).fill(0);
  return b;
}

export const random4 = (r: Rng): number[] => (chance(r, 0.2) ? pick(r, [[127, 0, 0, 1], [0, 0, 0, 0], [255, 255, 255, 255], [10, 0, 0, 2]]) : Array.from({ length: 4 }, () => int(r, 256)));

/** One of the ways to write b: full, RFC 5952, uppercase, with leading zeros in groups, mapped dotted. */
export function spell6(r: Rng, b: readonly number[]): string {
  const w = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  switch (int(r, 5)) {
    case 0:
      return w.map((x) => x.toString(16)).join(":");
    case 1:
      return w.map((x) => x.toString(16).padStart(4, "0")).join(":");
    case 2:
      return format6(b, false).toUpperCase();
    case 3:
      return `${w.slice(0, 6).map((x) => x.toString(16)).join(":")}:${b.slice(12).join(".")}`;
    default:
      return format6(b, chance(r, 0.5));
  }
}
