/**
 * An independent, strict HTTP/1.1 request reader for tests: the referee
 * that decides whether what plb forwarded to a server is one well-formed,
 * unambiguous request. It shares no code with plb's parser (src/http/) and
 * is deliberately simple (re-parses from the message start on every call,
 * throws on running out of bytes) rather than fast.
 *
 * What it accepts (RFC 9112 / RFC 9110, read narrowly):
 * - request line `method SP target SP HTTP/1.0|HTTP/1.1 CRLF`, method a
 *   token, target visible ASCII without "#", no leading empty line;
 * - field lines `token ":" OWS value OWS CRLF`, value bytes HTAB, SP,
 *   VCHAR or obs-text: no NUL, CR, LF, other controls or DEL anywhere, every
 *   line ends with CRLF, no obs-fold, no whitespace before the colon;
 * - Host: exactly one in HTTP/1.1, at most one in HTTP/1.0, non-empty,
 *   `uri-host [":" port]` per RFC 3986; an absolute-form target's authority
 *   must equal it (no userinfo);
 * - framing: at most one framing field line in all: one `Content-Length`
 *   of 1-15 digits, or one `Transfer-Encoding: chunked` (HTTP/1.1 only);
 *   never both, never a list, never `Content_Length`/`Transfer_Encoding`
 *   look-alikes;
 * - chunked bodies: 1-16 hex digits, extensions `;name[=token|quoted]` with
 *   BWS only where RFC 9112 §7.1.1 puts it, CRLF after every size line and
 *   chunk, trailer fields with the field rules (and not Content-Length,
 *   Transfer-Encoding or Host), then CRLF.
 */

export interface StrictField {
  name: string;
  lower: string;
  value: string;
}

export interface StrictRequest {
  method: string;
  target: string;
  version: "1.0" | "1.1";
  fields: StrictField[];
  framing: "none" | "length" | "chunked";
  host: string | undefined;
  /** Bytes of the head, final CRLF included. */
  headLength: number;
  /** Bytes of the whole message (head and framed body). */
  length: number;
  /** The body as framed on the wire (chunked: still encoded, trailers included). */
  body: Uint8Array;
  /** The body decoded (chunk data only). */
  payload: Uint8Array;
  trailers: StrictField[];
}

export type StrictResult =
  | { kind: "more"; headComplete: boolean }
  | { kind: "error"; at: number; reason: string }
  | { kind: "request"; request: StrictRequest };

const CR = 13, LF = 10, SP = 32, HT = 9;
const TOKEN_EXTRA = "!#$%&'*+-.^_`|~";

export function isTchar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || TOKEN_EXTRA.includes(String.fromCharCode(c));
}

/** Field content byte: HTAB, SP, VCHAR, obs-text. */
function isFieldByte(c: number): boolean {
  return c === HT || c === SP || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

class More {
  constructor(readonly headComplete: boolean) {}
}
class Bad {
  constructor(
    readonly at: number,
    readonly reason: string,
  ) {}
}

const latin1 = (b: Uint8Array, a: number, e: number) => {
  let s = "";
  for (let i = a; i < e; i++) s += String.fromCharCode(b[i]);
  return s;
};

/** Reads one line from `i`: returns [end of content (the CR), start of next line]. */
function line(buf: Uint8Array, i: number, headDone: boolean): [number, number] {
  for (let j = i; ; j++) {
    if (j >= buf.length) throw new More(headDone);
    const c = buf[j];
    if (c === LF) throw new Bad(j, "bare LF");
    if (c === CR) {
      if (j + 1 >= buf.length) throw new More(headDone);
      if (buf[j + 1] !== LF) throw new Bad(j, "bare CR");
      return [j, j + 2];
    }
  }
}

/** A field line [a, e): name ":" OWS value OWS. */
function fieldLine(buf: Uint8Array, a: number, e: number): StrictField {
  if (buf[a] === SP || buf[a] === HT) throw new Bad(a, "obs-fold or leading whitespace");
  let i = a;
  while (i < e && isTchar(buf[i])) i++;
  if (i === a) throw new Bad(a, "empty or invalid field name");
  if (i === e || buf[i] !== 0x3a) throw new Bad(i, buf[i] === SP || buf[i] === HT ? "whitespace before colon" : "invalid byte in field name");
  const name = latin1(buf, a, i);
  i++;
  for (let j = i; j < e; j++) if (!isFieldByte(buf[j])) throw new Bad(j, `invalid byte 0x${buf[j].toString(16)} in field value`);
  let s = i, t = e;
  while (s < t && (buf[s] === SP || buf[s] === HT)) s++;
  while (t > s && (buf[t - 1] === SP || buf[t - 1] === HT)) t--;
  return { name, lower: name.toLowerCase(), value: latin1(buf, s, t) };
}

const HEXDIG = /^[0-9A-Fa-f]$/;
const UNRESERVED_SUBDELIMS = /^[A-Za-z0-9\-._~!$&'()*+,;=]$/;

const isIPv4 = (s: string) => /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/.test(s);

/** RFC 3986 IPv6address: 8 groups of 1-4 hex digits (the last two may be an IPv4 address), or fewer with one "::". */
export function isIPv6(s: string): boolean {
  let groups = 0;
  if (s.includes(".")) {
    const c = s.lastIndexOf(":");
    if (c < 0 || !isIPv4(s.slice(c + 1))) return false;
    s = s.slice(0, c + 1) + "0:0";
  }
  const d = s.indexOf("::");
  if (d >= 0 && s.indexOf("::", d + 1) >= 0) return false;
  for (const part of d >= 0 ? [s.slice(0, d), s.slice(d + 2)] : [s]) {
    if (part === "") continue;
    for (const g of part.split(":")) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return false;
      groups++;
    }
  }
  return d >= 0 ? groups <= 7 : groups === 8;
}

/** RFC 3986 `host [":" port]`, host non-empty. */
export function validHostPort(v: string): boolean {
  let host = v, port: string | undefined;
  if (v.startsWith("[")) {
    const close = v.indexOf("]");
    if (close < 0) return false;
    host = v.slice(0, close + 1);
    const rest = v.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return false;
      port = rest.slice(1);
    }
    const inner = host.slice(1, -1);
    if (!isIPv6(inner) && !/^v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/.test(inner)) return false;
  } else {
    const colon = v.lastIndexOf(":");
    if (colon >= 0) {
      host = v.slice(0, colon);
      port = v.slice(colon + 1);
    }
    if (host === "") return false;
    for (let i = 0; i < host.length; i++) {
      const ch = host[i];
      if (ch === "%") {
        if (!HEXDIG.test(host[i + 1] ?? "") || !HEXDIG.test(host[i + 2] ?? "")) return false;
        i += 2;
      } else if (!UNRESERVED_SUBDELIMS.test(ch)) return false;
    }
  }
  return port === undefined || /^[0-9]*$/.test(port);
}

/** Parse one request starting at `start`; offsets in results are absolute. */
export function parseStrictRequest(buf: Uint8Array, start = 0): StrictResult {
  try {
    return { kind: "request", request: parse(buf, start) };
  } catch (e) {
    if (e instanceof More) return { kind: "more", headComplete: e.headComplete };
    if (e instanceof Bad) return { kind: "error", at: e.at, reason: e.reason };
    throw e;
  }
}

function parse(buf: Uint8Array, start: number): StrictRequest {
  // Request line.
  const [rlEnd, afterRl] = line(buf, start, false);
  let i = start;
  while (i < rlEnd && isTchar(buf[i])) i++;
  if (i === start || buf[i] !== SP) throw new Bad(i, "invalid method");
  const method = latin1(buf, start, i);
  const tA = ++i;
  while (i < rlEnd && buf[i] > 0x20 && buf[i] < 0x7f && buf[i] !== 0x23) i++;
  if (i === tA || buf[i] !== SP) throw new Bad(i, "invalid request target");
  const target = latin1(buf, tA, i);
  const ver = latin1(buf, i + 1, rlEnd);
  if (ver !== "HTTP/1.1" && ver !== "HTTP/1.0") throw new Bad(i + 1, "invalid version");
  const version = ver === "HTTP/1.1" ? "1.1" : "1.0";

  // Field lines.
  const fields: StrictField[] = [];
  let at = afterRl;
  for (;;) {
    const [e, next] = line(buf, at, false);
    if (e === at) {
      at = next;
      break;
    }
    fields.push(fieldLine(buf, at, e));
    at = next;
  }
  const headLength = at - start;

  // Target form and Host.
  const hosts = fields.filter((f) => f.lower === "host");
  if (version === "1.1" ? hosts.length !== 1 : hosts.length > 1) throw new Bad(start, `${hosts.length} Host fields in HTTP/${version}`);
  const host = hosts[0]?.value;
  if (host !== undefined && !validHostPort(host)) throw new Bad(start, `invalid Host ${JSON.stringify(host)}`);
  const abs = /^https?:\/\//i.exec(target);
  if (abs) {
    const rest = target.slice(abs[0].length);
    const authority = rest.slice(0, rest.search(/[/?]|$/));
    if (authority.includes("@") || !validHostPort(authority)) throw new Bad(tA, "invalid authority in absolute-form target");
    if (host !== undefined && host.toLowerCase() !== authority.toLowerCase()) throw new Bad(tA, "absolute-form target disagrees with Host");
  } else if (method === "CONNECT") {
    if (!validHostPort(target) || !/:[0-9]+$/.test(target)) throw new Bad(tA, "CONNECT needs host:port");
  } else if (target === "*") {
    if (method !== "OPTIONS") throw new Bad(tA, "asterisk-form is only for OPTIONS");
  } else if (!target.startsWith("/")) throw new Bad(tA, "invalid request target form");

  // Framing.
  const look = fields.find((f) => f.lower === "content_length" || f.lower === "transfer_encoding");
  if (look) throw new Bad(start, `framing look-alike field ${look.name}`);
  const cls = fields.filter((f) => f.lower === "content-length");
  const tes = fields.filter((f) => f.lower === "transfer-encoding");
  if (cls.length + tes.length > 1) throw new Bad(start, `${cls.length} Content-Length and ${tes.length} Transfer-Encoding fields`);
  let framing: StrictRequest["framing"] = "none";
  let body: Uint8Array = new Uint8Array(0), payload: Uint8Array = body;
  let trailers: StrictField[] = [];
  if (cls.length === 1) {
    if (!/^[0-9]{1,15}$/.test(cls[0].value)) throw new Bad(start, `invalid Content-Length ${JSON.stringify(cls[0].value)}`);
    const n = Number(cls[0].value);
    framing = "length";
    if (at + n > buf.length) throw new More(true);
    body = payload = buf.subarray(at, at + n);
    at += n;
  } else if (tes.length === 1) {
    if (tes[0].value.toLowerCase() !== "chunked") throw new Bad(start, `Transfer-Encoding ${JSON.stringify(tes[0].value)}`);
    if (version === "1.0") throw new Bad(start, "Transfer-Encoding in HTTP/1.0");
    framing = "chunked";
    const b0 = at;
    const parts: Uint8Array[] = [];
    [at, trailers] = chunked(buf, at, parts);
    body = buf.subarray(b0, at);
    payload = concat(parts);
  }
  return { method, target, version, fields, framing, host, headLength, length: at - start, body, payload, trailers };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
}

/** A chunked body from `i`: [offset past it, trailers]. */
function chunked(buf: Uint8Array, i: number, parts: Uint8Array[]): [number, StrictField[]] {
  const byte = (j: number) => {
    if (j >= buf.length) throw new More(true);
    return buf[j];
  };
  const bws = (j: number) => {
    while (byte(j) === SP || byte(j) === HT) j++;
    return j;
  };
  for (;;) {
    // chunk-size
    let j = i, size = 0;
    while (HEXDIG.test(String.fromCharCode(byte(j)))) {
      size = size * 16 + parseInt(String.fromCharCode(buf[j]), 16);
      j++;
    }
    if (j === i || j - i > 16 || size > Number.MAX_SAFE_INTEGER) throw new Bad(i, "invalid chunk size");
    // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )
    for (;;) {
      const k = bws(j);
      if (byte(k) !== 0x3b) {
        if (k !== j) throw new Bad(j, "whitespace not followed by ';' in chunk line");
        break;
      }
      j = bws(k + 1);
      const n0 = j;
      while (isTchar(byte(j))) j++;
      if (j === n0) throw new Bad(j, "invalid chunk extension name");
      const k2 = bws(j);
      if (byte(k2) === 0x3d) {
        j = bws(k2 + 1);
        if (byte(j) === 0x22) {
          j++;
          for (;;) {
            const c = byte(j);
            if (c === 0x22) break;
            if (c === 0x5c) {
              const q = byte(j + 1);
              if (!(q === HT || q === SP || (q >= 0x21 && q <= 0x7e) || q >= 0x80)) throw new Bad(j + 1, "invalid quoted-pair");
              j += 2;
              continue;
            }
            if (!(c === HT || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80)) throw new Bad(j, "invalid byte in quoted string");
            j++;
          }
          j++;
        } else {
          const v0 = j;
          while (isTchar(byte(j))) j++;
          if (j === v0) throw new Bad(j, "invalid chunk extension value");
        }
      }
    }
    if (byte(j) !== CR) throw new Bad(j, "invalid byte in chunk line");
    if (byte(j + 1) !== LF) throw new Bad(j + 1, "bare CR in chunk line");
    j += 2;
    if (size === 0) {
      // trailer section
      const trailers: StrictField[] = [];
      for (;;) {
        const [e, next] = line(buf, j, true);
        if (e === j) return [next, trailers];
        const f = fieldLine(buf, j, e);
        if (["content-length", "transfer-encoding", "host", "content_length", "transfer_encoding"].includes(f.lower))
          throw new Bad(j, `${f.name} in trailers`);
        trailers.push(f);
        j = next;
      }
    }
    if (j + size + 2 > buf.length) throw new More(true);
    parts.push(buf.subarray(j, j + size));
    j += size;
    if (buf[j] !== CR || buf[j + 1] !== LF) throw new Bad(j, "missing CRLF after chunk data");
    i = j + 2;
  }
}

/** Text of bytes as latin1, escaping controls, for messages. */
export function show(b: Uint8Array | string): string {
  const s = typeof b === "string" ? b : latin1(b, 0, b.length);
  return JSON.stringify(s);
}

// ---------------------------------------------------------------------------
// Responses, as a client reads them (enough for plb's answers and the test
// backends': Content-Length, chunked, or until close; HEAD/1xx/204/304 bodiless).

export interface ClientResponse {
  status: number;
  head: string;
  fields: StrictField[];
  body: string;
  /** Bytes of the whole response. */
  length: number;
}

export type ResponseResult = { kind: "more" } | { kind: "error"; reason: string } | { kind: "response"; response: ClientResponse };

/** One response at `start` of `buf`; `closed`: no more bytes will come (ends a close-delimited body). */
export function parseClientResponse(buf: Uint8Array, start: number, noBody: boolean, closed: boolean): ResponseResult {
  let end = -1;
  for (let j = start; j + 3 < buf.length; j++)
    if (buf[j] === CR && buf[j + 1] === LF && buf[j + 2] === CR && buf[j + 3] === LF) {
      end = j + 4;
      break;
    }
  if (end < 0) return { kind: "more" };
  const head = latin1(buf, start, end);
  const m = /^HTTP\/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?\r\n/.exec(head);
  if (!m) return { kind: "error", reason: `bad status line in ${show(head)}` };
  const status = Number(m[1]);
  const fields: StrictField[] = [];
  for (const l of head.slice(m[0].length, -4).split("\r\n").filter((x) => x !== "")) {
    const c = l.indexOf(":");
    if (c <= 0) return { kind: "error", reason: `bad field line ${show(l)}` };
    const name = l.slice(0, c);
    fields.push({ name, lower: name.toLowerCase(), value: l.slice(c + 1).trim() });
  }
  const get = (n: string) => fields.filter((f) => f.lower === n);
  if (noBody || status < 200 || status === 204 || status === 304) return { kind: "response", response: { status, head, fields, body: "", length: end - start } };
  const te = get("transfer-encoding"), cl = get("content-length");
  if (te.length > 0) {
    if (te.length > 1 || cl.length > 0 || te[0].value.toLowerCase() !== "chunked") return { kind: "error", reason: `ambiguous framing in ${show(head)}` };
    const parts: Uint8Array[] = [];
    try {
      const [e] = chunked(buf, end, parts);
      return { kind: "response", response: { status, head, fields, body: latin1(concat(parts), 0, concat(parts).length), length: e - start } };
    } catch (x) {
      if (x instanceof More) return { kind: "more" };
      if (x instanceof Bad) return { kind: "error", reason: x.reason };
      throw x;
    }
  }
  if (cl.length > 0) {
    if (cl.length > 1 || !/^[0-9]+$/.test(cl[0].value)) return { kind: "error", reason: `bad Content-Length in ${show(head)}` };
    const n = Number(cl[0].value);
    if (end + n > buf.length) return { kind: "more" };
    return { kind: "response", response: { status, head, fields, body: latin1(buf, end, end + n), length: end + n - start } };
  }
  if (!closed) return { kind: "more" };
  return { kind: "response", response: { status, head, fields, body: latin1(buf, end, buf.length), length: buf.length - start } };
}
