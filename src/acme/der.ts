/**
 * A small DER writer and reader (X.690), enough for PKCS#10 requests,
 * self-signed certificates and reading the few fields ACME needs from a
 * certificate (serial, Authority Key Identifier, validity). Pure functions
 * over bytes: no I/O, no keys.
 */

import { concatBytes } from "../net/bytes.ts";

export type Der = Uint8Array;

function length(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

/** One TLV: `tag` byte, DER length, `content`. */
export function tlv(tag: number, content: Uint8Array): Der {
  const head = [tag, ...length(content.length)];
  const out = new Uint8Array(head.length + content.length);
  out.set(head, 0);
  out.set(content, head.length);
  return out;
}

export const sequence = (...items: Der[]): Der => tlv(0x30, concatBytes(items));
export const set = (...items: Der[]): Der => tlv(0x31, concatBytes(items));
export const nullValue = (): Der => tlv(0x05, new Uint8Array(0));
export const boolean = (v: boolean): Der => tlv(0x01, Uint8Array.of(v ? 0xff : 0));
export const octetString = (bytes: Uint8Array): Der => tlv(0x04, bytes);
/** A BIT STRING with no unused bits. */
export const bitString = (bytes: Uint8Array): Der => tlv(0x03, concatBytes([Uint8Array.of(0), bytes]));
export const utf8String = (s: string): Der => tlv(0x0c, new TextEncoder().encode(s));
/** `[n]` EXPLICIT: a constructed context tag around one encoded value. */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner);
/** `[n]` IMPLICIT primitive (e.g. dNSName [2] IA5String). */
export const implicitPrimitive = (n: number, content: Uint8Array): Der => tlv(0x80 | n, content);
/** `[n]` IMPLICIT constructed (e.g. a CSR's attributes [0] SET OF). */
export const implicitConstructed = (n: number, ...items: Der[]): Der => tlv(0xa0 | n, concatBytes(items));

/** An INTEGER from unsigned big-endian magnitude bytes (a leading 0 added when the top bit is set). */
export function unsignedInteger(bytes: Uint8Array): Der {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  return tlv(0x02, trimmed.length > 0 && trimmed[0] & 0x80 ? concatBytes([Uint8Array.of(0), trimmed]) : trimmed.length ? trimmed : Uint8Array.of(0));
}

export const integer = (n: number): Der => {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`DER integer: ${n} is not a non-negative integer`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
};

/** An OBJECT IDENTIFIER from dotted text ("1.3.6.1.5.5.7.1.31"). */
export function oid(dotted: string): Der {
  const arcs = dotted.split(".").map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`DER oid: bad arc in ${dotted}`);
    return BigInt(a);
  });
  if (arcs.length < 2) throw new RangeError(`DER oid: ${dotted} needs two arcs`);
  const out: number[] = [];
  const base128 = (v: bigint) => {
    const group: number[] = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) group.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...group);
  };
  base128(arcs[0] * 40n + arcs[1]);
  for (const a of arcs.slice(2)) base128(a);
  return tlv(0x06, Uint8Array.from(out));
}

/** UTCTime up to 2049, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5), whole seconds, Z. */
export function time(date: Date): Der {
  const iso = date.toISOString(); // 2026-12-07T22:58:13.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ""); // 20261207225813
  const year = date.getUTCFullYear();
  return year < 2050 ? tlv(0x17, new TextEncoder().encode(`${digits.slice(2)}Z`)) : tlv(0x18, new TextEncoder().encode(`${digits}Z`));
}

/** One element read back: its tag, where its content starts and ends in the buffer. */
export interface Element {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
  /** Where the element (header included) ends: the next sibling's offset. */
  readonly next: number;
}

/** Reads the element at `at` (throws RangeError on truncated or indefinite-length input). */
export function read(buf: Uint8Array, at = 0): Element {
  if (at + 2 > buf.length) throw new RangeError("DER: truncated header");
  const tag = buf[at];
  let len = buf[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new RangeError("DER: unsupported length form");
    if (start + n > buf.length) throw new RangeError("DER: truncated length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i];
    start += n;
  }
  const end = start + len;
  if (end > buf.length) throw new RangeError("DER: content runs past the end");
  return { tag, start, end, next: end };
}

/** The children of a constructed element. */
export function children(buf: Uint8Array, parent: Element): Element[] {
  const out: Element[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const e = read(buf, at);
    out.push(e);
    at = e.next;
  }
  return out;
}

/** The dotted text of an OBJECT IDENTIFIER element. */
export function readOid(buf: Uint8Array, e: Element): string {
  const arcs: bigint[] = [];
  let v = 0n;
  for (let i = e.start; i < e.end; i++) {
    v = (v << 7n) | BigInt(buf[i] & 0x7f);
    if (!(buf[i] & 0x80)) {
      arcs.push(v);
      v = 0n;
    }
  }
  const first = arcs.shift() ?? 0n;
  const head = first < 80n ? [first / 40n, first % 40n] : [2n, first - 80n];
  return [...head, ...arcs].join(".");
}
