/**
 * The field section of an HTTP/1.x head (RFC 9112 §5, RFC 9110 §5): the
 * field lines after the start line, parsed in one pass by `parseFields`,
 * and the message framing they give (`framing`). Pure; called by head.ts
 * once it has found the end of the head and checked the start line.
 *
 * Decisions (each one tested in tests/http-*.test.ts):
 * - Content-Length: 1*DIGIT up to 2^53-1. A list ("5, 5") and a second
 *   Content-Length line are rejected even when the values are equal: lines
 *   are forwarded verbatim, so accepting them would pass the ambiguity on.
 * - Transfer-Encoding (over one or more lines): only `chunked` alone
 *   (case-insensitive) is accepted. Empty list elements or parameters,
 *   chunked twice or chunked not final: 400. An unknown coding (`xchunked`,
 *   `identity`, which RFC 7230 removed from the registry): 501. A known coding
 *   before chunked (`gzip, chunked`): 501, since a server behind that does not
 *   know it may ignore the field and misframe the body. A known coding alone
 *   (`gzip`): 400 (§6.3: the request's length cannot be determined). TE with
 *   Content-Length, or in HTTP/1.0: 400.
 * - A Connection option naming Content-Length, Transfer-Encoding or Host is
 *   rejected: a proxy dropping the fields it names would change the framing
 *   (empty Connection list elements are ignored, RFC 9110 §5.6.1). So is a
 *   field name reading Content-Length or Transfer-Encoding with "_" for "-":
 *   CGI/WSGI servers map both to the same variable.
 * - Hop-by-hop (dropped when forwarding, both ways): Connection and the
 *   fields it names, Keep-Alive, Proxy-Connection, TE and Upgrade (kept for
 *   an upgrade). Trailer is forwarded, in requests and responses: RFC 9110
 *   §7.6.1 does not list it (RFC 2616 §13.5.1 did), and it announces the
 *   trailer fields (§6.6.2), which are end-to-end and pass through the
 *   chunked body untouched, so dropping it left them unannounced (issue 8
 *   reports that HAProxy and nginx forward it too). A Trailer named in
 *   Connection is dropped like any field named there. TE stays hop-by-hop
 *   (§10.1.4: it concerns the immediate connection only and its sender must
 *   list it in Connection); plb relays a server's trailers whatever the
 *   client's TE said.
 * - Field lines end with CRLF (a bare CR is rejected); no obsolete line
 *   folding, no whitespace before the colon or before the first field.
 *
 * Names and values are substrings of the head decoded once as latin1 (the
 * `text` of Fields).
 */
import {
  BODY_CHUNKED, BODY_NONE,
  type HeadLimits, type HeaderField, type ParseError, type RequestBody,
  F_CONNECTION, F_CONTENT_LENGTH, F_EXPECT, F_HOST, F_TRANSFER_ENCODING, F_UPGRADE,
  fail, FVAL, ieq, kindAt, nameAt, nameSlot, step, TCHAR,
} from "./types.ts";

const CR = 13, LF = 10, SP = 32, HT = 9, COLON = 0x3a, COMMA = 0x2c;

/** Some servers (CGI, WSGI) read "_" as "-" in names: Content_Length must not slip past as an unrelated field. */
const FRAMING = new Set(["content-length", "transfer-encoding"]);
const KNOWN_CODINGS = ["gzip", "x-gzip", "deflate", "compress", "x-compress"];

/** What the field lines say, gathered in the one pass (offsets of lines or of the first problem of each kind, -1 if none). */
export class Fields {
  list: HeaderField[] = [];
  /** The head decoded (from its first byte: offsets minus `hs`). */
  constructor(readonly text: string, readonly hs: number, readonly end: number) {}
  cl = -1; // the Content-Length value
  clLine = -1;
  te = -1; // the first Transfer-Encoding line
  chunked = 0; // how many times
  twice = -1; notLast = -1; unknown = -1; other = -1;
  hostLine = -1; hostA = 0; hostB = 0;
  host: string | undefined = undefined;
  connection: string[] = [];
  close = false; keepAlive = false; upgradeOpt = false; expect = false;
  upgrade: string | undefined = undefined;
}

/**
 * Walk a comma-separated list of tokens with OWS in [a, b) (trimmed):
 * `each(start, end)` for each token; an empty element is skipped when
 * `empties` is set, else reported. Returns the offset of a wrong byte, or -1.
 */
function tokens(buf: Uint8Array, a: number, b: number, empties: boolean, each: (s: number, e: number) => ParseError | undefined): number | ParseError {
  let i = a;
  for (;;) {
    const s = i;
    while (i < b && TCHAR[buf[i]] === 1) i++;
    if (i > s) {
      const e = each(s, i);
      if (e) return e;
    } else if (!empties || (i < b && buf[i] !== COMMA)) return i;
    while (i < b && (buf[i] === SP || buf[i] === HT)) i++;
    if (i === b) return -1;
    if (buf[i] !== COMMA) return i;
    i++;
    while (i < b && (buf[i] === SP || buf[i] === HT)) i++;
  }
}

function transferEncoding(buf: Uint8Array, a: number, b: number, start: number, f: Fields, bad: number): ParseError | undefined {
  if (f.te < 0) f.te = start;
  const r = tokens(buf, a, b, false, (s, e) => {
    if (ieq(buf, s, e, "chunked")) {
      if (f.chunked++ > 0 && f.twice < 0) f.twice = s;
    } else {
      if (f.chunked > 0 && f.notLast < 0) f.notLast = s;
      if (!KNOWN_CODINGS.some((k) => ieq(buf, s, e, k))) f.unknown = f.unknown < 0 ? s : f.unknown;
      else if (f.other < 0) f.other = s;
    }
    return undefined;
  });
  if (typeof r !== "number") return r;
  return r < 0 ? undefined : fail(r, a === b ? "empty Transfer-Encoding" : r === b || buf[r] === COMMA ? "empty element in Transfer-Encoding"
    : "invalid Transfer-Encoding (parameters are not accepted)", bad);
}

function connectionOptions(buf: Uint8Array, a: number, b: number, f: Fields, bad: number): ParseError | undefined {
  const r = tokens(buf, a, b, true, (s, e) => {
    const o = ieq(buf, s, e, "close") ? "close" : ieq(buf, s, e, "keep-alive") ? "keep-alive" : ieq(buf, s, e, "upgrade") ? "upgrade"
      : f.text.substring(s - f.hs, e - f.hs).toLowerCase();
    if (o === "content-length" || o === "transfer-encoding" || o === "host") return fail(s, `Connection names ${o}`, bad);
    f.connection.push(o);
    if (o === "close") f.close = true;
    else if (o === "keep-alive") f.keepAlive = true;
    else if (o === "upgrade") f.upgradeOpt = true;
    return undefined;
  });
  return typeof r !== "number" ? r : r < 0 ? undefined : fail(r, "invalid Connection option", bad);
}

/** The field lines from i to the final CRLF (the head ends at e). */
export function parseFields(buf: Uint8Array, i: number, limits: HeadLimits, f: Fields, response: boolean): ParseError | undefined {
  const bad = response ? 502 : 400;
  const list = f.list, hs = f.hs;
  const text = f.text;
  for (;;) {
    const start = i;
    let c = buf[i];
    if (c === CR) return buf[i + 1] === LF ? undefined : fail(i, "bare CR", bad);
    if (c === SP || c === HT) return fail(i, list.length === 0 ? "whitespace before the first header field" : "obsolete line folding", bad);
    let upper = false, h = 0;
    while (TCHAR[(c = buf[i])] === 1) {
      if (c <= 0x5a && c >= 0x41) upper = true;
      h = step(h, c);
      i++;
    }
    if (c !== COLON || i === start)
      return fail(i, c === COLON ? "empty field name" : c === SP || c === HT ? "whitespace between field name and colon"
        : c === CR ? "field line without a colon" : "invalid character in field name", bad);
    const nameEnd = i++;
    while ((c = buf[i]) === SP || c === HT) i++;
    const a = i;
    while (FVAL[buf[i]] === 1) i++;
    if ((c = buf[i]) !== CR || buf[i + 1] !== LF)
      return fail(i, c === CR ? "bare CR in field value" : c === 0 ? "NUL in field value" : "control character in field value", bad);
    let b = i;
    while (b > a && ((c = buf[b - 1]) === SP || c === HT)) b--;
    i += 2;
    if (list.length >= limits.maxHeaders) return fail(start, "too many header fields", response ? 502 : 431);
    const name = text.substring(start - hs, nameEnd - hs);
    const slot = nameSlot(buf, start, nameEnd, h);
    const lower = slot >= 0 ? nameAt(slot) : upper ? name.toLowerCase() : name;
    if (slot < 0 && (lower.length === 14 || lower.length === 17) && lower.includes("_") && FRAMING.has(lower.replaceAll("_", "-")))
      return fail(start, "field name resembling a framing field (\"_\" for \"-\")", bad);
    const value = text.substring(a - hs, b - hs);
    list.push({ name, lower, value, start, end: i });
    let e: ParseError | undefined;
    switch (slot < 0 ? 0 : kindAt(slot)) {
      case F_HOST:
        if (f.hostLine >= 0) return fail(start, "duplicate Host", bad);
        f.hostLine = start, f.hostA = a, f.hostB = b, f.host = value;
        break;
      case F_CONTENT_LENGTH: e = contentLength(buf, a, b, start, f, bad); break;
      case F_TRANSFER_ENCODING: e = transferEncoding(buf, a, b, start, f, bad); break;
      case F_CONNECTION: e = connectionOptions(buf, a, b, f, bad); break;
      case F_UPGRADE: f.upgrade = f.upgrade === undefined ? value : `${f.upgrade}, ${value}`; break;
      case F_EXPECT: if (ieq(buf, a, b, "100-continue")) f.expect = true; break;
    }
    if (e) return e;
  }
}

function contentLength(buf: Uint8Array, a: number, b: number, start: number, f: Fields, bad: number): ParseError | undefined {
  if (f.cl >= 0) return fail(start, "duplicate Content-Length", bad);
  if (a === b) return fail(a, "empty Content-Length", bad);
  let n = 0;
  for (let i = a; i < b; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return fail(i, buf[i] === COMMA ? "Content-Length list (even of equal values)" : "invalid character in Content-Length", bad);
    n = n * 10 + d;
    if (n > Number.MAX_SAFE_INTEGER) return fail(i, "Content-Length over 2^53-1", bad);
  }
  f.cl = n;
  f.clLine = start;
  return undefined;
}

/** Transfer-Encoding / Content-Length rules shared by both sides. */
export function framing(f: Fields, minor: number, response: boolean): ParseError | RequestBody {
  const bad = response ? 502 : 400;
  if (f.te < 0) return f.cl >= 0 ? { kind: "length", length: f.cl } : BODY_NONE;
  if (minor === 0) return fail(f.te, "Transfer-Encoding in an HTTP/1.0 message", bad);
  if (f.cl >= 0) return fail(Math.max(f.te, f.clLine), "both Content-Length and Transfer-Encoding", bad);
  if (f.twice >= 0) return fail(f.twice, "chunked applied twice", bad);
  if (f.notLast >= 0) return fail(f.notLast, "chunked is not the final transfer coding", bad);
  if (f.unknown >= 0) return fail(f.unknown, "unknown transfer coding", response ? 502 : 501);
  if (f.chunked === 0) return fail(f.other, "final transfer coding is not chunked", bad);
  if (f.other >= 0) return fail(f.other, "transfer codings other than chunked are not supported", response ? 502 : 501);
  return BODY_CHUNKED;
}
