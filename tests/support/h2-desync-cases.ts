/**
 * The HTTP/2 → HTTP/1.1 desync matrix (tests/http-h2-smuggling.test.ts and
 * tests/e2e/h2-desync/): the cases of James Kettle's "HTTP/2: The Sequel is
 * Always Worse" (PortSwigger, 2021) and their variants, and what a server
 * behind plb would receive for each (the carrier modelled: DATA
 * chunk-framed, or checked against the client's content-length).
 */
import { chunkFrame, lastChunk } from "../../src/http/h2/dechunk.ts";
import { h1RequestFrom } from "../../src/http/h2/request-head.ts";
import { DEFAULT_LIMITS } from "../../src/http/types.ts";

export const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
export const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

export const BASE = (method = "POST", path = "/", authority = "example.com", scheme = "https") => [":method", method, ":scheme", scheme, ":path", path, ":authority", authority];
export const SMUGGLED = "GET /admin HTTP/1.1\r\nHost: example.com\r\n\r\n";

export interface Case {
  name: string;
  fields: string[];
  /** END_STREAM on the HEADERS (default: false when there is DATA or trailers). */
  end?: boolean;
  data?: string[];
  trailers?: string[];
  /** "refused", or the framing of the one request made. */
  want: "refused" | "none" | "length" | "chunked";
}

export const CASES: Case[] = [
  // H2.CL: a content-length the DATA disagree with.
  { name: "H2.CL: content-length 0 and a smuggled request in DATA (refused by the carrier's DATA check)", fields: [...BASE(), "content-length", "0"], data: [SMUGGLED], want: "refused" },
  { name: "H2.CL: content-length shorter than DATA (carrier's DATA check)", fields: [...BASE(), "content-length", "3"], data: [`abc${SMUGGLED}`], want: "refused" },
  { name: "H2.CL: content-length longer than DATA (carrier's DATA check)", fields: [...BASE(), "content-length", "44"], data: ["abc"], want: "refused" },
  { name: "H2.CL: content-length with END_STREAM on HEADERS", fields: [...BASE(), "content-length", "44"], end: true, want: "refused" },
  { name: "H2.CL: two content-lengths that disagree", fields: [...BASE(), "content-length", "0", "content-length", "44"], data: [SMUGGLED], want: "refused" },
  { name: "H2.CL: content-length list", fields: [...BASE(), "content-length", "0, 44"], data: [SMUGGLED], want: "refused" },
  { name: "H2.CL: content-length with a sign", fields: [...BASE(), "content-length", "+0"], want: "refused" },
  { name: "H2.CL: content-length in hex", fields: [...BASE(), "content-length", "0x2c"], want: "refused" },
  { name: "H2.CL: content-length with a space inside", fields: [...BASE(), "content-length", "4 4"], want: "refused" },
  { name: "H2.CL: Content-Length uppercase", fields: [...BASE(), "Content-Length", "0"], data: [SMUGGLED], want: "refused" },
  { name: "H2.CL: content_length (CGI reads it as Content-Length)", fields: [...BASE(), "content_length", "0"], data: [SMUGGLED], want: "refused" },
  { name: "two equal content-lengths: one request with one", fields: [...BASE(), "content-length", "3", "content-length", "3"], data: ["abc"], want: "length" },
  // H2.TE: transfer-encoding in any shape.
  { name: "H2.TE: transfer-encoding: chunked", fields: [...BASE(), "transfer-encoding", "chunked"], data: [`0\r\n\r\n${SMUGGLED}`], want: "refused" },
  { name: "H2.TE: Transfer-Encoding uppercase", fields: [...BASE(), "Transfer-Encoding", "chunked"], data: [`0\r\n\r\n${SMUGGLED}`], want: "refused" },
  { name: "H2.TE: transfer-encoding with content-length", fields: [...BASE(), "content-length", "5", "transfer-encoding", "chunked"], data: ["0\r\n\r\n"], want: "refused" },
  { name: "H2.TE: transfer_encoding", fields: [...BASE(), "transfer_encoding", "chunked"], data: [`0\r\n\r\n${SMUGGLED}`], want: "refused" },
  { name: "H2.TE: transfer-encoding identity", fields: [...BASE(), "transfer-encoding", "identity"], want: "refused" },
  { name: "H2.TE: 'transfer-encoding ' (space in name)", fields: [...BASE(), "transfer-encoding ", "chunked"], want: "refused" },
  { name: "H2.TE: value injection foo: b CRLF transfer-encoding: chunked", fields: [...BASE(), "foo", "b\r\ntransfer-encoding: chunked"], data: [`0\r\n\r\n${SMUGGLED}`], want: "refused" },
  { name: "H2.TE: value injection with LF only", fields: [...BASE(), "foo", "b\ntransfer-encoding: chunked"], want: "refused" },
  { name: "H2.TE: value injection with CR only", fields: [...BASE(), "foo", "b\rtransfer-encoding: chunked"], want: "refused" },
  { name: "H2.TE: name injection 'foo: bar CRLF transfer-encoding'", fields: [...BASE(), "foo: bar\r\ntransfer-encoding", "chunked"], want: "refused" },
  { name: "H2.TE: name with colon 'transfer-encoding:chunked'", fields: [...BASE(), "transfer-encoding:chunked", ""], want: "refused" },
  { name: "H2.TE: name with colon 'foo:'", fields: [...BASE(), "foo:", "x"], want: "refused" },
  { name: "name with a space inside", fields: [...BASE(), "foo bar", "x"], want: "refused" },
  { name: "name with a tab", fields: [...BASE(), "foo\tbar", "x"], want: "refused" },
  { name: "name with NUL", fields: [...BASE(), "foo\0", "x"], want: "refused" },
  { name: "empty name", fields: [...BASE(), "", "x"], want: "refused" },
  { name: "uppercase name", fields: [...BASE(), "X-Forwarded-For", "127.0.0.1"], want: "refused" },
  { name: "name with non-ASCII", fields: [...BASE(), "f\xf6o", "x"], want: "refused" },
  { name: "value with NUL", fields: [...BASE(), "foo", "a\0b"], want: "refused" },
  { name: "value with leading space", fields: [...BASE(), "foo", " a"], want: "refused" },
  { name: "value with trailing tab", fields: [...BASE(), "foo", "a\t"], want: "refused" },
  { name: "value with a control character", fields: [...BASE(), "foo", "a\x0bb"], want: "refused" },
  { name: "value with obs-text passes as one request", fields: [...BASE(), "foo", "caf\xe9"], end: true, want: "length" },
  // Request-line injection through pseudo-headers.
  { name: ":method with a request line injected", fields: [...BASE(`GET /admin HTTP/1.1\r\nHost: example.com\r\n\r\nGET`)], end: true, want: "refused" },
  { name: ":method with spaces", fields: [...BASE("GET /admin HTTP/1.1")], end: true, want: "refused" },
  { name: ":method with a tab", fields: [...BASE("GET\t/x")], end: true, want: "refused" },
  { name: ":method empty", fields: [...BASE("")], end: true, want: "refused" },
  { name: ":path with a request line injected", fields: [...BASE("GET", "/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nx: x")], end: true, want: "refused" },
  { name: ":path with a space", fields: [...BASE("GET", "/a HTTP/1.1")], end: true, want: "refused" },
  { name: ":path with a tab", fields: [...BASE("GET", "/a\tb")], end: true, want: "refused" },
  { name: ":path with # (fragment trick)", fields: [...BASE("GET", "/public#/../admin")], end: true, want: "refused" },
  { name: ":path with # after ?", fields: [...BASE("GET", "/?x=#")], end: true, want: "refused" },
  { name: ":path absolute (front ends differ on the host)", fields: [...BASE("GET", "https://evil.example/admin")], end: true, want: "refused" },
  { name: ":path not starting with /", fields: [...BASE("GET", "admin")], end: true, want: "refused" },
  { name: ":path ?-only (no leading /)", fields: [...BASE("GET", "?x=/admin")], end: true, want: "refused" },
  { name: ":path empty", fields: [...BASE("GET", "")], end: true, want: "refused" },
  { name: ":path * with GET", fields: [...BASE("GET", "*")], end: true, want: "refused" },
  { name: ":path with non-ASCII", fields: [...BASE("GET", "/caf\xe9")], end: true, want: "refused" },
  { name: ":path with a query passes as one request", fields: [...BASE("GET", "/a/../b?x=1&y=%0d%0a")], end: true, want: "none" },
  { name: ":path //host-like passes as origin-form", fields: [...BASE("GET", "//evil.example/x")], end: true, want: "none" },
  { name: ":scheme with a URL (absolute-URL builders)", fields: [...BASE("GET", "/", "example.com", "https://evil.example/poison?")], end: true, want: "refused" },
  { name: ":scheme with CRLF", fields: [...BASE("GET", "/", "example.com", "https\r\nx: y")], end: true, want: "refused" },
  // :authority and Host.
  { name: ":authority with userinfo (@)", fields: [...BASE("GET", "/", "example.com@evil.example")], end: true, want: "refused" },
  { name: ":authority with a space", fields: [...BASE("GET", "/", "example.com evil.example")], end: true, want: "refused" },
  { name: ":authority with CRLF", fields: [...BASE("GET", "/", "example.com\r\nTransfer-Encoding: chunked")], end: true, want: "refused" },
  { name: ":authority with a comma", fields: [...BASE("GET", "/", "example.com,evil.example")], end: true, want: "refused" },
  { name: ":authority with a path", fields: [...BASE("GET", "/", "example.com/x")], end: true, want: "refused" },
  { name: ":authority with a bad port", fields: [...BASE("GET", "/", "example.com:99999")], end: true, want: "refused" },
  { name: "host and :authority disagree", fields: [...BASE("GET"), "host", "evil.example"], end: true, want: "refused" },
  { name: "host and :authority disagree on the port", fields: [...BASE("GET"), "host", "example.com:8443"], end: true, want: "refused" },
  { name: "two host fields", fields: [...BASE("GET").slice(0, 6), "host", "example.com", "host", "evil.example"], end: true, want: "refused" },
  { name: "host with userinfo and no :authority", fields: [...BASE("GET").slice(0, 6), "host", "u@evil.example"], end: true, want: "refused" },
  { name: "host with CRLF", fields: [...BASE("GET"), "host", "example.com\r\nx: y"], end: true, want: "refused" },
  { name: "neither host nor :authority", fields: BASE("GET").slice(0, 6), end: true, want: "refused" },
  { name: "host equal to :authority passes, once", fields: [...BASE("GET"), "host", "example.com"], end: true, want: "none" },
  // Pseudo-headers out of place.
  { name: "pseudo-header after a regular field", fields: [...BASE("GET").slice(0, 6), "accept", "*/*", ":authority", "example.com"], end: true, want: "refused" },
  { name: "second :path", fields: [...BASE("GET"), ":path", "/admin"], end: true, want: "refused" },
  { name: "second :method", fields: [...BASE("GET"), ":method", "POST"], end: true, want: "refused" },
  { name: "unknown pseudo-header", fields: [...BASE("GET"), ":foo", "bar"], end: true, want: "refused" },
  { name: ":protocol (extended CONNECT not offered)", fields: [...BASE("GET"), ":protocol", "websocket"], end: true, want: "refused" },
  { name: ":status in a request", fields: [...BASE("GET"), ":status", "200"], end: true, want: "refused" },
  { name: "CONNECT (501)", fields: [":method", "CONNECT", ":authority", "internal.example:22"], end: true, want: "refused" },
  // Connection-specific fields, h2c.
  { name: "upgrade: h2c (h2c smuggling)", fields: [...BASE("GET"), "upgrade", "h2c"], end: true, want: "refused" },
  { name: "connection: upgrade", fields: [...BASE("GET"), "connection", "upgrade"], end: true, want: "refused" },
  { name: "connection naming a field", fields: [...BASE("GET"), "connection", "x-auth", "x-auth", "1"], end: true, want: "refused" },
  { name: "keep-alive", fields: [...BASE("GET"), "keep-alive", "timeout=5"], end: true, want: "refused" },
  { name: "proxy-connection", fields: [...BASE("GET"), "proxy-connection", "keep-alive"], end: true, want: "refused" },
  { name: "te: gzip", fields: [...BASE("GET"), "te", "gzip"], end: true, want: "refused" },
  { name: "te: trailers, chunked", fields: [...BASE("GET"), "te", "trailers, chunked"], end: true, want: "refused" },
  { name: "te: trailers passes (and is not forwarded)", fields: [...BASE("GET"), "te", "trailers"], end: true, want: "none" },
  // Cookies.
  { name: "cookie crumb with CRLF", fields: [...BASE("GET"), "cookie", "a=1", "cookie", "b=2\r\nTransfer-Encoding: chunked"], end: true, want: "refused" },
  { name: "cookie crumb with LF", fields: [...BASE("GET"), "cookie", "a=1\nx: y"], end: true, want: "refused" },
  { name: "cookie crumbs join into one field", fields: [...BASE("GET"), "cookie", "a=1", "cookie", "b=2"], end: true, want: "none" },
  // Bodies that look like requests, and trailers.
  { name: "chunked: DATA holding a last chunk and a request", fields: BASE(), data: [`0\r\n\r\n${SMUGGLED}`], want: "chunked" },
  { name: "chunked: empty DATA frames between", fields: BASE(), data: ["", "a", "", "0\r\n\r\n"], want: "chunked" },
  { name: "chunked: GET with a body", fields: BASE("GET"), data: [SMUGGLED], want: "chunked" },
  { name: "chunked: trailers pass as chunked trailers", fields: BASE(), data: ["x"], trailers: ["x-checksum", "1"], want: "chunked" },
  { name: "trailers: pseudo-header", fields: BASE(), data: ["x"], trailers: [":path", "/admin"], want: "refused" },
  { name: "trailers: content-length", fields: BASE(), data: ["x"], trailers: ["content-length", "44"], want: "refused" },
  { name: "trailers: transfer-encoding", fields: BASE(), data: ["x"], trailers: ["transfer-encoding", "chunked"], want: "refused" },
  { name: "trailers: host", fields: BASE(), data: ["x"], trailers: ["host", "evil.example"], want: "refused" },
  { name: "trailers: value with CRLF", fields: BASE(), data: ["x"], trailers: ["x-a", `1\r\n\r\n${SMUGGLED}`], want: "refused" },
  { name: "trailers: name with CRLF", fields: BASE(), data: ["x"], trailers: ["x-a\r\n\r\nGET", "1"], want: "refused" },
  { name: "trailers: uppercase name", fields: BASE(), data: ["x"], trailers: ["X-A", "1"], want: "refused" },
  { name: "POST without body: Content-Length: 0 (the server does not wait)", fields: BASE(), end: true, want: "length" },
];

export type Outcome = { refused: string } | { framing: string; wire: string };

/** What a server would receive for case `c` (carrier modelled: DATA chunk-framed, or checked against content-length). */
export function translate(c: Case): Outcome {
  const end = c.end ?? (c.data === undefined && c.trailers === undefined);
  const r = h1RequestFrom(c.fields, end, DEFAULT_LIMITS);
  if (r.kind === "error") return { refused: r.reason };
  const data = (c.data ?? []).map(bytes);
  const parts: Uint8Array[] = [r.raw];
  if (r.chunked) {
    for (const d of data) parts.push(chunkFrame(d));
    const last = lastChunk(c.trailers);
    if (last.kind === "error") return { refused: last.reason };
    parts.push(last.bytes);
  } else {
    const sum = data.reduce((n, d) => n + d.length, 0);
    // RFC 9113 §8.1.1: DATA that do not add up to content-length make the request malformed; the carrier refuses it.
    if (r.contentLength !== undefined && sum !== r.contentLength) return { refused: `DATA (${sum}) disagree with content-length (${r.contentLength})` };
    if (c.trailers !== undefined) return { refused: "trailers without chunked framing" };
    parts.push(...data);
  }
  return { framing: r.head.body.kind, wire: text(Buffer.concat(parts)) };
}

