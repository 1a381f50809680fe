/**
 * The HTTP/2 → HTTP/1.1 desync matrix: the cases of James Kettle's "HTTP/2:
 * The Sequel is Always Worse" (PortSwigger, 2021) — H2.CL, H2.TE, CRLF
 * injection in names, values and pseudo-headers, request-line injection
 * through :method, :path and :scheme, :authority and Host tricks, h2c
 * upgrades, pseudo-headers and framing fields in trailers — plus their
 * obvious variants. Each h2 request (header list, END_STREAM, DATA,
 * trailers) is either refused (by h1RequestFrom, or for trailers by
 * lastChunk) or becomes exactly one well-formed HTTP/1.1 request: the bytes
 * a server would get (the head built, then the body as the carrier frames
 * it: chunkFrame + lastChunk, or the DATA under the client's
 * Content-Length) parse with plb's strict parser as one head and one body
 * that ends exactly at the end, with the method, target and host the client
 * sent and no field the client did not send (but Host and the framing).
 */
import { describe, expect, test } from "bun:test";
import { BodyTracker } from "../src/http/body.ts";
import { parseRequestHead } from "../src/http/head.ts";
import { chunkFrame, lastChunk } from "../src/http/h2/dechunk.ts";
import { h1RequestFrom } from "../src/http/h2/request-head.ts";
import { DEFAULT_LIMITS } from "../src/http/types.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");

const BASE = (method = "POST", path = "/", authority = "example.com", scheme = "https") => [":method", method, ":scheme", scheme, ":path", path, ":authority", authority];
const SMUGGLED = "GET /admin HTTP/1.1\r\nHost: example.com\r\n\r\n";

interface Case {
  name: string;
  fields: string[];
  /** END_STREAM on the HEADERS (default: false when there is DATA or trailers). */
  end?: boolean;
  data?: string[];
  trailers?: string[];
  /** "refused", or the framing of the one request made. */
  want: "refused" | "none" | "length" | "chunked";
}

const CASES: Case[] = [
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

type Outcome = { refused: string } | { framing: string; wire: string };

/** What a server would receive for case `c` (carrier modelled: DATA chunk-framed, or checked against content-length). */
function translate(c: Case): Outcome {
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

/** The wire bytes parse as exactly one request with what the client asked for; else why not. */
function oneRequest(c: Case, wire: string): string | undefined {
  const buf = bytes(wire);
  const p = parseRequestHead(buf, DEFAULT_LIMITS);
  if (p.kind !== "done") return `head: ${p.kind === "error" ? p.reason : "incomplete"}`;
  const h = p.head;
  const pseudo = (n: string) => c.fields[c.fields.indexOf(n) + 1];
  if (h.method !== pseudo(":method") || h.target !== pseudo(":path")) return "request line differs from :method/:path";
  const auth = c.fields.includes(":authority") ? pseudo(":authority") : pseudo("host");
  if (h.host !== auth) return "Host differs from :authority";
  const sent = new Set<string>();
  for (let i = 0; i < c.fields.length; i += 2) if (!c.fields[i].startsWith(":")) sent.add(c.fields[i]);
  for (const f of h.fields) if (!sent.has(f.lower) && !["host", "content-length", "transfer-encoding"].includes(f.lower)) return `field ${f.lower} the client did not send`;
  if (h.fields.filter((f) => f.lower === "host").length !== 1) return "not one Host";
  const body = new BodyTracker(h.body, false);
  const step = body.take(buf, p.consumed, buf.length);
  if (step.kind === "error") return `body: ${step.reason}`;
  if (!body.done) return "body incomplete";
  if (p.consumed + step.consumed !== buf.length) return `${buf.length - p.consumed - step.consumed} bytes after the request`;
  return undefined;
}

describe(`HTTP/2 desync matrix (${CASES.length} cases)`, () => {
  for (const c of CASES) {
    test(c.name, () => {
      const o = translate(c);
      if (c.want === "refused") {
        expect(o).toMatchObject({ refused: expect.any(String) });
        return;
      }
      if ("refused" in o) throw new Error(`refused: ${o.refused}`);
      expect(o.framing).toBe(c.want);
      expect(oneRequest(c, o.wire)).toBeUndefined();
    });
  }
  test(`0 of ${CASES.length} pass through malformed`, () => {
    const through = CASES.filter((c) => {
      const o = translate(c);
      return "wire" in o && (c.want === "refused" || oneRequest(c, o.wire) !== undefined);
    }).map((c) => c.name);
    expect(through).toEqual([]);
    expect(CASES.filter((c) => c.want === "refused").length).toBeGreaterThan(60);
  });
  test("the H2.CL cases reach the server with the client's length, so the carrier's DATA check decides", () => {
    const r = h1RequestFrom([...BASE(), "content-length", "0"], false, DEFAULT_LIMITS);
    expect(r.kind === "done" && [r.contentLength, r.head.body]).toEqual([0, { kind: "length", length: 0 }]);
    expect(translate(CASES[0])).toEqual({ refused: `DATA (${SMUGGLED.length}) disagree with content-length (0)` });
  });
});
