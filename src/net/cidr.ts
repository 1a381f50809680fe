/**
 * Address ranges ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7"): parsed once
 * from the configuration (`proxy_from`), then asked whether a peer's address
 * is inside one of them. Pure: nothing is resolved.
 *
 * - A bare address is a range of one (/32, /128).
 * - Host bits set ("10.0.0.1/8") is an error naming the range meant: a
 *   typo there would otherwise trust more or fewer hosts than intended.
 * - IPv4 is written without leading zeros ("010.0.0.0" is refused: some
 *   tools read it as octal).
 * - An IPv4-mapped IPv6 peer ("::ffff:10.1.2.3", what a dual-stack listener
 *   reports for an IPv4 client) is matched as the IPv4 address it is; a
 *   range written in ::ffff:0:0/96 is turned into the IPv4 range it covers.
 */
import { parseIPv4, parseIPv6 } from "./proxy-protocol.ts";

export interface Cidr {
  /** 4 bytes (IPv4) or 16 (IPv6), host bits zero. */
  readonly bytes: Uint8Array;
  readonly bits: number;
  /** Canonical text ("10.0.0.0/8"). */
  readonly text: string;
}

/** The mask of a byte whose first `n` bits are in the prefix. */
const byteMask = (n: number) => (n >= 8 ? 0xff : n <= 0 ? 0 : (0xff << (8 - n)) & 0xff);

const isMapped = (b: Uint8Array) => b.length === 16 && b[10] === 0xff && b[11] === 0xff && b.subarray(0, 10).every((x) => x === 0);

/** 4 or 16 bytes for an IP literal (a mapped IPv6 address as its 4 IPv4 bytes); else undefined. */
export function ipBytes(text: string): Uint8Array | undefined {
  const v4 = parseIPv4(text);
  if (v4 !== undefined) return v4;
  if (!text.includes(":")) return undefined;
  const v6 = parseIPv6(text);
  if (v6 === undefined) return undefined;
  return isMapped(v6) ? v6.slice(12) : v6;
}

function format(b: Uint8Array, bits: number): string {
  if (b.length === 4) return `${b.join(".")}/${bits}`;
  const words = Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16));
  // Compress the longest run of two or more zero words (RFC 5952).
  let best = -1, len = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > len) [best, len] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const text = best < 0 ? words.join(":") : `${words.slice(0, best).join(":")}::${words.slice(best + len).join(":")}`;
  return `${text}/${bits}`;
}

/** A range, or the reason it is not one (a message without the key name). */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const v4 = parseIPv4(addr);
  const v6 = v4 === undefined && addr.includes(":") ? parseIPv6(addr) : undefined;
  const parsed = v4 ?? v6;
  if (parsed === undefined) return `${JSON.stringify(text)} is not an IP address or range (write "10.0.0.0/8", "2001:db8::/32" or "192.0.2.7")`;
  let bytes = parsed;
  const max = bytes.length * 8;
  let bits = max;
  if (slash >= 0) {
    const b = text.slice(slash + 1);
    if (!/^(?:0|[1-9]\d{0,2})$/.test(b) || +b > max) return `${JSON.stringify(text)}: the prefix length must be a number from 0 to ${max}`;
    bits = +b;
  }
  const net = parsed.map((x, i) => x & byteMask(bits - 8 * i));
  if (net.some((x, i) => x !== parsed[i])) {
    return `${JSON.stringify(text)} has bits set past its /${bits} prefix (the range is ${format(net, bits)}; a single address needs no prefix)`;
  }
  if (bytes.length === 16 && bits >= 96 && isMapped(bytes)) {
    bytes = bytes.slice(12);
    bits -= 96;
  }
  return { bytes, bits, text: format(bytes, bits) };
}

/** Whether an address is inside any of a list of ranges. */
export class AddressSet {
  private readonly v4: Cidr[];
  private readonly v6: Cidr[];

  constructor(readonly ranges: readonly Cidr[]) {
    this.v4 = ranges.filter((r) => r.bytes.length === 4);
    this.v6 = ranges.filter((r) => r.bytes.length === 16);
  }

  /** `ranges` are valid (the configuration checked them); throws otherwise. */
  static of(ranges: readonly string[]): AddressSet {
    return new AddressSet(
      ranges.map((t) => {
        const c = parseCidr(t);
        if (typeof c === "string") throw new RangeError(c);
        return c;
      }),
    );
  }

  /** `address` (as a socket reports it) is inside one of the ranges; false for anything not an IP literal. */
  has(address: string): boolean {
    const b = ipBytes(address);
    if (b === undefined) return false;
    for (const r of b.length === 4 ? this.v4 : this.v6) if (inside(b, r)) return true;
    return false;
  }
}

function inside(b: Uint8Array, r: Cidr): boolean {
  const full = r.bits >> 3;
  for (let i = 0; i < full; i++) if (b[i] !== r.bytes[i]) return false;
  return (r.bits & 7) === 0 || (b[full] & byteMask(r.bits & 7)) === r.bytes[full];
}
