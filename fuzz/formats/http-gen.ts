/**
 * HTTP/1.x messages built from the grammar (RFC 9112): request and
 * response heads with bodies framed by Content-Length or chunked (sizes,
 * extensions, trailers), and the structure-aware mutations the smuggling
 * suites use (framing fields with odd values and names, duplicated Host,
 * versions, Connection options, line ends). Latin1 strings until the end.
 */
import { between, chance, int, latin1, pick, type Rng, text } from "../rng.ts";

const METHODS = ["GET", "GET", "GET", "POST", "POST", "PUT", "HEAD", "DELETE", "PATCH", "OPTIONS", "CONNECT", "M-SEARCH", "x!#$%&'*+-.^_`|~"];
const HOSTS = ["a", "example.com", "www.example.com:8080", "h.example", "[::1]", "[::1]:8080", "127.0.0.1:80", "a-b_c~d.e", "xn--bcher-kva.example:65535", "[2001:db8::ffff:1.2.3.4]"];
const PATHS = ["/", "/index.html", "/a/b/c?x=1&y=2", "/search?q=a+b&x=%20", "/%7Euser/", "/p;param", "/?", "/a//b/../c", "/!$&'()*+,;=:@"];
const FIELDS = ["User-Agent: fuzz/1.0", "Accept: */*", "Accept-Encoding: gzip, br", "Cookie: a=b; c=d", "X-Forwarded-For: 10.0.0.1", "Cache-Control: no-cache",
  "X-Latin: caf\xe9", "Content-Type: text/plain; charset=utf-8", "Authorization: Basic YTpi", "Via: 1.1 proxy", "Trailer: X-Sum", "TE: trailers",
  "Keep-Alive: timeout=5", "If-None-Match: \"abc\"", "X-Empty:", "x-lower: v", "X-Tab:\tv\t", "Range: bytes=0-1", "Forwarded: for=192.0.2.1"];
const CONN_OPTIONS = ["close", "keep-alive", "Upgrade", "X-Hop", "te", "Keep-Alive, X-Hop", ", close", "close,,keep-alive"];
const REASONS = ["OK", "Not Found", "", "Moved Permanently", "I'm a teapot", "caf\xe9", "Internal\tServer Error"];
const STATUSES = [200, 200, 200, 201, 204, 206, 301, 304, 400, 404, 500, 502, 100, 101, 103, 199, 599];
const CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";

export const CL_VALUES = ["0", "1", "5", "11", "+5", "-1", "011", "5, 5", "1,1", "0x0b", "99999999999999999999", "9007199254740991", "9007199254740992", "1000000000000000", " 5", "5 ", "", "1 1", "abc"];
export const TE_VALUES = ["chunked", "CHUNKED", "xchunked", "chunked, identity", "identity, chunked", "gzip, chunked", "chunked, chunked", "\tchunked", " chunked ", ", chunked", "chunked;a=b", "\"chunked\"", "chunk", "identity", "gzip", "chunked,"];
export const TE_NAMES = ["Transfer-Encoding", "transfer-encoding", "TRANSFER-ENCODING", "Transfer-Encoding ", "Transfer_Encoding", " Transfer-Encoding", "Transfer-Encoding\t"];
const VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "HTTP/1.", "http/1.1", "HTTP/1.1 ", "HTTP/11", "HTTP/0.9"];

export const HTTP_DICT = ["\r\n", "\r\n\r\n", "Content-Length: ", "Transfer-Encoding: chunked\r\n", "chunked", "Host: ", "Connection: ", "close", "keep-alive", "Upgrade",
  "HTTP/1.1", "HTTP/1.0", " HTTP/1.1\r\n", "0\r\n\r\n", "Expect: 100-continue\r\n", "content_length", "transfer_encoding", "\xff", "http://", "https://", "[::1]", "*", ";ext=\"q\"", "Trailer: "];

const word = (r: Rng, max = 8) => Array.from({ length: between(r, 1, max) }, () => pick(r, CHARS.split(""))).join("");

/** A chunked body: 0-4 chunks (sizes in hex, case and leading zeros varied; extensions), the last chunk, trailers. */
export function chunkedBody(r: Rng): string {
  let s = "";
  for (let k = int(r, 5); k > 0; k--) {
    const n = chance(r, 0.1) ? between(r, 100, 3000) : between(r, 1, 40);
    const hex = n.toString(16);
    s += (chance(r, 0.2) ? "0".repeat(between(r, 1, 3)) : "") + (chance(r, 0.3) ? hex.toUpperCase() : hex);
    s += extensions(r);
    s += "\r\n" + Array.from({ length: n }, () => String.fromCharCode(int(r, 256))).join("") + "\r\n";
  }
  s += (chance(r, 0.2) ? "000" : "0") + extensions(r) + "\r\n";
  for (let k = chance(r, 0.7) ? 0 : between(r, 1, 3); k > 0; k--) s += `${pick(r, ["X-Sum", "Expires", "x-t", "Server-Timing"])}:${chance(r, 0.8) ? " " : ""}${word(r)}\r\n`;
  return s + "\r\n";
}

function extensions(r: Rng): string {
  let s = "";
  for (let k = chance(r, 0.7) ? 0 : between(r, 1, 3); k > 0; k--) {
    const ws = () => (chance(r, 0.2) ? pick(r, [" ", "\t", "  "]) : "");
    s += `${ws()};${ws()}${word(r)}`;
    if (chance(r, 0.6)) s += `${ws()}=${ws()}${chance(r, 0.5) ? word(r) : `"${pick(r, ["a b", "q\\\"x", "", "caf\xe9", "\\\\"])}"`}`;
  }
  return s;
}

function fieldLines(r: Rng): string[] {
  const out: string[] = [];
  for (let k = int(r, 6); k > 0; k--) out.push(pick(r, FIELDS));
  if (chance(r, 0.2)) out.push(`Connection: ${pick(r, CONN_OPTIONS)}`);
  if (chance(r, 0.05)) out.push(`X-${word(r)}: ${word(r, 40)}`);
  return out;
}

/** A request (head, body, and now and then a pipelined second request) as latin1. */
export function request(r: Rng): string {
  const method = pick(r, METHODS);
  const host = pick(r, HOSTS);
  const v10 = chance(r, 0.15);
  let target: string;
  if (method === "CONNECT") target = host.includes(":") && !host.endsWith("]") ? host : `${host}:443`;
  else if (method === "OPTIONS" && chance(r, 0.5)) target = "*";
  else if (chance(r, 0.15)) target = `${pick(r, ["http://", "https://", "HTTP://"])}${host}${pick(r, PATHS)}`;
  else target = pick(r, PATHS);
  const lines = fieldLines(r);
  const hostLine = `${pick(r, ["Host", "host", "HOST"])}:${pick(r, [" ", "", "\t", "  "])}${method === "CONNECT" ? target : host}${pick(r, ["", "", " ", "\t"])}`;
  if (!v10 || chance(r, 0.5)) lines.splice(int(r, lines.length + 1), 0, hostLine);
  const body = framedBody(r, lines, v10, ["chunked", "chunked", "Chunked", "CHUNKED"]);
  if (chance(r, 0.1) && !v10) lines.push("Expect: 100-continue");
  if (chance(r, 0.05) && !v10) lines.push("Connection: Upgrade", "Upgrade: websocket");
  const head = `${chance(r, 0.05) ? "\r\n" : ""}${method} ${target} HTTP/1.${v10 ? 0 : 1}\r\n${lines.map((l) => `${l}\r\n`).join("")}\r\n`;
  return head + body + (chance(r, 0.1) ? "GET /next HTTP/1.1\r\nHost: a\r\n\r\n" : "");
}

/**
 * No body, a Content-Length one or (HTTP/1.1) a chunked one, its framing
 * field put at a random place in `lines`; the body.
 */
function framedBody(r: Rng, lines: string[], v10: boolean, chunkedSpellings: readonly string[]): string {
  const framing = int(r, 3);
  if (framing === 1) {
    const body = word(r, 30);
    lines.splice(int(r, lines.length + 1), 0, `Content-Length: ${body.length}`);
    return body;
  }
  if (framing === 2 && !v10) {
    // In this order, and no pick of one spelling: the same seed gives the same inputs as before.
    const body = chunkedBody(r);
    const at = int(r, lines.length + 1);
    lines.splice(at, 0, `Transfer-Encoding: ${chunkedSpellings.length > 1 ? pick(r, chunkedSpellings) : chunkedSpellings[0]}`);
    return body;
  }
  return "";
}

/** A response head and body (the request method it answers is picked by the check). */
export function response(r: Rng): string {
  const status = pick(r, STATUSES);
  const v10 = chance(r, 0.15);
  const lines = fieldLines(r).filter((l) => !l.startsWith("Host"));
  if (chance(r, 0.5)) lines.push(`Server: ${word(r)}`);
  const body = framedBody(r, lines, v10, ["chunked"]);
  if (status === 101) lines.push("Connection: Upgrade", "Upgrade: websocket");
  const reason = pick(r, REASONS);
  const line = `HTTP/1.${v10 ? 0 : 1} ${status}${reason === "" && chance(r, 0.5) ? "" : ` ${reason}`}`;
  return `${line}\r\n${lines.map((l) => `${l}\r\n`).join("")}\r\n${body}`;
}

/** Structure-aware mutations of a message (latin1): framing fields, Host, versions, Connection, line ends. */
export function mutateMessage(input: Uint8Array, r: Rng): Uint8Array {
  let s = text(input);
  const headEnd = s.indexOf("\r\n\r\n") >= 0 ? s.indexOf("\r\n\r\n") + 2 : s.length;
  const firstEnd = s.indexOf("\r\n") >= 0 ? s.indexOf("\r\n") + 2 : 0;
  const addField = (line: string) => {
    const at = firstEnd > 0 && firstEnd <= headEnd ? firstEnd + int(r, headEnd - firstEnd + 1) : headEnd;
    const lineStart = s.lastIndexOf("\r\n", at - 1) + 2;
    return s.slice(0, lineStart) + line + "\r\n" + s.slice(lineStart);
  };
  switch (int(r, 10)) {
    case 0:
      s = addField(`${pick(r, ["Content-Length", "content-length", "Content-Length ", "Content_Length"])}:${chance(r, 0.8) ? " " : ""}${chance(r, 0.3) ? String(int(r, 40)) : pick(r, CL_VALUES)}`);
      break;
    case 1:
      s = addField(`${pick(r, TE_NAMES)}:${chance(r, 0.8) ? " " : ""}${pick(r, TE_VALUES)}`);
      break;
    case 2:
      s = addField(`Host: ${pick(r, [...HOSTS, "", "a,b", "a b", "%41", "[::1", "[:::1]", "[::ffff:01.2.3.4]", "a:99999", "a:", "user@a", "[v1.x]"])}`);
      break;
    case 3: {
      const v = s.indexOf(" HTTP/1.");
      if (v >= 0 && v < firstEnd) s = s.slice(0, v + 1) + pick(r, VERSIONS) + s.slice(v + 9);
      else if (s.startsWith("HTTP/1.")) s = pick(r, VERSIONS) + s.slice(8);
      break;
    }
    case 4:
      s = addField(`Connection: ${pick(r, [...CONN_OPTIONS, "Content-Length", "transfer-encoding", "Host", "close, Trailer"])}`);
      break;
    case 5:
      // the body replaced: chunked framing where there was none, or garbage
      s = s.slice(0, headEnd + 2) + pick(r, ["0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "\r\n", "G", "ffffffffffffffff\r\n"]);
      break;
    case 6:
      s = addField(`${pick(r, ["Expect", "Upgrade", "Trailer", "Proxy-Connection", "TE"])}: ${pick(r, ["100-continue", "websocket", "chunked", "keep-alive", "trailers"])}`);
      break;
    case 7: {
      // many fields: the 431 / maxHeaders path
      const n = between(r, 10, 120);
      for (let k = 0; k < n; k++) s = addField(`X-${k}: ${"v".repeat(int(r, 200))}`);
      break;
    }
    case 8: {
      // one byte of the head stretched to a huge run (a huge Host, target, value or name), now and then up to 1 MiB
      if (headEnd < 2) break;
      const at = int(r, headEnd - 2);
      const n = chance(r, 0.03) ? between(r, 100_000, 1_000_000) : between(r, 100, 20_000);
      s = s.slice(0, at) + s[at].repeat(n) + s.slice(at);
      break;
    }
    default:
      // a long request target or reason: the 414 path
      if (firstEnd > 0) s = s.slice(0, 4) + "/" + "a".repeat(between(r, 60, 9000)) + s.slice(4);
  }
  return latin1(s);
}
