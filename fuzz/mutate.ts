/**
 * Format-blind mutations of one input, shared by every target: byte flips
 * and replacements, inserts of the bytes parsers trip on (CR, LF, NUL,
 * whitespace, separators, the target's own tokens), deletions, repeated
 * ranges and lines, truncation, splices of two corpus entries, boundary
 * values over digit runs (text) or over 1, 2 and 4 bytes (binary), line-end
 * and obs-fold games, and now and then a huge input (a range repeated up to
 * `maxLen`). A target adds its structure-aware mutations on top
 * (fuzz/targets.ts); one to four operations per call.
 */
import { between, chance, int, latin1, pick, type Rng } from "./rng.ts";

export interface MutateContext {
  /** Tokens of the format worth inserting ("chunked", "Content-Length", "PROXY ", …). */
  dict: readonly Uint8Array[];
  /** Another corpus entry, for splices. */
  other: () => Uint8Array;
  /** Binary format: boundary values over raw bytes rather than digit runs. */
  binary: boolean;
  /** Largest input a mutation may make. */
  maxLen: number;
}

const SPECIAL = ["\r", "\n", "\0", " ", "\t", ":", ",", ";", "=", '"', "\\", "\r\n", "\r\n ", "\r\n\t", "\x0b", "\x0c", "\x7f", "\x80", "\xff", "-", "_", ".", "[", "]", "%", "/", "#", "@", "*"].map(latin1);
const NUMBERS = ["0", "1", "00", "01", "9", "10", "255", "256", "1023", "1024", "65535", "65536", "99999", "2147483647", "2147483648", "4294967295",
  "4294967296", "9007199254740991", "9007199254740992", "99999999999999999999", "-1", "+1", "0x10", "1e3", "1.5", ".5", "5.", "ffffffffffffffff", "FFFFFFFFFFFFFFFFF"].map(latin1);
const BOUNDARY_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x3f, 0x40, 0xc0, 0x0f, 0x10];
const BOUNDARY_WORDS = [0x0000, 0x0001, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfffe, 0xffff, 0x000c, 0x0024, 0x00d8, 0xc00c];

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

function splice(b: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length - remove + insert.length);
  out.set(b.subarray(0, at));
  out.set(insert, at);
  out.set(b.subarray(at + remove), at + insert.length);
  return out;
}

/** Offsets of every CRLF (or, without any, every LF) in b. */
function lineEnds(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10) out.push(i);
  return out;
}

function once(b: Uint8Array, r: Rng, ctx: MutateContext): Uint8Array {
  const n = b.length;
  const at = int(r, n + 1);
  switch (int(r, 14)) {
    case 0: {
      if (n === 0) return b;
      const out = b.slice();
      out[Math.min(at, n - 1)] ^= 1 << int(r, 8);
      return out;
    }
    case 1: {
      if (n === 0) return b;
      const out = b.slice();
      out[Math.min(at, n - 1)] = int(r, 256);
      return out;
    }
    case 2:
      return splice(b, at, 0, pick(r, SPECIAL));
    case 3:
      return ctx.dict.length > 0 ? splice(b, at, chance(r, 0.3) ? Math.min(n - at, int(r, 8)) : 0, pick(r, ctx.dict)) : splice(b, at, 0, pick(r, SPECIAL));
    case 4:
      return n === 0 ? b : splice(b, Math.min(at, n - 1), Math.min(n - Math.min(at, n - 1), 1 + int(r, chance(r, 0.8) ? 3 : 32)), new Uint8Array(0));
    case 5: {
      // repeat a range: double fields, repeated framing, repeated labels
      if (n === 0) return b;
      const a = int(r, n), len = 1 + int(r, Math.min(64, n - a));
      return splice(b, a + len, 0, b.slice(a, a + len));
    }
    case 6: {
      // repeat a whole line
      const ends = lineEnds(b);
      if (ends.length < 2) return splice(b, at, 0, pick(r, SPECIAL));
      const k = int(r, ends.length - 1);
      const s = ends[k] + 2, e = ends[k + 1] + 2;
      return splice(b, e, 0, b.slice(s, e));
    }
    case 7:
      return b.slice(0, at);
    case 8: {
      // splice: a prefix of this one, a suffix of another
      const o = ctx.other();
      const cut = int(r, o.length + 1);
      const out = new Uint8Array(at + o.length - cut);
      out.set(b.subarray(0, at));
      out.set(o.subarray(cut), at);
      return out.length > ctx.maxLen ? out.slice(0, ctx.maxLen) : out;
    }
    case 9:
    case 10: {
      if (ctx.binary) {
        if (n === 0) return b;
        const out = b.slice();
        const p = Math.min(at, n - 1);
        const w = pick(r, [1, 2, 4]);
        if (w === 1) out[p] = pick(r, BOUNDARY_BYTES);
        else {
          const v = w === 2 ? pick(r, BOUNDARY_WORDS) : pick(r, [0, 1, 0x7fffffff, 0x80000000, 0xffffffff]);
          for (let k = 0; k < w && p + k < n; k++) out[p + k] = (v >>> (8 * (w - 1 - k))) & 0xff;
        }
        return out;
      }
      // a digit run (or, without one, any position) replaced with a boundary value
      const runs: [number, number][] = [];
      for (let i = 0; i < n; ) {
        if (!isDigit(b[i])) {
          i++;
          continue;
        }
        const s = i;
        while (i < n && isDigit(b[i])) i++;
        runs.push([s, i]);
      }
      if (runs.length === 0) return splice(b, at, 0, pick(r, NUMBERS));
      const [s, e] = pick(r, runs);
      return splice(b, s, e - s, pick(r, NUMBERS));
    }
    case 11: {
      // line-end games: CRLF becomes LF, CR, CR CR LF, LF CR, or an obs-fold
      const ends = lineEnds(b);
      if (ends.length === 0) return splice(b, at, 0, pick(r, SPECIAL));
      const p = pick(r, ends);
      return splice(b, p, 2, latin1(pick(r, ["\n", "\r", "\r\r\n", "\n\r", "\r\n ", "\r\n\t", " \r\n", "\t\r\n", "\r\n\r\n", ""])));
    }
    case 12: {
      // case games over a range
      if (n === 0) return b;
      const out = b.slice();
      const a = int(r, n), e = Math.min(n, a + 1 + int(r, 16));
      for (let i = a; i < e; i++) if ((out[i] | 0x20) >= 0x61 && (out[i] | 0x20) <= 0x7a) out[i] ^= 0x20;
      return out;
    }
    default: {
      // huge: a range repeated up to maxLen (rarely: it costs time)
      if (n === 0 || !chance(r, 0.1)) return splice(b, at, 0, pick(r, SPECIAL));
      const a = int(r, n), len = 1 + int(r, Math.min(32, n - a));
      const room = Math.floor((ctx.maxLen - n) / len);
      const times = Math.min(room, chance(r, 0.05) ? room : between(r, 16, 4096));
      if (times <= 0) return b;
      const rep = new Uint8Array(len * times);
      for (let k = 0; k < times; k++) rep.set(b.subarray(a, a + len), k * len);
      return splice(b, a, 0, rep);
    }
  }
}

/** One to four mutations of `input` (fewer more often). */
export function mutate(input: Uint8Array, r: Rng, ctx: MutateContext): Uint8Array {
  let b = input;
  const k = 1 + Math.floor(-Math.log2(1 - r() * 0.9375)); // 1: 1/2, 2: 1/4, 3: 1/8, 4: 1/16
  for (let i = 0; i < k; i++) b = once(b, r, ctx);
  return b.length > ctx.maxLen ? b.slice(0, ctx.maxLen) : b;
}
