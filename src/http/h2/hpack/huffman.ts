/**
 * The Huffman code of HPACK (RFC 7541 §5.2, Appendix B).
 *
 * Decoding walks a state table built once at load: a state is an internal
 * node of the code tree (256 of them, the root is 0), and each state has 256
 * transitions, one per octet, each giving the next state, the symbols it
 * completed (at most two: the shortest code is 5 bits) and whether it ran
 * into EOS. A state is accepting when the bits read since the last symbol
 * are all ones and fewer than 8: the only padding RFC 7541 §5.2 allows.
 *
 * Encoding writes each symbol's code into a bit accumulator; `encodedLength`
 * tells the caller in advance whether Huffman is shorter than the raw octets.
 */

/** [code, bit length] of symbols 0..256 (256 is EOS), RFC 7541 Appendix B. */
// prettier-ignore
const TABLE = [
  0x1ff8, 13, 0x7fffd8, 23, 0xfffffe2, 28, 0xfffffe3, 28, 0xfffffe4, 28, 0xfffffe5, 28,
  0xfffffe6, 28, 0xfffffe7, 28, 0xfffffe8, 28, 0xffffea, 24, 0x3ffffffc, 30, 0xfffffe9, 28,
  0xfffffea, 28, 0x3ffffffd, 30, 0xfffffeb, 28, 0xfffffec, 28, 0xfffffed, 28, 0xfffffee, 28,
  0xfffffef, 28, 0xffffff0, 28, 0xffffff1, 28, 0xffffff2, 28, 0x3ffffffe, 30, 0xffffff3, 28,
  0xffffff4, 28, 0xffffff5, 28, 0xffffff6, 28, 0xffffff7, 28, 0xffffff8, 28, 0xffffff9, 28,
  0xffffffa, 28, 0xffffffb, 28, 0x14, 6, 0x3f8, 10, 0x3f9, 10, 0xffa, 12,
  0x1ff9, 13, 0x15, 6, 0xf8, 8, 0x7fa, 11, 0x3fa, 10, 0x3fb, 10,
  0xf9, 8, 0x7fb, 11, 0xfa, 8, 0x16, 6, 0x17, 6, 0x18, 6,
  0x0, 5, 0x1, 5, 0x2, 5, 0x19, 6, 0x1a, 6, 0x1b, 6,
  0x1c, 6, 0x1d, 6, 0x1e, 6, 0x1f, 6, 0x5c, 7, 0xfb, 8,
  0x7ffc, 15, 0x20, 6, 0xffb, 12, 0x3fc, 10, 0x1ffa, 13, 0x21, 6,
  0x5d, 7, 0x5e, 7, 0x5f, 7, 0x60, 7, 0x61, 7, 0x62, 7,
  0x63, 7, 0x64, 7, 0x65, 7, 0x66, 7, 0x67, 7, 0x68, 7,
  0x69, 7, 0x6a, 7, 0x6b, 7, 0x6c, 7, 0x6d, 7, 0x6e, 7,
  0x6f, 7, 0x70, 7, 0x71, 7, 0x72, 7, 0xfc, 8, 0x73, 7,
  0xfd, 8, 0x1ffb, 13, 0x7fff0, 19, 0x1ffc, 13, 0x3ffc, 14, 0x22, 6,
  0x7ffd, 15, 0x3, 5, 0x23, 6, 0x4, 5, 0x24, 6, 0x5, 5,
  0x25, 6, 0x26, 6, 0x27, 6, 0x6, 5, 0x74, 7, 0x75, 7,
  0x28, 6, 0x29, 6, 0x2a, 6, 0x7, 5, 0x2b, 6, 0x76, 7,
  0x2c, 6, 0x8, 5, 0x9, 5, 0x2d, 6, 0x77, 7, 0x78, 7,
  0x79, 7, 0x7a, 7, 0x7b, 7, 0x7ffe, 15, 0x7fc, 11, 0x3ffd, 14,
  0x1ffd, 13, 0xffffffc, 28, 0xfffe6, 20, 0x3fffd2, 22, 0xfffe7, 20, 0xfffe8, 20,
  0x3fffd3, 22, 0x3fffd4, 22, 0x3fffd5, 22, 0x7fffd9, 23, 0x3fffd6, 22, 0x7fffda, 23,
  0x7fffdb, 23, 0x7fffdc, 23, 0x7fffdd, 23, 0x7fffde, 23, 0xffffeb, 24, 0x7fffdf, 23,
  0xffffec, 24, 0xffffed, 24, 0x3fffd7, 22, 0x7fffe0, 23, 0xffffee, 24, 0x7fffe1, 23,
  0x7fffe2, 23, 0x7fffe3, 23, 0x7fffe4, 23, 0x1fffdc, 21, 0x3fffd8, 22, 0x7fffe5, 23,
  0x3fffd9, 22, 0x7fffe6, 23, 0x7fffe7, 23, 0xffffef, 24, 0x3fffda, 22, 0x1fffdd, 21,
  0xfffe9, 20, 0x3fffdb, 22, 0x3fffdc, 22, 0x7fffe8, 23, 0x7fffe9, 23, 0x1fffde, 21,
  0x7fffea, 23, 0x3fffdd, 22, 0x3fffde, 22, 0xfffff0, 24, 0x1fffdf, 21, 0x3fffdf, 22,
  0x7fffeb, 23, 0x7fffec, 23, 0x1fffe0, 21, 0x1fffe1, 21, 0x3fffe0, 22, 0x1fffe2, 21,
  0x7fffed, 23, 0x3fffe1, 22, 0x7fffee, 23, 0x7fffef, 23, 0xfffea, 20, 0x3fffe2, 22,
  0x3fffe3, 22, 0x3fffe4, 22, 0x7ffff0, 23, 0x3fffe5, 22, 0x3fffe6, 22, 0x7ffff1, 23,
  0x3ffffe0, 26, 0x3ffffe1, 26, 0xfffeb, 20, 0x7fff1, 19, 0x3fffe7, 22, 0x7ffff2, 23,
  0x3fffe8, 22, 0x1ffffec, 25, 0x3ffffe2, 26, 0x3ffffe3, 26, 0x3ffffe4, 26, 0x7ffffde, 27,
  0x7ffffdf, 27, 0x3ffffe5, 26, 0xfffff1, 24, 0x1ffffed, 25, 0x7fff2, 19, 0x1fffe3, 21,
  0x3ffffe6, 26, 0x7ffffe0, 27, 0x7ffffe1, 27, 0x3ffffe7, 26, 0x7ffffe2, 27, 0xfffff2, 24,
  0x1fffe4, 21, 0x1fffe5, 21, 0x3ffffe8, 26, 0x3ffffe9, 26, 0xffffffd, 28, 0x7ffffe3, 27,
  0x7ffffe4, 27, 0x7ffffe5, 27, 0xfffec, 20, 0xfffff3, 24, 0xfffed, 20, 0x1fffe6, 21,
  0x3fffe9, 22, 0x1fffe7, 21, 0x1fffe8, 21, 0x7ffff3, 23, 0x3fffea, 22, 0x3fffeb, 22,
  0x1ffffee, 25, 0x1ffffef, 25, 0xfffff4, 24, 0xfffff5, 24, 0x3ffffea, 26, 0x7ffff4, 23,
  0x3ffffeb, 26, 0x7ffffe6, 27, 0x3ffffec, 26, 0x3ffffed, 26, 0x7ffffe7, 27, 0x7ffffe8, 27,
  0x7ffffe9, 27, 0x7ffffea, 27, 0x7ffffeb, 27, 0xffffffe, 28, 0x7ffffec, 27, 0x7ffffed, 27,
  0x7ffffee, 27, 0x7ffffef, 27, 0x7fffff0, 27, 0x3ffffee, 26, 0x3fffffff, 30,
];

/** Code and bit length of each symbol (the fuzzer's reference decoder reads them too). */
export const CODES = new Uint32Array(257);
export const LENGTHS = new Uint8Array(257);
for (let s = 0; s < 257; s++) (CODES[s] = TABLE[2 * s]), (LENGTHS[s] = TABLE[2 * s + 1]);

const EOS = 256;
/**
 * A transition's bits: the next state in bits 0-7, the number of symbols
 * completed (0-2: codes are at least 5 bits long) in bits 8-9, FAIL (EOS
 * decoded), then the first symbol from bit 11 and the second from bit 19.
 */
const FAIL = 0x400;

/**
 * TRANSITIONS[state * 256 + octet] (256 KiB, built by the first decode: a
 * few ms a process without HTTP/2 does not spend); ACCEPT[state] is 1 when
 * the string may end in that state.
 */
let TRANSITIONS: Uint32Array | undefined;
const ACCEPT = new Uint8Array(256);

function build(): Uint32Array {
  const transitions = new Uint32Array(256 * 256);
  // The code tree: child[2 * node + bit] is an internal node (>= 0) or ~symbol (< 0).
  const child = new Int32Array(2 * 256).fill(0x7fffffff);
  const depth = new Uint8Array(256);
  const ones = new Uint8Array(256);
  ones[0] = 1;
  let nodes = 1;
  for (let s = 0; s < 257; s++) {
    let node = 0;
    for (let b = LENGTHS[s] - 1; b >= 0; b--) {
      const bit = (CODES[s] >>> b) & 1;
      const slot = 2 * node + bit;
      if (b === 0) {
        child[slot] = ~s;
        break;
      }
      if (child[slot] === 0x7fffffff) {
        depth[nodes] = depth[node] + 1;
        ones[nodes] = ones[node] & bit;
        child[slot] = nodes++;
      }
      node = child[slot];
    }
  }
  if (nodes !== 256) throw new Error(`hpack huffman: ${nodes} internal nodes`);
  for (let n = 0; n < 256; n++) ACCEPT[n] = ones[n] === 1 && depth[n] < 8 ? 1 : 0;
  // Per nibble first (next state, the symbol completed + 1 or 0, or -1 for EOS), then per octet as two nibbles.
  const nibbles = new Int32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let t = 0;
      for (let b = 3; b >= 0; b--) {
        const next = child[2 * node + ((nibble >>> b) & 1)];
        if (next >= 0) node = next;
        else if (~next === EOS) {
          t = -1;
          break;
        } else {
          t = (~next + 1) << 8;
          node = 0;
        }
      }
      nibbles[state * 16 + nibble] = t < 0 ? -1 : t | node;
    }
  }
  for (let state = 0; state < 256; state++) {
    for (let octet = 0; octet < 256; octet++) {
      const hi = nibbles[state * 16 + (octet >>> 4)];
      const lo = hi < 0 ? -1 : nibbles[(hi & 0xff) * 16 + (octet & 15)];
      if (lo < 0) {
        transitions[state * 256 + octet] = FAIL;
        continue;
      }
      let t = lo & 0xff;
      let count = 0;
      if (hi >>> 8 !== 0) t |= ((hi >>> 8) - 1) << (11 + 8 * count++);
      if (lo >>> 8 !== 0) t |= ((lo >>> 8) - 1) << (11 + 8 * count++);
      transitions[state * 256 + octet] = t | (count << 8);
    }
  }
  return transitions;
}

/** Why `huffmanDecode` failed; the offset is in `huffmanError.pos`. */
export const huffmanError = { pos: 0, reason: "" };

/**
 * Decode the Huffman string in src[start, end) into out from `at` (room for
 * (end - start) * 8 / 5 octets is enough). Returns the end of the decoded
 * octets in `out`, or -1 with `huffmanError` set: the offset (in `src`) of
 * the octet where an EOS was decoded, or of the last octet when the padding
 * is longer than 7 bits or not all ones.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number {
  const transitions = TRANSITIONS ?? (TRANSITIONS = build());
  let state = 0;
  let o = at;
  for (let i = start; i < end; i++) {
    const t = transitions[(state << 8) | src[i]];
    if ((t & FAIL) !== 0) return fail(i, "Huffman string holds EOS");
    const n = (t >>> 8) & 3;
    if (n !== 0) {
      out[o++] = t >>> 11;
      if (n === 2) out[o++] = t >>> 19;
    }
    state = t & 0xff;
  }
  if (ACCEPT[state] === 0) return fail(end - 1, "Huffman padding longer than 7 bits or not all ones");
  return o;
}

function fail(pos: number, reason: string): number {
  huffmanError.pos = pos;
  huffmanError.reason = reason;
  return -1;
}

/** Octets the Huffman code of latin1 string `s` takes, or -1 when a char is above 0xff. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) return -1;
    bits += LENGTHS[c];
  }
  return (bits + 7) >>> 3;
}

/** Write the Huffman code of latin1 string `s` into out from `at`, padded with ones; returns the end. */
export function huffmanEncode(s: string, out: Uint8Array, at: number): number {
  let acc = 0;
  let bits = 0;
  let o = at;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    let len = LENGTHS[sym];
    let code = CODES[sym];
    if (len > 24) {
      // Two steps keep the accumulator within 31 bits.
      const hi = len - 16;
      acc = (acc << hi) | (code >>> 16);
      bits += hi;
      while (bits >= 8) {
        bits -= 8;
        out[o++] = acc >>> bits;
      }
      acc &= (1 << bits) - 1;
      len = 16;
      code &= 0xffff;
    }
    acc = (acc << len) | code;
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      out[o++] = acc >>> bits;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out[o++] = (acc << (8 - bits)) | (0xff >>> bits);
  return o;
}
