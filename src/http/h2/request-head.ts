/**
 * An HTTP/2 request's header list (RFC 9113 §8) → one HTTP/1.1 request head
 * for a server. Pure, no I/O. The seam where HTTP/2-to-HTTP/1 desyncs are
 * made (Kettle, "HTTP/2: The Sequel is Always Worse", 2021: H2.CL, H2.TE,
 * CRLF in names, values and pseudo-headers), so it is strict in two layers:
 *
 * 1. The h2 fields are checked as RFC 9113 §8 asks: exactly one :method,
 *    :scheme (http or https) and :path, at most one :authority, no other
 *    pseudo-header, none after a regular field; names lowercase tchar; values
 *    field content (no NUL, CR, LF or other controls but HTAB) without leading
 *    or trailing SP/HTAB; no connection-specific field (§8.2.2); `te` only
 *    "trailers"; :path "*" only with OPTIONS, otherwise starting with "/";
 *    :authority without userinfo; Host and :authority equal when both come
 *    (§8.3.1). Malformed: `{ kind: "error" }` without a status (a stream
 *    error PROTOCOL_ERROR, §8.1.1). CONNECT (well formed: :method and
 *    :authority only) is a 501, as on plb's HTTP/1 side.
 * 2. The head built from them is parsed again by plb's own strict HTTP/1
 *    parser (head.ts parseRequestHead), with the service's limits: whatever
 *    it refuses is refused (with its status: 400, 414, 431, …), and it must
 *    have read exactly the bytes built, as one head with the framing chosen.
 *    Nothing reaches a server but one well-formed HTTP/1.1 request.
 *
 * The head: `METHOD SP :path SP HTTP/1.1`, `Host:` (:authority, else host)
 * first, then the fields in order (cookie crumbs joined with "; " into one
 * line where the first was, §8.2.3; `te` left out: hop-by-hop), then the
 * framing: a Content-Length the client sent (digits; several must agree;
 * with END_STREAM on the HEADERS it must be 0), else nothing for a request
 * ended with its HEADERS (`Content-Length: 0` for POST, PUT and PATCH, so
 * that no server waits for a body), else `Transfer-Encoding: chunked`: the
 * carrier chunk-encodes DATA (dechunk.ts chunkFrame, lastChunk).
 */
import { parseRequestHead } from "../head.ts";
import type { HeadLimits, RequestHead } from "../types.ts";
import { CONNECTION_SPECIFIC, fieldProblem, nameProblem, quote, valueProblem } from "./field-rules.ts";
import type { HeaderList } from "./types.ts";

export type H1Request =
  | {
    kind: "done";
    /** The HTTP/1.1 head, exactly: `head`'s offsets point into it (what exchange.begin(head, raw) takes). */
    raw: Uint8Array;
    head: RequestHead;
    /** The body goes chunked: the carrier frames DATA with chunkFrame and ends with lastChunk (trailers as chunked trailers). */
    chunked: boolean;
    /** The client's Content-Length: the carrier checks that the DATA add up to it (RFC 9113 §8.1.1). */
    contentLength: number | undefined;
    /** "http" or "https". */
    scheme: string;
  }
  | {
    kind: "error";
    reason: string;
    /** An HTTP status to answer with (414, 431, 400, 501); none: malformed, a stream error PROTOCOL_ERROR. */
    status?: number;
  };

/** Connection-specific fields (RFC 9113 §8.2.2): a request carrying one is malformed. */
/** Methods whose requests servers expect a body framing for. */
const WITH_BODY = new Set(["POST", "PUT", "PATCH"]);
const TARGET = (c: number) => c > 0x20 && c < 0x7f && c !== 0x23;

const malformed = (reason: string): H1Request => ({ kind: "error", reason });
/** uri-host [":" port] with no userinfo: the rest (characters, IPv6 literals, the port) parseRequestHead checks as Host. */
function badAuthority(a: string): string | undefined {
  if (a.length === 0) return "empty :authority";
  if (a.includes("@")) return "userinfo in :authority";
  const bad = valueProblem(a);
  return bad === undefined ? undefined : `:authority: ${bad}`;
}

/** Case-insensitive ASCII equality (Host and :authority name the same host). */
const sameHost = (a: string, b: string) => a.length === b.length && a.toLowerCase() === b.toLowerCase();

function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 16) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return Number(s) <= Number.MAX_SAFE_INTEGER;
}

/** The latin1 bytes of `s` (every char checked to be below 0x100 before). */
function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** One HTTP/1.1 request head from a decoded HTTP/2 request header list (see the file comment). */
export function h1RequestFrom(fields: HeaderList, endStream: boolean, limits: HeadLimits): H1Request {
  let method: string | undefined, scheme: string | undefined, path: string | undefined, authority: string | undefined;
  let host: string | undefined, cl: string | undefined;
  let regular = false;
  const n = fields.length >> 1;
  if (fields.length % 2 !== 0) return malformed("odd header list");
  if (n > limits.maxHeaders + 4) return { kind: "error", reason: "too many header fields", status: 431 };
  // Field lines to write, in order: [name, value] pairs; the cookie line's index is kept to join crumbs into it.
  const lines: string[] = [];
  let cookie = -1;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i], value = fields[i + 1];
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return malformed(`pseudo-header ${quote(name)} after a regular field`);
      const bad = valueProblem(value);
      if (bad) return malformed(`${name}: ${bad}`);
      switch (name) {
        case ":method":
          if (method !== undefined) return malformed("more than one :method");
          method = value;
          break;
        case ":scheme":
          if (scheme !== undefined) return malformed("more than one :scheme");
          scheme = value;
          break;
        case ":path":
          if (path !== undefined) return malformed("more than one :path");
          path = value;
          break;
        case ":authority":
          if (authority !== undefined) return malformed("more than one :authority");
          authority = value;
          break;
        default:
          return malformed(`pseudo-header ${quote(name)} not allowed in a request`);
      }
      continue;
    }
    regular = true;
    const bad = fieldProblem(name, value);
    if (bad) return malformed(bad);
    if (CONNECTION_SPECIFIC.has(name)) return malformed(`connection-specific field ${quote(name)}`);
    switch (name) {
      case "te":
        if (value !== "trailers") return malformed(`te ${quote(value)} (only "trailers" is allowed)`);
        continue; // hop-by-hop: not for the server
      case "host":
        if (host !== undefined) return malformed("more than one host");
        host = value;
        continue; // written first
      case "content-length":
        if (!isDigits(value)) return malformed(`invalid content-length ${quote(value)}`);
        if (cl !== undefined && Number(cl) !== Number(value)) return malformed("content-length values disagree");
        if (cl === undefined) lines.push(name, String(Number(value)));
        cl = value;
        continue;
      case "cookie":
        if (cookie >= 0) {
          lines[cookie + 1] += `; ${value}`;
          continue;
        }
        cookie = lines.length;
        break;
    }
    lines.push(name, value);
  }

  if (method === undefined) return malformed("no :method");
  if (method.length === 0 || nameProblem(method.toLowerCase()) !== undefined) return malformed(`invalid :method ${quote(method)}`);
  if (method === "CONNECT") {
    if (scheme !== undefined || path !== undefined || authority === undefined) return malformed("CONNECT takes :authority and no :scheme or :path");
    return { kind: "error", reason: "CONNECT is not supported", status: 501 };
  }
  if (scheme === undefined) return malformed("no :scheme");
  if (path === undefined) return malformed("no :path");
  if (scheme !== "http" && scheme !== "https") return { kind: "error", reason: `unsupported :scheme ${quote(scheme)}`, status: 400 };
  if (path.length === 0) return malformed("empty :path");
  if (path === "*") {
    if (method !== "OPTIONS") return malformed(":path * is only for OPTIONS");
  } else if (path.charCodeAt(0) !== 0x2f) return malformed(":path must start with / (origin-form)");
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (!TARGET(c)) return c === 0x23 ? malformed("fragment (#) in :path") : malformed(`invalid character ${quote(path[i])} in :path`);
  }
  if (authority !== undefined) {
    const bad = badAuthority(authority);
    if (bad) return malformed(bad);
    if (host !== undefined && !sameHost(host, authority)) return malformed("host and :authority disagree");
  }
  const h = authority ?? host;
  if (h === undefined || h.length === 0) return malformed("no :authority and no host");
  if (cl !== undefined && endStream && Number(cl) !== 0) return malformed("content-length with no DATA (END_STREAM on HEADERS)");

  const chunked = cl === undefined && !endStream;
  let text = `${method} ${path} HTTP/1.1\r\nHost: ${h}\r\n`;
  for (let i = 0; i < lines.length; i += 2) text += `${lines[i]}: ${lines[i + 1]}\r\n`;
  if (chunked) text += "Transfer-Encoding: chunked\r\n";
  else if (cl === undefined && WITH_BODY.has(method)) text += "Content-Length: 0\r\n";
  text += "\r\n";
  const raw = latin1(text);

  // Defense in depth: plb's HTTP/1 parser must read exactly this, as one head framed as chosen.
  const r = parseRequestHead(raw, limits);
  if (r.kind === "more") return { kind: "error", reason: "request head incomplete", status: 400 };
  if (r.kind === "error") return { kind: "error", reason: r.reason, status: r.status };
  const head = r.head;
  const want = chunked ? "chunked" : cl !== undefined || WITH_BODY.has(method) ? "length" : "none";
  if (r.consumed !== raw.length || head.method !== method || head.target !== path || head.body.kind !== want)
    return { kind: "error", reason: "request head does not parse back as built", status: 400 };
  return { kind: "done", raw, head, chunked, contentLength: cl === undefined ? undefined : Number(cl), scheme };
}
