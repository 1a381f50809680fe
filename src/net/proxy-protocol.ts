/**
 * PROXY protocol headers (HAProxy's doc/proxy-protocol.txt, versions 1 and
 * 2): `proxyV1` and `proxyV2` write the header plb sends to a server before
 * anything else, so the server learns the client's address; and
 * `parseProxyHeader` reads either version (a listener with accept_proxy,
 * net/accept-proxy.ts). Pure: no I/O, nothing resolved.
 *
 * Writer decisions:
 * - Addresses are IP literals as sockets report them; brackets ("[::1]")
 *   and an IPv6 zone ("fe80::1%eth0") are dropped. Anything else (a host
 *   name, "01.2.3.4", a port outside 0-65535) throws a RangeError: sending
 *   "UNKNOWN" instead would make the server log plb's own address.
 * - An IPv4-mapped IPv6 address ("::ffff:127.0.0.2", what a dual-stack
 *   listener reports for an IPv4 client) is written as IPv4. Both sides IPv4:
 *   TCP4 (v2 family 0x11); otherwise TCP6 (0x21), the IPv4 side written as
 *   IPv4-mapped IPv6.
 * - v1 writes IPv6 in RFC 5952 form but with hex groups only ("::ffff:7f00:2",
 *   never "::ffff:127.0.0.2"): the spec describes IPv6 as groups of hex
 *   digits, and some receivers parse exactly that.
 * - v2: PROXY command, no TLVs.
 *
 * Parser decisions: results as in src/http/ ("more", "error" with the offset
 * of the offending byte, "done" with `consumed`); input fed whole or one
 * byte at a time gives the same result.
 * - v1: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF,
 *   single spaces, IPv4 without leading zeros, ports 0-65535 without leading
 *   zeros, the address family matching the protocol; "UNKNOWN" and anything
 *   up to CRLF. No CRLF within 107 bytes: error (at byte 106). Bare LF or
 *   CR: error.
 * - v2: signature, version 2, command LOCAL or PROXY. LOCAL ignores family
 *   and the whole block (family "UNKNOWN", no addresses); so does PROXY with
 *   family 0x00. TCP/UDP over IPv4/IPv6 give addresses and ports; UNIX
 *   stream/datagram gives none. The length must cover the family's address
 *   block; the rest must be well-formed TLVs, returned (copied) as they are.
 *   Other family bytes are rejected.
 * - Addresses come out canonical: IPv4 dotted, IPv6 per RFC 5952 (mapped
 *   ones as "::ffff:1.2.3.4", the form Bun reports).
 */

export interface Endpoint {
  address: string;
  port: number;
}

export type ProxyFamily = "TCP4" | "TCP6" | "UDP4" | "UDP6" | "UNIX" | "UNKNOWN";

export interface ProxyTlv {
  type: number;
  value: Uint8Array;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** v1 is always "PROXY". */
  command: "PROXY" | "LOCAL";
  family: ProxyFamily;
  /** Set for TCP4, TCP6, UDP4 and UDP6. */
  src?: Endpoint;
  dst?: Endpoint;
  /** v2 TLVs after the addresses, in order ([] for v1, LOCAL, UNSPEC). */
  tlvs: ProxyTlv[];
}

export type ProxyResult =
  | { kind: "more" }
  | { kind: "error"; pos: number; reason: string }
  | ({ kind: "done"; consumed: number } & ProxyHeader);

/** The v2 signature: \r\n\r\n\0\r\nQUIT\n. */
const V2_SIGNATURE = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);
/** Longest v1 header, CRLF included ("PROXY UNKNOWN" with two full IPv6 addresses). */
export const V1_MAX = 107;

const CR = 13, LF = 10;
const V1_PREFIX = "PROXY ";
const MORE: { kind: "more" } = Object.freeze({ kind: "more" }) as { kind: "more" };
const fail = (pos: number, reason: string): ProxyResult => ({ kind: "error", pos, reason });

// ---------------------------------------------------------------------------
// Addresses

/** Dotted quad, exactly 4 numbers 0-255 without leading zeros; else undefined. */
export function parseIPv4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(parts[i]) || +parts[i] > 255) return undefined;
    out[i] = +parts[i];
  }
  return out;
}

/** IPv6 text (hex groups, at most one "::", optionally a final dotted quad) to 16 bytes; else undefined. */
export function parseIPv6(s: string): Uint8Array | undefined {
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const words: number[][] = [];
  for (let h = 0; h < halves.length; h++) {
    const w: number[] = [];
    const groups = halves[h] === "" ? [] : halves[h].split(":");
    for (let g = 0; g < groups.length; g++) {
      if (h === halves.length - 1 && g === groups.length - 1 && groups[g].includes(".")) {
        const v4 = parseIPv4(groups[g]);
        if (v4 === undefined) return undefined;
        w.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(groups[g])) w.push(parseInt(groups[g], 16));
      else return undefined;
    }
    words.push(w);
  }
  const given = words.reduce((n, w) => n + w.length, 0);
  if (halves.length === 1 ? given !== 8 : given > 7) return undefined;
  const all = halves.length === 1 ? words[0] : [...words[0], ...Array<number>(8 - given).fill(0), ...words[1]];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

const isMapped = (b: Uint8Array, o = 0) => b[o + 10] === 0xff && b[o + 11] === 0xff && b.subarray(o, o + 10).every((x) => x === 0);

const formatIPv4 = (b: Uint8Array, o = 0) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** RFC 5952 text of b[o, o+16); an IPv4-mapped address as "::ffff:a.b.c.d" when `dotted`. */
function formatIPv6(b: Uint8Array, o = 0, dotted = true): string {
  if (dotted && isMapped(b, o)) return `::ffff:${formatIPv4(b, o + 12)}`;
  const w = Array.from({ length: 8 }, (_, i) => (b[o + 2 * i] << 8) | b[o + 2 * i + 1]);
  let best = -1, bestLen = 1; // only runs of two or more zero words are compressed
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (a: number, z: number) => w.slice(a, z).map((x) => x.toString(16)).join(":");
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** A socket's address to 4 bytes (IPv4, IPv4-mapped IPv6 included) or 16 (IPv6); throws RangeError. */
function addressBytes(e: Endpoint, which: string): Uint8Array {
  if (!Number.isInteger(e.port) || e.port < 0 || e.port > 65535) throw new RangeError(`PROXY header: invalid ${which} port ${e.port}`);
  let t = String(e.address);
  if (t.startsWith("[") && t.endsWith("]")) t = t.slice(1, -1);
  const v4 = parseIPv4(t);
  if (v4 !== undefined) return v4;
  const v6 = t.includes(":") ? parseIPv6(t.replace(/%[^%]+$/, "")) : undefined;
  if (v6 === undefined) throw new RangeError(`PROXY header: ${which} address "${e.address}" is not an IP address`);
  return isMapped(v6) ? v6.slice(12) : v6;
}

function toMapped(b: Uint8Array): Uint8Array {
  if (b.length === 16) return b;
  const out = new Uint8Array(16);
  out[10] = out[11] = 0xff;
  out.set(b, 12);
  return out;
}

/** Both addresses in one family: 4 bytes each, or 16 each (an IPv4 side mapped). */
function pair(src: Endpoint, dst: Endpoint): [Uint8Array, Uint8Array] {
  const s = addressBytes(src, "source"), d = addressBytes(dst, "destination");
  return s.length === 4 && d.length === 4 ? [s, d] : [toMapped(s), toMapped(d)];
}

// ---------------------------------------------------------------------------
// Writers

/** "PROXY TCP4 src dst sport dport\r\n" (TCP6 when either side is IPv6). */
export function proxyV1(src: Endpoint, dst: Endpoint): Uint8Array {
  const [s, d] = pair(src, dst);
  const line = s.length === 4
    ? `PROXY TCP4 ${formatIPv4(s)} ${formatIPv4(d)} ${src.port} ${dst.port}\r\n`
    : `PROXY TCP6 ${formatIPv6(s, 0, false)} ${formatIPv6(d, 0, false)} ${src.port} ${dst.port}\r\n`;
  return Uint8Array.from(line, (c) => c.charCodeAt(0));
}

/** Binary v2 header: signature, PROXY command, TCP over IPv4 (0x11) or IPv6 (0x21), addresses, ports; no TLVs. */
export function proxyV2(src: Endpoint, dst: Endpoint): Uint8Array {
  const [s, d] = pair(src, dst);
  const n = s.length;
  const out = new Uint8Array(16 + 2 * n + 4);
  out.set(V2_SIGNATURE);
  out[12] = 0x21;
  out[13] = n === 4 ? 0x11 : 0x21;
  out[15] = 2 * n + 4;
  out.set(s, 16);
  out.set(d, 16 + n);
  const p = 16 + 2 * n;
  out[p] = src.port >> 8;
  out[p + 1] = src.port & 0xff;
  out[p + 2] = dst.port >> 8;
  out[p + 3] = dst.port & 0xff;
  return out;
}

// ---------------------------------------------------------------------------
// Parser

/** Parse a v1 or v2 header at the start of `buf`. */
export function parseProxyHeader(buf: Uint8Array): ProxyResult {
  if (buf.length === 0) return MORE;
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  if (buf[0] === V1_PREFIX.charCodeAt(0)) return parseV1(buf);
  return fail(0, "not a PROXY protocol header");
}

function parseV1(buf: Uint8Array): ProxyResult {
  const n = Math.min(buf.length, V1_MAX);
  for (let i = 1; i < V1_PREFIX.length && i < n; i++) if (buf[i] !== V1_PREFIX.charCodeAt(i)) return fail(i, "not a PROXY protocol header");
  const lf = buf.subarray(0, n).indexOf(LF);
  if (lf < 0) return buf.length >= V1_MAX ? fail(V1_MAX - 1, `PROXY v1 header without CRLF in its first ${V1_MAX} bytes`) : MORE;
  for (let i = V1_PREFIX.length; i < lf - 1; i++)
    if (buf[i] < 0x20 || buf[i] > 0x7e) return fail(i, buf[i] === CR ? "bare CR in PROXY v1 header" : "invalid character in PROXY v1 header");
  if (buf[lf - 1] !== CR) return fail(lf, "bare LF in PROXY v1 header (must end with CRLF)");
  const line = String.fromCharCode(...buf.subarray(0, lf - 1));
  const parts = line.split(" ");
  const at: number[] = [];
  for (let k = 0, p = 0; k < parts.length; p += parts[k].length + 1, k++) at.push(p);
  const consumed = lf + 1;
  const proto = parts[1];
  if (proto === "UNKNOWN") return { kind: "done", consumed, version: 1, command: "PROXY", family: "UNKNOWN", tlvs: [] };
  if (proto !== "TCP4" && proto !== "TCP6") return fail(at[1], "PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN");
  for (let k = 2; k < 6; k++) if (k >= parts.length || parts[k] === "") return fail(k >= parts.length ? lf - 1 : at[k], "PROXY v1 header: expected single spaces between six fields");
  if (parts.length > 6) return fail(at[6] - 1, "PROXY v1 header: unexpected data after the destination port");
  const v6 = proto === "TCP6";
  const ends: Endpoint[] = [];
  for (let k = 2; k < 4; k++) {
    const b = v6 ? parseIPv6(parts[k]) : parseIPv4(parts[k]);
    if (b === undefined) return fail(at[k], `PROXY v1 header: invalid ${v6 ? "IPv6" : "IPv4"} ${k === 2 ? "source" : "destination"} address`);
    const port = parts[k + 2];
    if (!/^(?:0|[1-9]\d{0,4})$/.test(port) || +port > 65535) return fail(at[k + 2], `PROXY v1 header: invalid ${k === 2 ? "source" : "destination"} port`);
    ends.push({ address: v6 ? formatIPv6(b) : formatIPv4(b), port: +port });
  }
  return { kind: "done", consumed, version: 1, command: "PROXY", family: proto, src: ends[0], dst: ends[1], tlvs: [] };
}

/** Family byte → name and address block length (PROXY command). */
const V2_FAMILIES = new Map<number, [ProxyFamily, number]>([
  [0x00, ["UNKNOWN", 0]], [0x11, ["TCP4", 12]], [0x12, ["UDP4", 12]], [0x21, ["TCP6", 36]], [0x22, ["UDP6", 36]], [0x31, ["UNIX", 216]], [0x32, ["UNIX", 216]],
]);

function parseV2(buf: Uint8Array): ProxyResult {
  const len = buf.length;
  for (let i = 1; i < 12 && i < len; i++) if (buf[i] !== V2_SIGNATURE[i]) return fail(i, "not a PROXY protocol header");
  if (len < 13) return MORE;
  if (buf[12] >> 4 !== 2) return fail(12, `unsupported PROXY protocol version ${buf[12] >> 4}`);
  const local = (buf[12] & 15) === 0;
  if (!local && (buf[12] & 15) !== 1) return fail(12, `unknown PROXY v2 command ${buf[12] & 15}`);
  if (len < 14) return MORE;
  const fam = local ? V2_FAMILIES.get(0) : V2_FAMILIES.get(buf[13]);
  if (fam === undefined) return fail(13, `invalid PROXY v2 address family and transport 0x${buf[13].toString(16).padStart(2, "0")}`);
  if (len < 16) return MORE;
  const [family, need] = fam;
  const total = 16 + ((buf[14] << 8) | buf[15]);
  if (total - 16 < need) return fail(14, `PROXY v2 length ${total - 16} too short for ${family} addresses (${need} bytes)`);
  if (len < total) return MORE;
  const head: ProxyHeader = { version: 2, command: local ? "LOCAL" : "PROXY", family, tlvs: [] };
  if (family === "UNKNOWN") return { kind: "done", consumed: total, ...head };
  if (need === 12 || need === 36) {
    const a = need === 12 ? 4 : 16, p = 16 + 2 * a;
    const text = (o: number) => (a === 4 ? formatIPv4(buf, o) : formatIPv6(buf, o));
    head.src = { address: text(16), port: (buf[p] << 8) | buf[p + 1] };
    head.dst = { address: text(16 + a), port: (buf[p + 2] << 8) | buf[p + 3] };
  }
  for (let p = 16 + need; p < total; ) {
    if (total - p < 3) return fail(p, "truncated PROXY v2 TLV");
    const end = p + 3 + ((buf[p + 1] << 8) | buf[p + 2]);
    if (end > total) return fail(p + 1, "PROXY v2 TLV longer than the header");
    head.tlvs.push({ type: buf[p], value: buf.slice(p + 3, end) });
    p = end;
  }
  return { kind: "done", consumed: total, ...head };
}
