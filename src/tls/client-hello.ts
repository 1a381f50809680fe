/**
 * The TLS ClientHello as a passthrough reads it (RFC 8446 §4.1.2, RFC 5246
 * §7.4.1.2, RFC 6066 §3 server_name, RFC 7301 ALPN): a pure function over
 * the bytes a client sent so far, which are never changed (they are
 * relayed to the server as they came).
 *
 * The message may be split over several handshake records and those over
 * any number of reads. Each call walks the record headers from the start
 * (at most MAX_RECORDS of them, so a client sending one byte at a time
 * costs O(n)); the body is parsed once it is whole. Checks fire as soon as
 * their bytes are there: the record headers and the handshake header
 * (type ClientHello, length within the bound) byte by byte, the body when
 * it is complete. Every prefix of an input therefore gives "more" or the
 * whole input's result.
 *
 * Decisions:
 * - Bounded: a ClientHello above MAX_HELLO bytes (its 4-byte header
 *   included) or spread over more than MAX_RECORDS records is an error.
 *   Real ones are 200 B to 2 KiB (with post-quantum key shares) in one record.
 * - `notTls` on an error says the first bytes are not a TLS handshake
 *   record at all (another protocol on the port: an HTTP request, SSH),
 *   as opposed to a broken or hostile ClientHello.
 * - server_name: the host_name entry, lowercased, one trailing dot
 *   dropped; letters, digits, "-", "_" and dots only, 1 to 253 bytes, no
 *   empty label (an IP literal is not a host name, RFC 6066: it is
 *   reported as an error, not matched). A second host_name entry, or a
 *   repeated extension, is an error (RFC 6066 §3, RFC 8446 §4.2).
 * - ALPN: the protocol names as latin1 strings, in the client's order; an
 *   empty list or an empty name is an error.
 * - `consumed`: the end of the record holding the message's last byte
 *   (bytes after it, such as a ChangeCipherSpec record or early data,
 *   were not looked at).
 */

/** The most bytes a ClientHello may take, its 4-byte handshake header included. */
export const MAX_HELLO = 16 << 10;
/** The most records a ClientHello may be spread over. */
export const MAX_RECORDS = 4;

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
/** TLSPlaintext.length bound (RFC 8446 §5.1). */
const MAX_FRAGMENT = 1 << 14;

export interface HelloMore {
  readonly kind: "more";
}

export interface HelloError {
  readonly kind: "error";
  /** Offset in the input of the byte found wrong (or of the record that exceeds a bound). */
  readonly position: number;
  readonly reason: string;
  /** The input does not start with a TLS handshake record: another protocol. */
  readonly notTls: boolean;
}

export interface HelloDone {
  readonly kind: "done";
  /** The host_name, lowercased, without a trailing dot; undefined when the client sent none. */
  readonly serverName: string | undefined;
  /** ALPN protocol names in the client's order; empty without the extension. */
  readonly alpn: readonly string[];
  /** Bytes looked at: up to the end of the record holding the message's last byte. */
  readonly consumed: number;
}

export type HelloResult = HelloMore | HelloError | HelloDone;

const MORE: HelloMore = Object.freeze({ kind: "more" });

function fail(position: number, reason: string, notTls = false): HelloError {
  return { kind: "error", position, reason, notTls };
}

/**
 * Read the ClientHello at the start of `buf` (every byte the client sent so
 * far, from the first).
 */
export function parseClientHello(buf: Uint8Array): HelloResult {
  const len = buf.length;
  // Walk the records, gathering where each fragment is.
  const starts: number[] = [];
  const ends: number[] = [];
  let have = 0; // handshake bytes present so far (all fragments)
  let need = -1; // total handshake bytes of the message, once its header is known
  let at = 0;
  for (let r = 0; ; r++) {
    if (at >= len) return MORE;
    if (r === MAX_RECORDS) return fail(at, `the ClientHello is spread over more than ${MAX_RECORDS} records`);
    // Record header: type(1) version(2) length(2).
    if (buf[at] !== HANDSHAKE) return fail(at, r === 0 ? "not a TLS handshake record" : `record ${r + 1} is not a handshake record (type ${buf[at]}) before the ClientHello ended`, r === 0);
    if (at + 1 >= len) return MORE;
    if (buf[at + 1] !== 3) return fail(at + 1, `record version major ${buf[at + 1]} (TLS has 3)`, r === 0);
    if (at + 2 >= len) return MORE;
    if (buf[at + 2] > 4) return fail(at + 2, `record version 3.${buf[at + 2]} is not a TLS version`, r === 0);
    if (at + 4 >= len) return MORE;
    const fragment = (buf[at + 3] << 8) | buf[at + 4];
    if (fragment === 0) return fail(at + 3, "an empty handshake record");
    if (fragment > MAX_FRAGMENT) return fail(at + 3, `a record of ${fragment} bytes (at most ${MAX_FRAGMENT})`);
    const start = at + 5;
    const end = start + fragment;
    starts.push(start);
    ends.push(end);
    // The handshake header (type(1) length(3)) may itself be split over records.
    const present = Math.min(end, len) - start;
    for (let i = 0; i < present && have + i < 4; i++) {
      const p = start + i;
      const k = have + i;
      if (k === 0 && buf[p] !== CLIENT_HELLO) return fail(p, `handshake message type ${buf[p]} (a ClientHello is 1)`);
      if (k === 3) {
        const body = handshakeByte(buf, starts, ends, 1) * 65536 + handshakeByte(buf, starts, ends, 2) * 256 + buf[p];
        if (body + 4 > MAX_HELLO) return fail(p, `a ClientHello of ${body + 4} bytes (at most ${MAX_HELLO})`);
        if (body === 0) return fail(p, "an empty ClientHello");
        need = body + 4;
      }
    }
    have += present;
    if (need >= 0 && have >= need) {
      if (end > len) return MORE; // the message is whole, its record not yet: keep the record boundary
      return parseBody(gather(buf, starts, ends, need), starts, ends, end);
    }
    if (end > len) return MORE;
    at = end;
  }
}

/** The handshake byte at offset `k` of the reassembled message (it is present). */
function handshakeByte(buf: Uint8Array, starts: number[], ends: number[], k: number): number {
  for (let i = 0; i < starts.length; i++) {
    const n = ends[i] - starts[i];
    if (k < n) return buf[starts[i] + k];
    k -= n;
  }
  return 0;
}

/** The first `need` handshake bytes, copied only when the message spans records. */
function gather(buf: Uint8Array, starts: number[], ends: number[], need: number): Uint8Array {
  if (ends[0] - starts[0] >= need) return buf.subarray(starts[0], starts[0] + need);
  const out = new Uint8Array(need);
  let o = 0;
  for (let i = 0; i < starts.length && o < need; i++) {
    const n = Math.min(ends[i] - starts[i], need - o);
    out.set(buf.subarray(starts[i], starts[i] + n), o);
    o += n;
  }
  return out;
}

/** Input offset of message offset `k` (for error positions). */
function inputOffset(starts: number[], ends: number[], k: number): number {
  for (let i = 0; i < starts.length; i++) {
    const n = ends[i] - starts[i];
    if (k < n) return starts[i] + k;
    k -= n;
  }
  return ends[ends.length - 1];
}

const HOST = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f ? 1 : 0;
  return t;
})();

/** Parse the whole message `m` (header included); `starts` and `ends` map error offsets back to the input. */
function parseBody(m: Uint8Array, starts: number[], ends: number[], consumed: number): HelloResult {
  const bad = (k: number, reason: string) => fail(inputOffset(starts, ends, k), reason);
  const n = m.length;
  let p = 4;
  if (n < p + 2 + 32 + 1) return bad(n - 1, "the ClientHello ends inside its version, random and session id");
  if (m[p] !== 3) return bad(p, `client version major ${m[p]} (TLS has 3)`);
  p += 2 + 32;
  const sid = m[p];
  if (sid > 32) return bad(p, `a session id of ${sid} bytes (at most 32)`);
  p += 1 + sid;
  if (p + 2 > n) return bad(n - 1, "the ClientHello ends inside its session id");
  const suites = (m[p] << 8) | m[p + 1];
  if (suites < 2 || suites % 2 !== 0) return bad(p, `a cipher suite list of ${suites} bytes (a non-empty list of 2-byte suites)`);
  p += 2 + suites;
  if (p + 1 > n) return bad(n - 1, "the ClientHello ends inside its cipher suites");
  const comp = m[p];
  if (comp < 1) return bad(p, "no compression methods (at least \"null\")");
  p += 1 + comp;
  if (p > n) return bad(n - 1, "the ClientHello ends inside its compression methods");
  let serverName: string | undefined;
  let alpn: string[] = [];
  if (p === n) return { kind: "done", serverName, alpn, consumed }; // no extensions (TLS 1.2 allows it)
  if (p + 2 > n) return bad(p, "one byte where the extensions' length is");
  const extLen = (m[p] << 8) | m[p + 1];
  p += 2;
  if (p + extLen !== n) return bad(p - 2, `extensions of ${extLen} bytes where ${n - p} remain in the ClientHello`);
  const seen = new Set<number>();
  while (p < n) {
    if (p + 4 > n) return bad(p, "the extensions end inside an extension header");
    const type = (m[p] << 8) | m[p + 1];
    const size = (m[p + 2] << 8) | m[p + 3];
    const body = p + 4;
    if (body + size > n) return bad(p + 2, `extension ${type} of ${size} bytes goes past the extensions`);
    if (seen.has(type)) return bad(p, `extension ${type} given twice`);
    seen.add(type);
    if (type === EXT_SERVER_NAME) {
      const r = serverNameOf(m, body, size);
      if (typeof r !== "string" && r !== undefined) return bad(r.at, r.reason);
      serverName = r;
    } else if (type === EXT_ALPN) {
      const r = alpnOf(m, body, size);
      if (!Array.isArray(r)) return bad((r as Problem).at, (r as Problem).reason);
      alpn = r;
    }
    p = body + size;
  }
  return { kind: "done", serverName, alpn, consumed };
}

interface Problem {
  readonly at: number;
  readonly reason: string;
}

/** The host_name of a server_name extension body at [p, p + size), lowercased; undefined when none is listed. */
function serverNameOf(m: Uint8Array, p: number, size: number): string | undefined | Problem {
  // An empty extension body is what a server sends back; a client must list names.
  if (size < 2) return { at: p - 2, reason: "a server_name extension without a name list" }; // at its length (p may be the end)
  const list = (m[p] << 8) | m[p + 1];
  if (list + 2 !== size || list === 0) return { at: p, reason: `a server_name list of ${list} bytes in an extension of ${size}` };
  const end = p + size;
  let q = p + 2;
  let name: string | undefined;
  while (q < end) {
    if (q + 3 > end) return { at: q, reason: "the server_name list ends inside an entry header" };
    const type = m[q];
    const l = (m[q + 1] << 8) | m[q + 2];
    const s = q + 3;
    if (s + l > end) return { at: q + 1, reason: `a server_name entry of ${l} bytes goes past the list` };
    if (type === 0) {
      if (name !== undefined) return { at: q, reason: "two host_name entries (RFC 6066 allows one)" };
      const h = hostName(m, s, l);
      if (typeof h !== "string") return h;
      name = h;
    }
    q = s + l;
  }
  return name;
}

function hostName(m: Uint8Array, s: number, l: number): string | Problem {
  let e = s + l;
  if (l > 0 && m[e - 1] === 0x2e) e--; // one trailing dot
  if (e - s < 1 || e - s > 253) return { at: s - 2, reason: `a host_name of ${l} bytes (1 to 253)` }; // at its length
  let label = 0;
  let out = "";
  for (let i = s; i < e; i++) {
    const c = m[i];
    if (c === 0x2e) {
      if (label === 0) return { at: i, reason: "an empty label in the host_name" };
      label = 0;
    } else if (HOST[c] === 0) {
      return { at: i, reason: `byte ${c} in the host_name (letters, digits, "-", "_" and dots only)` };
    } else label++;
    out += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
  }
  if (label === 0) return { at: e, reason: "an empty label in the host_name" };
  if (/^[0-9.]+$/.test(out)) return { at: s, reason: "an IP address as host_name (RFC 6066 allows names only)" };
  return out;
}

/** The protocol names of an ALPN extension body at [p, p + size). */
function alpnOf(m: Uint8Array, p: number, size: number): string[] | Problem {
  if (size < 2) return { at: p - 2, reason: "an ALPN extension without a protocol list" };
  const list = (m[p] << 8) | m[p + 1];
  if (list + 2 !== size || list === 0) return { at: p, reason: `an ALPN list of ${list} bytes in an extension of ${size}` };
  const end = p + size;
  const out: string[] = [];
  for (let q = p + 2; q < end; ) {
    const l = m[q];
    if (l === 0) return { at: q, reason: "an empty ALPN protocol name" };
    if (q + 1 + l > end) return { at: q, reason: `an ALPN protocol name of ${l} bytes goes past the list` };
    let s = "";
    for (let i = q + 1; i <= q + l; i++) s += String.fromCharCode(m[i]);
    out.push(s);
    q += 1 + l;
  }
  return out;
}
