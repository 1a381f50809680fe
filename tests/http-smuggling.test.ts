/**
 * Request smuggling and desync cases at the parser level, then a fuzz test.
 * Each case is a byte stream as a client would send it; the outcome is what
 * plb would do with it: reject with a status, or forward one message of an
 * exact length with an exact framing (what follows is the next request).
 * Everything is checked fed whole, one byte at a time and in random pieces.
 */
import { describe, expect, test } from "bun:test";
import { ChunkedScanner } from "../src/http/chunked.ts";
import { parseRequestHead } from "../src/http/head.ts";
import { serializeRequestHead } from "../src/http/serialize.ts";
import type { HeadLimits, HeadResult, RequestBody, RequestHead } from "../src/http/types.ts";
import { rng } from "../fuzz/rng.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const LIMITS: HeadLimits = { maxRequestLine: 8192, maxHeaderBytes: 16384, maxHeaders: 100 };


/** Split [0, n) into pieces: every byte alone, or random sizes. */
function cutsOf(n: number, next?: () => number): number[] {
  if (!next) return Array.from({ length: n }, (_, i) => i + 1);
  const cuts: number[] = [];
  for (let at = 0; at < n; ) cuts.push((at = Math.min(n, at + 1 + Math.floor(next() * 24))));
  return cuts;
}

function headIn(buf: Uint8Array, cuts: number[] | undefined): HeadResult<RequestHead> {
  if (!cuts) return parseRequestHead(buf, LIMITS, 0);
  let r: HeadResult<RequestHead> = { kind: "more", scanFrom: 0 };
  for (const n of cuts) {
    r = parseRequestHead(buf.subarray(0, n), LIMITS, r.kind === "more" ? r.scanFrom : 0);
    if (r.kind !== "more") break;
  }
  return r;
}

type Message =
  | { kind: "error"; status: number; reason: string; pos: number; where: "head" | "body" }
  | { kind: "more" }
  | { kind: "message"; body: RequestBody; length: number; head: RequestHead };

/** One message read from the start of `buf`: its head, then its body framing (a chunked body through the scanner). */
function message(buf: Uint8Array, cuts?: number[]): Message {
  const h = headIn(buf, cuts);
  if (h.kind === "error") return { ...h, kind: "error", where: "head" };
  if (h.kind === "more") return { kind: "more" };
  const { head, consumed } = h;
  if (head.body.kind === "none") return { kind: "message", body: head.body, length: consumed, head };
  if (head.body.kind === "length") return { kind: "message", body: head.body, length: consumed + head.body.length, head };
  const sc = new ChunkedScanner({ maxTrailerBytes: LIMITS.maxHeaderBytes });
  let at = consumed;
  for (const cut of cuts ? [...cuts.filter((c) => c > consumed), buf.length] : [buf.length]) {
    if (cut <= at) continue;
    const r = sc.scan(buf, at, cut);
    if (r.kind === "error") return { kind: "error", status: r.status, reason: r.reason, pos: r.pos, where: "body" };
    if (r.kind === "done") return { kind: "message", body: head.body, length: at + r.consumed, head };
    at = cut;
  }
  return { kind: "more" };
}

/** The same message whole, one byte at a time, and in random pieces. */
function read(input: string): Message {
  const buf = bytes(input);
  const whole = message(buf);
  const strip = (m: Message) => (m.kind === "message" ? { ...m, head: undefined } : m);
  expect(strip(message(buf, cutsOf(buf.length)))).toEqual(strip(whole));
  expect(strip(message(buf, cutsOf(buf.length, rng(buf.length))))).toEqual(strip(whole));
  return whole;
}

type Outcome =
  | { status: number; reason: string; where?: "head" | "body" }
  | { body: RequestBody; length: number; next?: string };

const H = "Host: a\r\n";
const CL = (n: string | number) => `Content-Length: ${n}\r\n`;
const TE = (v: string) => `Transfer-Encoding: ${v}\r\n`;
const post = (fields: string, body = "") => `POST / HTTP/1.1\r\n${H}${fields}\r\n${body}`;
const NEXT = "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
const CHUNKED = "5\r\nhello\r\n0\r\n\r\n";

const chunked = { kind: "chunked" } as const;
const len = (length: number) => ({ kind: "length", length }) as const;
const none = { kind: "none" } as const;

const CASES: [string, string, Outcome][] = [
  // CL.TE and TE.CL: both framings present
  ["CL.TE: Content-Length then Transfer-Encoding", post(CL(13) + TE("chunked"), `0\r\n\r\nSMUGGLED`), { status: 400, reason: "both Content-Length and Transfer-Encoding" }],
  ["TE.CL: Transfer-Encoding then Content-Length", post(TE("chunked") + CL(3), `8\r\nSMUGGLED\r\n0\r\n\r\n`), { status: 400, reason: "both Content-Length and Transfer-Encoding" }],
  ["TE.CL with Content-Length: 0", post(TE("chunked") + CL(0), CHUNKED), { status: 400, reason: "both Content-Length and Transfer-Encoding" }],
  ["CL.TE with an unknown coding", post(CL(5) + TE("xchunked"), "hello"), { status: 400, reason: "both Content-Length and Transfer-Encoding" }],
  // TE.TE obfuscations
  ["TE: xchunked", post(TE("xchunked"), CHUNKED), { status: 501, reason: "unknown transfer coding" }],
  ["TE: chunkedx", post(TE("chunkedx"), CHUNKED), { status: 501, reason: "unknown transfer coding" }],
  ["TE with a space before the colon", post("Transfer-Encoding : chunked\r\n", CHUNKED), { status: 400, reason: "whitespace between field name and colon" }],
  ["TE with a tab before the colon", post("Transfer-Encoding\t: chunked\r\n", CHUNKED), { status: 400, reason: "whitespace between field name and colon" }],
  ["TE:\\tchunked is valid (HTAB is OWS)", post("Transfer-Encoding:\tchunked\r\n", CHUNKED) + NEXT, { body: chunked, length: post("Transfer-Encoding:\tchunked\r\n", CHUNKED).length, next: "GET /admin" }],
  ["TE: CHUNKED is valid (codings are case-insensitive)", post(TE("CHUNKED"), CHUNKED), { body: chunked, length: post(TE("CHUNKED"), CHUNKED).length }],
  ["TE with trailing whitespace is valid", post("Transfer-Encoding: chunked \t\r\n", CHUNKED), { body: chunked, length: post("Transfer-Encoding: chunked \t\r\n", CHUNKED).length }],
  ["TE: chunked, identity", post(TE("chunked, identity"), CHUNKED), { status: 400, reason: "chunked is not the final transfer coding" }],
  ["TE: identity, chunked", post(TE("identity, chunked"), CHUNKED), { status: 501, reason: "unknown transfer coding" }],
  ["TE: gzip, chunked", post(TE("gzip, chunked"), CHUNKED), { status: 501, reason: "other than chunked are not supported" }],
  ["TE: chunked, gzip", post(TE("chunked, gzip"), CHUNKED), { status: 400, reason: "chunked is not the final transfer coding" }],
  ["TE: gzip alone", post(TE("gzip"), CHUNKED), { status: 400, reason: "final transfer coding is not chunked" }],
  ["TE: chunked, chunked", post(TE("chunked, chunked"), CHUNKED), { status: 400, reason: "chunked applied twice" }],
  ["TE: foo, chunked (hidden in a list)", post(TE("foo, chunked"), CHUNKED), { status: 501, reason: "unknown transfer coding" }],
  ["TE split over two lines: chunked / identity", post(TE("chunked") + TE("identity"), CHUNKED), { status: 400, reason: "not the final" }],
  ["TE split over two lines: identity / chunked", post(TE("identity") + TE("chunked"), CHUNKED), { status: 501, reason: "unknown transfer coding" }],
  ["TE split over two lines: chunked / chunked", post(TE("chunked") + TE("chunked"), CHUNKED), { status: 400, reason: "chunked applied twice" }],
  ["TE with an empty list element", post(TE(", chunked"), CHUNKED), { status: 400, reason: "empty element in Transfer-Encoding" }],
  ["TE with a trailing comma", post(TE("chunked,"), CHUNKED), { status: 400, reason: "empty element in Transfer-Encoding" }],
  ["TE empty", post(TE(""), CHUNKED), { status: 400, reason: "empty Transfer-Encoding" }],
  ["TE quoted", post(TE('"chunked"'), CHUNKED), { status: 400, reason: "invalid Transfer-Encoding" }],
  ["TE with parameters", post(TE("chunked;q=1"), CHUNKED), { status: 400, reason: "parameters are not accepted" }],
  ["TE with a vertical tab", post("Transfer-Encoding: \x0bchunked\r\n", CHUNKED), { status: 400, reason: "control character in field value" }],
  ["TE with a NUL", post("Transfer-Encoding: chunked\x00\r\n", CHUNKED), { status: 400, reason: "NUL in field value" }],
  ["Transfer_Encoding (underscore)", post("Transfer_Encoding: chunked\r\n", CHUNKED), { status: 400, reason: "resembling a framing field" }],
  ["Content_Length (underscore)", post("Content_Length: 5\r\n", "hello"), { status: 400, reason: "resembling a framing field" }],
  ["TE hidden by obs-fold", post(`X: a\r\n ${TE("chunked")}`, CHUNKED), { status: 400, reason: "obsolete line folding" }],
  ["TE folded onto the next line", post("Transfer-Encoding:\r\n chunked\r\n", CHUNKED), { status: 400, reason: "empty Transfer-Encoding" }],
  ["TE after whitespace at the start of the fields", `POST / HTTP/1.1\r\n ${TE("chunked")}${H}\r\n${CHUNKED}`, { status: 400, reason: "whitespace before the first header field" }],
  ["TE behind a bare CR", post(`X: a\r${TE("chunked")}`, CHUNKED), { status: 400, reason: "bare CR in field value" }],
  ["TE behind a bare LF", post(`X: a\n${TE("chunked")}`, CHUNKED), { status: 400, reason: "bare LF" }],
  ["TE in HTTP/1.0", `POST / HTTP/1.0\r\n${TE("chunked")}\r\n${CHUNKED}`, { status: 400, reason: "Transfer-Encoding in an HTTP/1.0 message" }],
  ["TE and CL in HTTP/1.0", `POST / HTTP/1.0\r\n${TE("chunked")}${CL(5)}\r\nhello`, { status: 400, reason: "HTTP/1.0" }],
  ["Connection: Transfer-Encoding (hop-by-hop abuse)", post(`Connection: Transfer-Encoding\r\n${TE("chunked")}`, CHUNKED), { status: 400, reason: "Connection names transfer-encoding" }],
  ["Connection: close, Content-Length (hop-by-hop abuse)", post(`Connection: close, Content-Length\r\n${CL(5)}`, "hello"), { status: 400, reason: "Connection names content-length" }],
  // Content-Length
  ["CL: +5", post(CL("+5"), "hello"), { status: 400, reason: "invalid character in Content-Length" }],
  ["CL: -5", post(CL("-5"), "hello"), { status: 400, reason: "invalid character in Content-Length" }],
  ["CL: 5, 5 (a list of equal values)", post(CL("5, 5"), "hello"), { status: 400, reason: "Content-Length list" }],
  ["CL: 5,6", post(CL("5,6"), "hello"), { status: 400, reason: "Content-Length list" }],
  ["double CL, equal values", post(CL(5) + CL(5), "hello"), { status: 400, reason: "duplicate Content-Length" }],
  ["double CL, different values", post(CL(5) + CL(6), "hello!"), { status: 400, reason: "duplicate Content-Length" }],
  ["double CL, different case", post(`${CL(5)}content-length: 5\r\n`, "hello"), { status: 400, reason: "duplicate Content-Length" }],
  ["CL: 0x5", post(CL("0x5"), "hello"), { status: 400, reason: "invalid character in Content-Length" }],
  ["CL: 5abc (trailing garbage)", post(CL("5abc"), "hello"), { status: 400, reason: "invalid character in Content-Length" }],
  ["CL: 5 5", post(CL("5 5"), "hello"), { status: 400, reason: "invalid character in Content-Length" }],
  ["CL: 1e3", post(CL("1e3"), "hello"), { status: 400, reason: "invalid character in Content-Length" }],
  ["CL: empty", post("Content-Length:\r\n", ""), { status: 400, reason: "empty Content-Length" }],
  ["CL over 2^53-1", post(CL("9007199254740992"), ""), { status: 400, reason: "Content-Length over 2^53-1" }],
  ["CL of 20 digits", post(CL("99999999999999999999"), ""), { status: 400, reason: "Content-Length over 2^53-1" }],
  ["CL with a space before the colon", post("Content-Length : 5\r\n", "hello"), { status: 400, reason: "whitespace between field name and colon" }],
  ["CL with trailing whitespace is valid", post("Content-Length: 5 \t\r\n", "hello") + NEXT, { body: len(5), length: post("Content-Length: 5 \t\r\n", "hello").length, next: "GET /admin" }],
  ["CL body then a pipelined request", post(CL(5), "hello") + NEXT, { body: len(5), length: post(CL(5), "hello").length, next: "GET /admin" }],
  ["CL: 0 then a request", post(CL(0)) + NEXT, { body: len(0), length: post(CL(0)).length, next: "GET /admin" }],
  ["GET with a body length", `GET / HTTP/1.1\r\n${H}${CL(4)}\r\nbody${NEXT}`, { body: len(4), length: `GET / HTTP/1.1\r\n${H}${CL(4)}\r\nbody`.length, next: "GET /admin" }],
  ["no framing: the rest is the next request", `GET / HTTP/1.1\r\n${H}\r\n${NEXT}`, { body: none, length: `GET / HTTP/1.1\r\n${H}\r\n`.length, next: "GET /admin" }],
  // Head syntax
  ["NUL in a value", post("X: a\x00b\r\n"), { status: 400, reason: "NUL in field value" }],
  ["bare CR in a value", post("X: a\rb\r\n"), { status: 400, reason: "bare CR in field value" }],
  ["LF-only line endings", "POST / HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello", { status: 400, reason: "bare LF" }],
  ["LF-only end of head", `POST / HTTP/1.1\r\n${H}${CL(5)}\nhello`, { status: 400, reason: "bare LF" }],
  ["duplicate Host", `GET / HTTP/1.1\r\n${H}Host: b\r\n\r\n`, { status: 400, reason: "duplicate Host" }],
  ["absolute-form disagreeing with Host", `GET http://b/admin HTTP/1.1\r\n${H}\r\n`, { status: 400, reason: "Host does not match" }],
  ["absolute-form agreeing with Host", `GET http://A/x HTTP/1.1\r\n${H}\r\n`, { body: none, length: `GET http://A/x HTTP/1.1\r\n${H}\r\n`.length }],
  ["missing Host", "GET / HTTP/1.1\r\n\r\n", { status: 400, reason: "missing Host" }],
  ["request line with a tab", `GET\t/ HTTP/1.1\r\n${H}\r\n`, { status: 400, reason: "tab in request line" }],
  ["request line with double spaces", `GET  / HTTP/1.1\r\n${H}\r\n`, { status: 400, reason: "more than one space" }],
  ["request line smuggling a second version", `GET / HTTP/1.1 HTTP/1.1\r\n${H}\r\n`, { status: 400, reason: "invalid HTTP version" }],
  ["target with a space-separated smuggled request", `GET /a HTTP/1.1\r\nGET /b HTTP/1.1\r\n${H}\r\n`, { status: 400, reason: "whitespace between field name and colon" }],
  ["fragment in target", `GET /a#/../admin HTTP/1.1\r\n${H}\r\n`, { status: 400, reason: "fragment" }],
  // Chunked bodies
  ["chunk size 0x5", post(TE("chunked"), "0x5\r\nhello\r\n0\r\n\r\n"), { status: 400, reason: "invalid character in chunk size", where: "body" }],
  ["chunk size with a sign", post(TE("chunked"), "+5\r\nhello\r\n0\r\n\r\n"), { status: 400, reason: "invalid chunk size", where: "body" }],
  ["chunk extension too long", post(TE("chunked"), `5;${"x".repeat(2000)}\r\nhello\r\n0\r\n\r\n`), { status: 400, reason: "chunk extensions too long", where: "body" }],
  ["chunk size overflow ffffffffffffffffff", post(TE("chunked"), "ffffffffffffffffff\r\nx\r\n0\r\n\r\n"), { status: 400, reason: "chunk size too large", where: "body" }],
  ["chunk size 2^53", post(TE("chunked"), "20000000000000\r\n"), { status: 400, reason: "chunk size too large", where: "body" }],
  ["missing CRLF after chunk data", post(TE("chunked"), "5\r\nhelloGET /admin HTTP/1.1\r\n\r\n"), { status: 400, reason: "missing CRLF after chunk data", where: "body" }],
  ["chunk data longer than its size", post(TE("chunked"), "3\r\nhello\r\n0\r\n\r\n"), { status: 400, reason: "missing CRLF after chunk data", where: "body" }],
  ["LF only after the chunk size", post(TE("chunked"), "5\nhello\r\n0\r\n\r\n"), { status: 400, reason: "bare LF", where: "body" }],
  ["LF only after the chunk data", post(TE("chunked"), "5\r\nhello\n0\r\n\r\n"), { status: 400, reason: "missing CRLF", where: "body" }],
  ["LF only after the last chunk", post(TE("chunked"), "5\r\nhello\r\n0\n\n"), { status: 400, reason: "bare LF", where: "body" }],
  ["space after the chunk size", post(TE("chunked"), "5 \r\nhello\r\n0\r\n\r\n"), { status: 400, reason: "whitespace at the end of a chunk line", where: "body" }],
  ["Content-Length in the trailers", post(TE("chunked"), "0\r\nContent-Length: 5\r\n\r\nhello"), { status: 400, reason: "framing or routing field in trailers", where: "body" }],
  ["Transfer_Encoding in the trailers", post(TE("chunked"), "0\r\nTransfer_Encoding: chunked\r\n\r\n"), { status: 400, reason: "framing or routing field in trailers", where: "body" }],
  ["obs-fold in the trailers", post(TE("chunked"), "0\r\nX: a\r\n b\r\n\r\n"), { status: 400, reason: "obsolete line folding in trailer", where: "body" }],
  ["chunked body then a pipelined request", post(TE("chunked"), CHUNKED) + NEXT, { body: chunked, length: post(TE("chunked"), CHUNKED).length, next: "GET /admin" }],
  ["TE.CL payload read as chunked: the smuggled request is just the next one", post(TE("chunked"), "0\r\n\r\n") + NEXT, { body: chunked, length: post(TE("chunked"), "0\r\n\r\n").length, next: "GET /admin" }],
  ["chunked with extensions and trailers", post(TE("chunked"), '5;a=b;c="d"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n'), { body: chunked, length: post(TE("chunked"), '5;a=b;c="d"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n').length }],
];

describe("smuggling and desync table", () => {
  test("has at least 40 cases", () => expect(CASES.length).toBeGreaterThanOrEqual(40));
  for (const [name, input, want] of CASES) {
    test(name, () => {
      const got = read(input);
      if ("status" in want) {
        if (got.kind !== "error") throw new Error(`expected ${want.status} ${want.reason}, got ${JSON.stringify(got).slice(0, 300)}`);
        expect(got.status).toBe(want.status);
        expect(got.reason).toContain(want.reason);
        expect(got.where).toBe(want.where ?? "head");
        expect(got.pos).toBeGreaterThanOrEqual(0);
        expect(got.pos).toBeLessThan(input.length);
        return;
      }
      if (got.kind !== "message") throw new Error(`expected a message, got ${JSON.stringify(got)}`);
      expect(got.body).toEqual(want.body);
      expect(got.length).toBe(want.length);
      const rest = input.slice(want.length);
      if (want.next === undefined) expect(rest).toBe("");
      else {
        const next = parseRequestHead(bytes(rest), LIMITS);
        if (next.kind !== "done") throw new Error(`next request: ${JSON.stringify(next)}`);
        expect(`${next.head.method} ${next.head.target}`).toBe(want.next);
        expect(next.consumed).toBe(rest.length);
      }
    });
  }
});

// ---------------------------------------------------------------------------
// Fuzz: mutations of valid requests must never throw, always give one of the
// three kinds, never consume more than given, and whatever is accepted must
// be unambiguous and parse back identically after serialization.

const SEEDS = [
  "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
  "GET /search?q=a+b&x=%20 HTTP/1.1\r\nHost: www.example.com:8080\r\nUser-Agent: Mozilla/5.0 (X11)\r\nAccept: */*\r\nCookie: a=b; c=d\r\n\r\n",
  "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
  "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "GET http://a.example/p HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
  "GET / HTTP/1.0\r\nConnection: keep-alive\r\nX-Latin: caf\xe9\r\n\r\n",
  "\r\nOPTIONS * HTTP/1.1\r\nHost: [::1]:80\r\nExpect: 100-continue\r\n\r\n",
  "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nProxy-Authorization: x\r\n\r\n",
];
const INSERTS = [13, 10, 0, 32, 9, 58, 44, 0x7f, 0x80, 0x2d, 0x5f, 0x22];

function mutate(seed: Uint8Array, next: () => number): Uint8Array {
  let b = Array.from(seed);
  const n = 1 + Math.floor(next() * 4);
  for (let k = 0; k < n; k++) {
    const at = Math.floor(next() * (b.length + 1));
    const what = next();
    if (what < 0.3 && b.length > 0) b[Math.min(at, b.length - 1)] = Math.floor(next() * 256);
    else if (what < 0.6) b.splice(at, 0, INSERTS[Math.floor(next() * INSERTS.length)]);
    else if (what < 0.75 && b.length > 0) b.splice(Math.min(at, b.length - 1), 1);
    else if (what < 0.85) b = b.slice(0, at);
    else {
      // Duplicate a line: double headers, repeated framing fields.
      const s = String.fromCharCode(...b);
      const lines = s.split("\r\n");
      const i = Math.floor(next() * lines.length);
      lines.splice(i, 0, lines[i]);
      b = Array.from(bytes(lines.join("\r\n")));
    }
  }
  return Uint8Array.from(b);
}

function fieldShape(h: RequestHead) {
  const { lineStart: _a, lineEnd: _b, fields, ...rest } = h;
  return { ...rest, fields: fields.map((f) => [f.name, f.lower, f.value, f.end - f.start]) };
}

describe("fuzz", () => {
  test("20,000 mutated requests: never a throw, always a valid result, accepted ones unambiguous and stable", () => {
    const next = rng(20240601);
    const statuses = new Set([400, 414, 431, 501, 505]);
    const counts = { more: 0, error: 0, done: 0 };
    const small: HeadLimits = { maxRequestLine: 64, maxHeaderBytes: 200, maxHeaders: 6 };
    for (let n = 0; n < 20_000; n++) {
      const input = mutate(bytes(SEEDS[n % SEEDS.length]), next);
      const limits = n % 5 === 0 ? small : LIMITS;
      const r = parseRequestHead(input, limits, 0);
      counts[r.kind]++;
      if (n % 10 === 0) {
        // Split feeding agrees with whole feeding.
        let s: HeadResult<RequestHead> = { kind: "more", scanFrom: 0 };
        for (const cut of cutsOf(input.length, n % 20 === 0 ? undefined : next)) {
          s = parseRequestHead(input.subarray(0, cut), limits, s.kind === "more" ? s.scanFrom : 0);
          if (s.kind !== "more") break;
        }
        if (input.length > 0) expect(s).toEqual(r);
      }
      if (r.kind === "more") {
        expect(r.scanFrom).toBeLessThanOrEqual(input.length);
        continue;
      }
      if (r.kind === "error") {
        expect(statuses.has(r.status)).toBe(true);
        expect(r.pos).toBeGreaterThanOrEqual(0);
        expect(r.pos).toBeLessThanOrEqual(input.length);
        expect(typeof r.reason).toBe("string");
        continue;
      }
      expect(r.kind).toBe("done");
      expect(r.consumed).toBeLessThanOrEqual(input.length);
      const h = r.head;
      // Unambiguous framing in what would be forwarded.
      const names = h.fields.map((f) => f.lower);
      const cl = names.filter((x) => x === "content-length").length;
      const te = names.filter((x) => x === "transfer-encoding").length;
      expect(cl).toBeLessThanOrEqual(1);
      expect(cl > 0 && te > 0).toBe(false);
      expect(names.filter((x) => x === "host").length).toBeLessThanOrEqual(1);
      expect(names.some((x) => x.replaceAll("_", "-") === "content-length" && x !== "content-length")).toBe(false);
      expect(h.body.kind === "chunked").toBe(te > 0);
      expect(h.body.kind === "length").toBe(cl > 0);
      if (h.versionMinor === 1) expect(h.host).toBeDefined();
      for (const f of h.fields) {
        expect(f.start).toBeGreaterThanOrEqual(h.lineEnd);
        expect(f.end).toBeLessThanOrEqual(r.consumed - 2);
        expect(/[\r\n\0]/.test(f.value)).toBe(false);
        expect(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(f.name)).toBe(true);
      }
      // Round trip: serialized, it parses back to the same head.
      const out = serializeRequestHead(input, h);
      const again = parseRequestHead(out, limits, 0);
      if (again.kind !== "done") throw new Error(`round trip failed for ${JSON.stringify(String.fromCharCode(...input))}: ${JSON.stringify(again)}`);
      expect(again.consumed).toBe(out.length);
      expect(fieldShape(again.head)).toEqual(fieldShape(h));
    }
    // The mutations reach every outcome.
    expect(counts.done).toBeGreaterThan(1000);
    expect(counts.error).toBeGreaterThan(1000);
    expect(counts.more).toBeGreaterThan(100);
  });

  test("5,000 mutated chunked bodies: whole and split scans agree, never a throw", () => {
    const next = rng(7);
    const bodies = ["5\r\nhello\r\n0\r\n\r\n", "a;x=y\r\n0123456789\r\n3;q=\"a b\"\r\nabc\r\n0\r\nT: v\r\n\r\n", "0\r\n\r\n", "1\r\nx\r\n0000\r\nA: b\r\nC: d\r\n\r\n"];
    const counts = { more: 0, error: 0, done: 0 };
    for (let n = 0; n < 5_000; n++) {
      const input = mutate(bytes(bodies[n % bodies.length]), next);
      const whole = new ChunkedScanner().scan(input, 0, input.length);
      counts[whole.kind]++;
      if (whole.kind !== "error") expect(whole.consumed).toBeLessThanOrEqual(input.length);
      else {
        expect([400, 431]).toContain(whole.status);
        expect(whole.pos).toBeLessThan(input.length);
      }
      const sc = new ChunkedScanner();
      let at = 0;
      let split: typeof whole = { kind: "more", consumed: 0 };
      for (const cut of cutsOf(input.length, next)) {
        const r = sc.scan(input, at, cut);
        if (r.kind === "error") {
          split = r;
          break;
        }
        split = { kind: r.kind, consumed: at + r.consumed };
        if (r.kind === "done") break;
        at = cut;
      }
      expect(split).toEqual(whole);
    }
    expect(counts.done).toBeGreaterThan(200);
    expect(counts.error).toBeGreaterThan(1000);
  });
});
