/**
 * Strict, incremental HTTP/1.x head parser (RFC 9112, RFC 9110): requests
 * and responses, pure functions over the bytes received so far. The end of
 * the head (CRLF CRLF) is searched from `scanFrom` (the "more" result says
 * where to resume, so a head fed one byte at a time costs O(n)); then the
 * whole head is parsed in one pass and the framing derived once. It is the
 * boundary against request smuggling: it rejects rather than guesses.
 *
 * Decisions (each one tested in tests/http-*.test.ts):
 * - Bare LF ends no line: it is rejected (400, or 502 in a response) as soon
 *   as it arrives. RFC 9112 §2.2 lets a recipient accept it, but a proxy and a
 *   server that disagree on line ends is how desyncs start, and real clients
 *   send CRLF. A bare CR is rejected too (§2.2 MUST).
 * - One CRLF before a request line is skipped (§2.2: "at least one", for
 *   clients that end a POST body with an extra CRLF); a second empty line is
 *   a 400. Nothing is skipped before a status line.
 * - Host: one in HTTP/1.1 (at most one in 1.0), `host [":" port]` where host
 *   is an IP literal or letters, digits, "-._~" (no sub-delims such as ","
 *   or ";", no percent-encoding: real clients send neither). An
 *   empty Host is rejected: it is only right for a URI without authority, and
 *   an http(s) URI must have a non-empty host (RFC 9110 §4.2). An
 *   absolute-form (http/https, no userinfo) or authority-form target must
 *   equal Host, compared case-insensitively without port normalisation.
 * - Request target: bytes 0x21-0x7E except "#"; origin-form starts with "/",
 *   "*" only with OPTIONS, authority-form (host:port) only and always with
 *   CONNECT. Percent-encoding is neither decoded nor checked.
 * - Version: HTTP/1.0 and HTTP/1.1; another well-formed HTTP/d.d is a 505,
 *   anything else a 400.
 * - Responses: the same rules, every error a 502 (a Transfer-Encoding other
 *   than chunked too, where §6.3 would read until close); status 100-599;
 *   the reason phrase may be missing, with or without its SP. Framing per
 *   §6.3: HEAD, 1xx, 204, 304 have no body whatever the fields say (their
 *   syntax is still checked, and CL with TE is still a 502), then chunked,
 *   then Content-Length, else close-delimited.
 * - The field lines (Content-Length, Transfer-Encoding, Connection) and
 *   the framing they give: fields.ts.
 *
 * Strings: the head is decoded once, as latin1 (types.ts decode: one char
 * per byte), and names and values are substrings of it.
 */
import { isIP } from "node:net";
import { Fields, framing, parseFields } from "./fields.ts";
import {
  BODY_CLOSE, BODY_NONE, DEFAULT_LIMITS,
  type HeadLimits, type HeadResult, type NeedMore, type ParseError,
  type RequestHead, type ResponseBody, type ResponseHead, type TargetForm,
  alnum, among, decode, fail, FVAL, ieq, table, TCHAR,
} from "./types.ts";

const CR = 13, LF = 10, SP = 32, HT = 9, COLON = 0x3a;

const TARGET = table((c) => c > 0x20 && c < 0x7f && c !== 0x23);
/** Host names and IPv4 (sub-delims and "%" left out: some servers split Host on ","); IP literals between brackets. */
const HOSTCH = table((c) => alnum(c) || among("-._~")(c));
const IPLIT = table((c) => (c >= 0x30 && c <= 0x3a) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) || c === 0x2e);

/** Are bytes [a, b) and [c, d) equal, ignoring ASCII case? */
function sameCI(buf: Uint8Array, a: number, b: number, c: number, d: number): boolean {
  if (b - a !== d - c) return false;
  for (let i = 0; i < b - a; i++) {
    const x = buf[a + i], y = buf[c + i];
    if (x !== y && ((x | 0x20) !== (y | 0x20) || (x | 0x20) < 0x61 || (x | 0x20) > 0x7a)) return false;
  }
  return true;
}

/**
 * Search for the end of the head in position order: bare LF, the 431 and 414
 * limits (each fires at a fixed offset, so whole and split input agree) and
 * CRLF CRLF. Returns the offset just past the head, or a result.
 */
function findEnd(buf: Uint8Array, from: number, limits: HeadLimits, response: boolean): number | NeedMore | ParseError {
  const len = buf.length;
  const bad = response ? 502 : 400;
  let hs = 0;
  if (len === 0) return { kind: "more", scanFrom: 0 };
  if (!response && (buf[0] === CR || buf[0] === LF)) {
    if (buf[0] === LF) return fail(0, "bare LF (lines must end with CRLF)", 400);
    if (len < 2) return { kind: "more", scanFrom: 0 };
    if (buf[1] !== LF) return fail(1, "bare CR", 400);
    hs = 2;
    if (len === 2) return { kind: "more", scanFrom: 2 };
  }
  if (from <= hs) {
    const c = buf[hs];
    if (response && c !== 0x48) return fail(0, "invalid status line", 502);
    if (!response && TCHAR[c] === 0)
      return fail(hs, c === CR || c === LF ? "only one empty line may precede the request line" : "invalid character in method", 400);
  }
  const lineLimit = hs + limits.maxRequestLine + 2; // a byte here and no LF before it: start line too long
  const headLimit = hs + limits.maxHeaderBytes; // a byte here and no end before it: head too large
  let i = from > hs ? from : hs + 1;
  for (;;) {
    // A JS loop for short lines (indexOf costs ~10 ns a call), memchr for long ones.
    let lf = i;
    const near = i + 32 < len ? i + 32 : len;
    while (lf < near && buf[lf] !== LF) lf++;
    if (lf === near) lf = near === len ? -1 : buf.indexOf(LF, near);
    const top = lf < 0 ? len - 1 : lf; // limit checks fire for offsets in [i, top]
    if (headLimit >= i && headLimit <= top && headLimit <= lineLimit) return fail(headLimit, "header section too large", response ? 502 : 431);
    if (lineLimit >= i && lineLimit <= top) {
      const first = buf.indexOf(LF, hs); // once per head: i moves past lineLimit
      if (first < 0 || first >= lineLimit)
        return fail(lineLimit - 2, response ? "status line too long" : "request line too long", response ? 502 : 414);
    }
    if (headLimit >= i && headLimit <= top) return fail(headLimit, "header section too large", response ? 502 : 431);
    if (lf < 0) return { kind: "more", scanFrom: len };
    if (buf[lf - 1] !== CR) return fail(lf, "bare LF (lines must end with CRLF)", bad);
    if (buf[lf - 2] === LF) return lf + 1; // CRLF CRLF: every earlier LF follows a CR
    i = lf + 1;
  }
}

/** "HTTP/" DIGIT "." DIGIT at v: 10 * major + minor, or -1. */
function version(buf: Uint8Array, v: number): number {
  if (buf[v] !== 0x48 || buf[v + 1] !== 0x54 || buf[v + 2] !== 0x54 || buf[v + 3] !== 0x50 || buf[v + 4] !== 0x2f) return -1;
  const M = buf[v + 5] - 0x30, m = buf[v + 7] - 0x30;
  if (!(M >= 0 && M <= 9) || buf[v + 6] !== 0x2e || !(m >= 0 && m <= 9)) return -1;
  return M * 10 + m;
}

/**
 * `uri-host [":" port]` in [a, b) (port required with `needPort`): -1 when
 * valid, else the offset of the first wrong byte.
 */
function hostSyntax(buf: Uint8Array, a: number, b: number, needPort: boolean): number {
  let i = a;
  if (buf[i] === 0x5b) {
    i++;
    while (i < b && IPLIT[buf[i]] === 1) i++;
    if (i === a + 1 || i === b || buf[i] !== 0x5d) return i;
    // The characters are right; the literal must be a real IPv6 address too (at most 45 characters:
    // eight groups, the last two as a dotted quad). Not spread into fromCharCode: with max_header_size
    // near 1 MiB, a literal of a few 100,000 bytes overflowed the call stack (found by npm run fuzz).
    if (i - a - 1 > 45 || isIP(decode(buf, a + 1, i)) !== 6) return a + 1;
    i++;
  } else {
    while (i < b && HOSTCH[buf[i]] === 1) i++;
    if (i === a) return a;
  }
  if (i === b) return needPort ? i : -1;
  if (buf[i] !== COLON) return i;
  const p = ++i;
  let port = 0;
  while (i < b && buf[i] >= 0x30 && buf[i] <= 0x39) port = port * 10 + buf[i++] - 0x30;
  return i !== b ? i : i === p || i - p > 5 || port > 65535 ? p : -1;
}

/** Parse a request head: `buf` holds every byte received so far for it, from its first byte. */
export function parseRequestHead(buf: Uint8Array, limits: HeadLimits = DEFAULT_LIMITS, scanFrom = 0): HeadResult<RequestHead> {
  const e = findEnd(buf, scanFrom, limits, false);
  if (typeof e !== "number") return e;
  const hs = buf[0] === CR ? 2 : 0;
  let i = hs;
  while (TCHAR[buf[i]] === 1) i++;
  const mEnd = i;
  if (buf[i] !== SP) return fail(i, buf[i] === HT ? "tab in request line (single spaces only)" : "invalid character in method", 400);
  const tStart = ++i;
  while (TARGET[buf[i]] === 1) i++;
  const tEnd = i;
  let c = buf[i];
  if (c !== SP || tEnd === tStart)
    return fail(i, c === SP ? "more than one space in request line" : c === HT ? "tab in request line (single spaces only)"
      : c === 0x23 ? "fragment (#) in request target" : c === CR ? "no HTTP version in request line" : "invalid character in request target", 400);
  const v = ++i;
  const ver = version(buf, v);
  if (ver < 0 || buf[v + 8] !== CR)
    return fail(ver < 0 ? v : v + 8, buf[v] === SP ? "more than one space in request line" : "invalid HTTP version", 400);
  if (buf[v + 9] !== LF) return fail(v + 8, "bare CR", 400);
  if (ver !== 10 && ver !== 11) return fail(v, "unsupported HTTP version", 505);
  const minor = ver === 11 ? 1 : 0;
  const lineEnd = v + 10;

  const text = decode(buf, hs, e);
  const method = text.substring(0, mEnd - hs);
  let form: TargetForm, authA = -1, authB = -1;
  if (method === "CONNECT") {
    const at = hostSyntax(buf, tStart, tEnd, true);
    if (at >= 0) return fail(at, "CONNECT needs an authority-form target (host:port)", 400);
    form = "authority", authA = tStart, authB = tEnd;
  } else if (buf[tStart] === 0x2f) {
    form = "origin";
  } else if (buf[tStart] === 0x2a && tEnd === tStart + 1) {
    if (method !== "OPTIONS") return fail(tStart, "asterisk-form target is only for OPTIONS", 400);
    form = "asterisk";
  } else {
    let p = tStart;
    if (tEnd - p >= 7 && ieq(buf, p, p + 7, "http://")) p += 7;
    else if (tEnd - p >= 8 && ieq(buf, p, p + 8, "https://")) p += 8;
    else return fail(tStart, "invalid request target (origin-form must start with /)", 400);
    authA = p;
    while (p < tEnd && buf[p] !== 0x2f && buf[p] !== 0x3f) p++;
    authB = p;
    const at = hostSyntax(buf, authA, authB, false);
    if (at >= 0) return fail(at, authA === authB ? "empty host in request target" : buf[at] === 0x40 ? "userinfo in request target" : "invalid host in request target", 400);
    form = "absolute";
  }

  const f = new Fields(text, hs, e);
  const err = parseFields(buf, lineEnd, limits, f, false);
  if (err) return err;
  if (f.hostLine < 0) {
    if (minor === 1) return fail(e - 2, "missing Host (required in HTTP/1.1)", 400);
  } else {
    if (f.hostA === f.hostB) return fail(f.hostA, "empty Host", 400);
    const at = hostSyntax(buf, f.hostA, f.hostB, false);
    if (at >= 0) return fail(at, "invalid Host", 400);
    if (authA >= 0 && !sameCI(buf, authA, authB, f.hostA, f.hostB))
      return fail(f.hostA, "Host does not match the request target", 400);
  }
  const body = framing(f, minor, false);
  if (body.kind === "error") return body;
  const head: RequestHead = {
    method,
    target: text.substring(tStart - hs, tEnd - hs),
    targetForm: form,
    versionMinor: minor,
    fields: f.list,
    lineStart: hs,
    lineEnd,
    body,
    host: f.host ?? (authA >= 0 ? text.substring(authA - hs, authB - hs) : undefined),
    keepAlive: !f.close && (minor === 1 || f.keepAlive),
    connection: f.connection,
    upgrade: minor === 1 && f.upgradeOpt ? f.upgrade : undefined,
    expectContinue: minor === 1 && f.expect,
  };
  return { kind: "done", consumed: e, head };
}

/**
 * Parse a response head (no leading empty line is skipped). `requestMethod`
 * is the method of the request it answers: HEAD responses have no body, and
 * 2xx to CONNECT opens a tunnel.
 */
export function parseResponseHead(buf: Uint8Array, limits: HeadLimits = DEFAULT_LIMITS, scanFrom = 0, requestMethod = "GET"): HeadResult<ResponseHead> {
  const e = findEnd(buf, scanFrom, limits, true);
  if (typeof e !== "number") return e;
  const ver = version(buf, 0);
  if (ver < 0 || buf[8] !== SP) return fail(ver < 0 ? 0 : 8, "invalid status line", 502);
  if (ver !== 10 && ver !== 11) return fail(0, "unsupported HTTP version", 502);
  const minor = ver === 11 ? 1 : 0;
  const d0 = buf[9] - 0x30, d1 = buf[10] - 0x30, d2 = buf[11] - 0x30;
  if (!(d0 >= 1 && d0 <= 5 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9)) return fail(9, "invalid status code", 502);
  const status = d0 * 100 + d1 * 10 + d2;
  let i = 12;
  if (buf[i] === SP) while (FVAL[buf[++i]] !== 0);
  if (buf[i] !== CR) return fail(i, i === 12 ? "invalid status code" : "control character in reason phrase", 502);
  if (buf[i + 1] !== LF) return fail(i, "bare CR", 502);
  const lineEnd = i + 2;
  const f = new Fields(decode(buf, 0, e), 0, e);
  const err = parseFields(buf, lineEnd, limits, f, true);
  if (err) return err;
  const framed = framing(f, minor, true);
  if (framed.kind === "error") return framed;
  const tunnel = status === 101 || (requestMethod === "CONNECT" && status >= 200 && status < 300);
  const body: ResponseBody = requestMethod === "HEAD" || status < 200 || status === 204 || status === 304 || tunnel
    ? BODY_NONE : framed.kind === "none" ? BODY_CLOSE : framed;
  const head: ResponseHead = {
    status,
    reason: i <= 13 ? "" : f.text.substring(13, i),
    versionMinor: minor,
    fields: f.list,
    lineStart: 0,
    lineEnd,
    body,
    tunnel,
    keepAlive: !f.close && (minor === 1 || f.keepAlive) && body.kind !== "close" && !tunnel,
    connection: f.connection,
    upgrade: minor === 1 && f.upgradeOpt ? f.upgrade : undefined,
  };
  return { kind: "done", consumed: e, head };
}
