/**
 * A tiny HPACK (RFC 7541) for tests of the HTTP/2 session: the encoder
 * writes every field as a literal without indexing with a new name and no
 * Huffman (valid HPACK any decoder reads); the decoder reads only those
 * (and never-indexed literals, and table size updates, which it skips), and
 * calls anything else a COMPRESSION_ERROR. No dynamic table: nothing to
 * keep in sync. Not in src: the real HPACK is src/http/h2/hpack/.
 */
import type { DecodeResult, HeaderDecoder, HeaderEncoder, HeaderList } from "../../src/http/h2/types.ts";

function putInt(out: number[], prefixBits: number, first: number, v: number): void {
  const max = (1 << prefixBits) - 1;
  if (v < max) return void out.push(first | v);
  out.push(first | max);
  v -= max;
  while (v >= 128) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

function putString(out: number[], s: string): void {
  putInt(out, 7, 0, s.length);
  for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
}

/** One header block of literals for `fields` ([name, value, …]). */
export function literalBlock(fields: readonly string[]): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    out.push(0x00);
    putString(out, fields[i]);
    putString(out, fields[i + 1]);
  }
  return Uint8Array.from(out);
}

export class LiteralEncoder implements HeaderEncoder {
  peerMaxTableSizes: number[] = [];
  encode(fields: HeaderList): Uint8Array {
    return literalBlock(fields);
  }
  setPeerMaxTableSize(n: number): void {
    this.peerMaxTableSizes.push(n);
  }
}

type Int = { v: number; at: number } | undefined;
function getInt(b: Uint8Array, at: number, prefixBits: number): Int {
  if (at >= b.length) return undefined;
  const max = (1 << prefixBits) - 1;
  let v = b[at] & max;
  at++;
  if (v < max) return { v, at };
  for (let shift = 0; shift < 28; shift += 7) {
    if (at >= b.length) return undefined;
    const c = b[at++];
    v += (c & 0x7f) * 2 ** shift;
    if ((c & 0x80) === 0) return { v, at };
  }
  return undefined;
}

function getString(b: Uint8Array, at: number): { s: string; at: number } | undefined {
  if (at >= b.length || (b[at] & 0x80) !== 0) return undefined; // Huffman: not ours
  const n = getInt(b, at, 7);
  if (n === undefined || n.at + n.v > b.length) return undefined;
  let s = "";
  for (let i = n.at; i < n.at + n.v; i++) s += String.fromCharCode(b[i]);
  return { s, at: n.at + n.v };
}

export class LiteralDecoder implements HeaderDecoder {
  maxTableSizes: number[] = [];
  /** Every block decoded, in order (to check that refused streams were decoded too). */
  blocks = 0;
  decode(block: Uint8Array, maxListSize: number): DecodeResult {
    this.blocks++;
    const fields: string[] = [];
    let size = 0;
    let at = 0;
    while (at < block.length) {
      const c = block[at];
      if ((c & 0xe0) === 0x20) {
        const n = getInt(block, at, 5);
        if (n === undefined) return { kind: "error", pos: at, reason: "bad table size update" };
        at = n.at;
        continue;
      }
      if (c !== 0x00 && c !== 0x10) return { kind: "error", pos: at, reason: `representation 0x${c.toString(16)} not supported` };
      const name = getString(block, at + 1);
      if (name === undefined) return { kind: "error", pos: at, reason: "bad name" };
      const value = getString(block, name.at);
      if (value === undefined) return { kind: "error", pos: name.at, reason: "bad value" };
      at = value.at;
      size += name.s.length + value.s.length + 32;
      fields.push(name.s, value.s);
    }
    return size > maxListSize ? { kind: "tooLarge", size } : { kind: "done", fields };
  }
  setMaxTableSize(n: number): void {
    this.maxTableSizes.push(n);
  }
}
