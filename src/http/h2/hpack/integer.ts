/**
 * HPACK prefix integers (RFC 7541 §5.1), bounded: a value above 2^31 - 1,
 * or more than 5 continuation octets (zero-padded encodings included), is
 * an error, so no input makes the decoder loop long or lose precision.
 */

/** The largest value `readInt` returns (RFC 7541 §5.1 lets an implementation set it). */
export const MAX_INT = 0x7fffffff;
/** `readInt` results below zero. */
export const INT_TRUNCATED = -1;
export const INT_OVERFLOW = -2;

/** Where `readInt` stopped: the offset after the integer. */
export const intEnd = { pos: 0 };

/**
 * Read the integer whose first octet is buf[pos] with an N-bit prefix
 * (1 ≤ N ≤ 8), not reading at or past `end`. Returns the value (with
 * `intEnd.pos` after it), INT_TRUNCATED or INT_OVERFLOW.
 */
export function readInt(buf: Uint8Array, pos: number, end: number, prefix: number): number {
  const mask = (1 << prefix) - 1;
  let v = buf[pos] & mask;
  let i = pos + 1;
  if (v < mask) {
    intEnd.pos = i;
    return v;
  }
  for (let shift = 0; shift <= 28; shift += 7) {
    if (i >= end) return INT_TRUNCATED;
    const b = buf[i++];
    v += (b & 0x7f) * 2 ** shift;
    if (v > MAX_INT) return INT_OVERFLOW;
    if ((b & 0x80) === 0) {
      intEnd.pos = i;
      return v;
    }
  }
  return INT_OVERFLOW;
}

/**
 * Write `v` (0 ≤ v ≤ MAX_INT) with an N-bit prefix at out[pos], OR-ing
 * `flags` into the first octet; returns the offset after it. The caller
 * makes room (at most 6 octets).
 */
export function writeInt(out: Uint8Array, pos: number, v: number, prefix: number, flags: number): number {
  const mask = (1 << prefix) - 1;
  if (v < mask) {
    out[pos] = flags | v;
    return pos + 1;
  }
  out[pos++] = flags | mask;
  v -= mask;
  while (v >= 0x80) {
    out[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[pos++] = v;
  return pos;
}
