import { describe, expect, test } from "bun:test";
import { parseRequestHead, parseResponseHead } from "../src/http/head.ts";
import { DEFAULT_LIMITS, type HeadLimits, type HeadResult, type RequestHead, type ResponseHead } from "../src/http/types.ts";
import { rng } from "../fuzz/rng.ts";

/** Bytes of a string, one byte per character (latin1), so "\x85" is the byte 0x85. */
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));


type Parse<H> = (buf: Uint8Array, from: number) => HeadResult<H>;

/**
 * Parse `input` whole, one byte at a time (passing scanFrom back) and in
 * random pieces; all three must agree. Returns the whole-input result.
 */
function feed<H>(input: string, parse: Parse<H>): HeadResult<H> {
  const buf = bytes(input);
  const whole = parse(buf, 0);
  const grow = (cuts: number[]) => {
    let r: HeadResult<H> = { kind: "more", scanFrom: 0 };
    let from = 0;
    for (const n of cuts) {
      r = parse(buf.subarray(0, n), from);
      if (r.kind !== "more") return r;
      expect(r.scanFrom).toBeLessThanOrEqual(n);
      from = r.scanFrom;
    }
    return r;
  };
  expect(grow(Array.from({ length: buf.length }, (_, i) => i + 1))).toEqual(whole);
  const next = rng(buf.length * 7919 + 1);
  const cuts: number[] = [];
  for (let n = 0; n < buf.length; ) cuts.push((n = Math.min(buf.length, n + 1 + Math.floor(next() * 40))));
  expect(grow(cuts)).toEqual(whole);
  if (whole.kind === "done") expect(whole.consumed).toBeLessThanOrEqual(buf.length);
  return whole;
}

const req = (s: string, limits: HeadLimits = DEFAULT_LIMITS) => feed<RequestHead>(s, (b, from) => parseRequestHead(b, limits, from));
const res = (s: string, method = "GET", limits: HeadLimits = DEFAULT_LIMITS) =>
  feed<ResponseHead>(s, (b, from) => parseResponseHead(b, limits, from, method));

function done<H>(r: HeadResult<H>): H & { consumed: number } {
  if (r.kind !== "done") throw new Error(`expected done, got ${JSON.stringify(r)}`);
  return { ...r.head, consumed: r.consumed };
}

function rejects<H>(r: HeadResult<H>, status: number, reason: string, pos?: number): void {
  if (r.kind !== "error") throw new Error(`expected error ${status} ${reason}, got ${JSON.stringify(r).slice(0, 300)}`);
  expect(r.status).toBe(status);
  expect(r.reason).toContain(reason);
  if (pos !== undefined) expect(r.pos).toBe(pos);
}

describe("request heads: valid", () => {
  test("a simple GET: every part of the head", () => {
    const s = "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
    const h = done(req(s + "next bytes"));
    expect(h.consumed).toBe(s.length);
    expect(h.method).toBe("GET");
    expect(h.target).toBe("/a?b=c");
    expect(h.targetForm).toBe("origin");
    expect(h.versionMinor).toBe(1);
    expect(h.host).toBe("example.com");
    expect(h.body).toEqual({ kind: "none" });
    expect(h.keepAlive).toBe(true);
    expect(h.connection).toEqual([]);
    expect(h.upgrade).toBeUndefined();
    expect(h.expectContinue).toBe(false);
    expect(h.lineStart).toBe(0);
    expect(h.lineEnd).toBe(21);
    expect(h.fields).toEqual([
      { name: "Host", lower: "host", value: "example.com", start: 21, end: 40 },
      { name: "User-Agent", lower: "user-agent", value: "t", start: 40, end: 55 },
    ]);
  });

  test("field values lose leading and trailing SP/HTAB, keep inner ones; names keep their case", () => {
    const h = done(req("GET / HTTP/1.1\r\nHost:a\r\nX-Thing: \t a \t b\t \r\nx-EMPTY:\r\nX-Sp:   \r\n\r\n"));
    expect(h.fields.map((f) => [f.name, f.lower, f.value])).toEqual([
      ["Host", "host", "a"],
      ["X-Thing", "x-thing", "a \t b"],
      ["x-EMPTY", "x-empty", ""],
      ["X-Sp", "x-sp", ""],
    ]);
  });

  test("obs-text in values is kept as latin1, including 0x80-0x9F", () => {
    const h = done(req("GET /\x7e HTTP/1.1\r\nHost: a.b\r\nX-A: \xa0z\r\nX-L: caf\xe9 \x85\x9f\xff\r\nX-B: \x80\r\nX-C: d\r\n\r\n"));
    expect(h.host).toBe("a.b");
    expect(h.target).toBe("/~");
    expect(h.fields.map((f) => f.value)).toEqual(["a.b", "\xa0z", "caf\xe9 \x85\x9f\xff", "\x80", "d"]);
    expect(h.fields.map((f) => f.name)).toEqual(["Host", "X-A", "X-L", "X-B", "X-C"]);
    expect(done(req("GET / HTTP/1.1\r\nHost: a\r\nX-L: caf\xe9\r\n\r\n")).fields[1].value).toBe("caf\xe9");
  });

  test("Content-Length and chunked framing", () => {
    expect(done(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n")).body).toEqual({ kind: "length", length: 42 });
    expect(done(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")).body).toEqual({ kind: "length", length: 0 });
    expect(done(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n")).body).toEqual({ kind: "length", length: 7 });
    expect(done(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740991\r\n\r\n")).body).toEqual({ kind: "length", length: 2 ** 53 - 1 });
    expect(done(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")).body).toEqual({ kind: "chunked" });
    expect(done(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n")).body).toEqual({ kind: "chunked" });
    expect(done(req("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:\tchunked \r\n\r\n")).body).toEqual({ kind: "chunked" });
  });

  test("HTTP/1.0: keep-alive only when asked, Host optional, no upgrade or 100-continue", () => {
    const a = done(req("GET / HTTP/1.0\r\n\r\n"));
    expect(a.versionMinor).toBe(0);
    expect(a.keepAlive).toBe(false);
    expect(a.host).toBeUndefined();
    expect(done(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")).keepAlive).toBe(true);
    const b = done(req("GET / HTTP/1.0\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n"));
    expect(b.upgrade).toBeUndefined();
    expect(b.expectContinue).toBe(false);
    expect(done(req("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n")).body).toEqual({ kind: "length", length: 3 });
  });

  test("Connection options over several fields, lowercased; close wins", () => {
    const h = done(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, X-Foo\r\nConnection: ,,Close ,\r\n\r\n"));
    expect(h.connection).toEqual(["keep-alive", "x-foo", "close"]);
    expect(h.keepAlive).toBe(false);
  });

  test("Upgrade only with the upgrade connection option; Expect: 100-continue", () => {
    const h = done(req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nExpect: 100-Continue\r\n\r\n"));
    expect(h.upgrade).toBe("websocket");
    expect(h.expectContinue).toBe(true);
    expect(done(req("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n")).upgrade).toBeUndefined();
    expect(done(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: a\r\nUpgrade: b\r\n\r\n")).upgrade).toBe("a, b");
    expect(done(req("GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n")).expectContinue).toBe(false);
  });

  test("one leading CRLF is skipped and counted in consumed", () => {
    const h = done(req("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    expect(h.consumed).toBe(29);
    expect(h.lineStart).toBe(2);
    expect(h.fields[0].start).toBe(18);
  });

  test("target forms", () => {
    const abs = done(req("GET http://Example.com:8080/p?q HTTP/1.1\r\nHost: example.COM:8080\r\n\r\n"));
    expect(abs.targetForm).toBe("absolute");
    expect(abs.host).toBe("example.COM:8080");
    expect(done(req("GET HTTPS://a?x HTTP/1.1\r\nHost: a\r\n\r\n")).targetForm).toBe("absolute");
    expect(done(req("GET http://a HTTP/1.0\r\n\r\n")).host).toBe("a");
    expect(done(req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")).targetForm).toBe("asterisk");
    expect(done(req("OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n")).targetForm).toBe("origin");
    const c = done(req("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"));
    expect(c.targetForm).toBe("authority");
    expect(done(req("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n")).target).toBe("[2001:db8::1]:443");
    expect(done(req("GET /a/b;c=d/%20?x=y&z=|{}^ HTTP/1.1\r\nHost: a\r\n\r\n")).target).toBe("/a/b;c=d/%20?x=y&z=|{}^");
  });

  test("Host syntax: names, IPv4, IPv6 literals, ports", () => {
    for (const h of ["a", "a.b-c_d~e", "192.0.2.1:80", "[::1]", "[2001:db8::1]:65535", "xn--bcher-kva.example", "a:1", "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]"])
      expect(done(req(`GET / HTTP/1.1\r\nHost: ${h}\r\n\r\n`)).host).toBe(h);
  });

  test("an IP literal of 648,000 bytes is rejected, not a throw (found by npm run fuzz: it overflowed the call stack)", () => {
    const large: HeadLimits = { maxRequestLine: 1 << 20, maxHeaderBytes: 1 << 20, maxHeaders: 10_000 };
    const literal = `[2001:db8::ffff:1.${"F".repeat(648_000)}]`;
    rejects(parseRequestHead(bytes(`POST http://${literal}/ HTTP/1.1\r\nHost: a\r\n\r\n`), large), 400, "invalid host in request target", 13);
    rejects(parseRequestHead(bytes(`GET / HTTP/1.1\r\nHost: ${literal}\r\n\r\n`), large), 400, "invalid Host", 23);
  });

  test("methods are case-sensitive tokens", () => {
    expect(done(req("get / HTTP/1.1\r\nHost: a\r\n\r\n")).method).toBe("get");
    expect(done(req("M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n")).method).toBe("M-SEARCH");
    expect(done(req("PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n")).method).toBe("PURGE");
  });
});

describe("request heads: need more", () => {
  test("incomplete heads ask for more, with scanFrom at the end", () => {
    for (const s of ["", "\r", "\r\n", "G", "GET / HTTP/1.1", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a\r\n\r"]) {
      const r = req(s);
      expect(r.kind).toBe("more");
    }
    expect(parseRequestHead(bytes("GET / HTTP/1.1\r\nHo"))).toEqual({ kind: "more", scanFrom: 18 });
  });
});

describe("request heads: rejected", () => {
  const H = "Host: a\r\n";
  const cases: [string, string, number, string, number?][] = [
    ["bare LF ending the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare LF", 14],
    ["bare LF ending a field", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "bare LF", 23],
    ["bare LF as the final line", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF", 25],
    ["LF only everywhere", "GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF", 14],
    ["leading bare LF", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bare LF", 0],
    ["two leading CRLF", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "only one empty line", 2],
    ["leading bare CR", "\rGET / HTTP/1.1\r\n\r\n", 400, "bare CR", 1],
    ["bare CR in a value", `GET / HTTP/1.1\r\nX: a\rb\r\n${H}\r\n`, 400, "bare CR in field value", 20],
    ["bare CR ending the request line", "GET / HTTP/1.1\rX\r\nHost: a\r\n\r\n", 400, "bare CR", 14],
    ["bare CR alone on a line", `GET / HTTP/1.1\r\n${H}\rX: y\r\n\r\n`, 400, "bare CR", 25],
    ["NUL in a value", `GET / HTTP/1.1\r\nX: a\x00b\r\n${H}\r\n`, 400, "NUL", 20],
    ["DEL in a value", `GET / HTTP/1.1\r\nX: a\x7fb\r\n${H}\r\n`, 400, "control character", 20],
    ["vertical tab in a value", `GET / HTTP/1.1\r\nX: \x0b\r\n${H}\r\n`, 400, "control character"],
    ["obs-fold", `GET / HTTP/1.1\r\n${H}X: a\r\n b\r\n\r\n`, 400, "obsolete line folding", 31],
    ["tab-fold", `GET / HTTP/1.1\r\n${H}X: a\r\n\tb\r\n\r\n`, 400, "obsolete line folding"],
    ["whitespace before the first field", `GET / HTTP/1.1\r\n ${H}\r\n`, 400, "whitespace before the first header field"],
    ["space before colon", `GET / HTTP/1.1\r\n${H}X : a\r\n\r\n`, 400, "whitespace between field name and colon", 26],
    ["tab before colon", `GET / HTTP/1.1\r\n${H}X\t: a\r\n\r\n`, 400, "whitespace between field name and colon"],
    ["empty field name", `GET / HTTP/1.1\r\n${H}: a\r\n\r\n`, 400, "empty field name"],
    ["no colon", `GET / HTTP/1.1\r\n${H}Xa\r\n\r\n`, 400, "without a colon"],
    ["non-token name", `GET / HTTP/1.1\r\n${H}X(y): a\r\n\r\n`, 400, "invalid character in field name", 26],
    ["latin1 in a name", `GET / HTTP/1.1\r\n${H}X\xe9: a\r\n\r\n`, 400, "invalid character in field name"],
    ["Content_Length", `GET / HTTP/1.1\r\n${H}content_length: 0\r\n\r\n`, 400, "resembling a framing field", 25],
    ["TRANSFER_ENCODING", `GET / HTTP/1.1\r\n${H}TRANSFER_ENCODING: chunked\r\n\r\n`, 400, "resembling a framing field"],
    ["empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid character in method", 0],
    ["non-token method", "G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid character in method", 1],
    ["double space after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "more than one space", 4],
    ["double space before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, "more than one space", 6],
    ["tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "tab in request line", 3],
    ["tab before version", "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", 400, "tab in request line", 5],
    ["trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "invalid HTTP version", 14],
    ["HTTP/0.9 style", "GET /\r\nHost: a\r\n\r\n", 400, "no HTTP version"],
    ["lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400, "invalid HTTP version", 6],
    ["version without minor", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "invalid HTTP version"],
    ["version with extra digit", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "invalid HTTP version", 14],
    ["HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "unsupported HTTP version", 6],
    ["HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, "unsupported HTTP version"],
    ["HTTP/0.9 versioned", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, "unsupported HTTP version"],
    ["target without slash", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target", 4],
    ["fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "fragment", 6],
    ["control character in target", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid character in request target", 6],
    ["non-ASCII target", "GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid character in request target", 8],
    ["DEL in target", "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid character in request target"],
    ["asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "only for OPTIONS"],
    ["CONNECT with origin-form", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "authority-form"],
    ["CONNECT without port", "CONNECT a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", 400, "authority-form"],
    ["authority-form with GET", "GET a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", 400, "invalid request target"],
    ["ftp absolute-form", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid request target"],
    ["absolute-form with empty host", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "empty host in request target"],
    ["absolute-form with userinfo", "GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid host in request target"],
    ["absolute-form with user@", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "userinfo", 12],
    ["absolute-form vs Host", "GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n", 400, "does not match"],
    ["absolute-form vs Host port", "GET http://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "does not match"],
    ["CONNECT vs Host", "CONNECT a:443 HTTP/1.1\r\nHost: b:443\r\n\r\n", 400, "does not match"],
    ["missing Host in 1.1", "GET / HTTP/1.1\r\nX: y\r\n\r\n", 400, "missing Host", 22],
    ["duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "duplicate Host", 25],
    ["duplicate Host in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400, "duplicate Host"],
    ["empty Host", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400, "empty Host"],
    ["Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid Host", 23],
    ["Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, "invalid Host"],
    ["Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host"],
    ["Host list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", 400, "invalid Host"],
    ["Host with empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400, "invalid Host"],
    ["Host with a big port", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400, "invalid Host"],
    ["Host with an unclosed literal", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "invalid Host"],
    ["Connection naming Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nConnection: close, Content-Length\r\nContent-Length: 1\r\n\r\n", 400, "Connection names content-length"],
    ["Connection naming Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nConnection: transfer-encoding\r\n\r\n", 400, "Connection names transfer-encoding"],
    ["Connection naming Host", "GET / HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n", 400, "Connection names host"],
    ["invalid Connection option", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close;x\r\n\r\n", 400, "invalid Connection option"],
  ];
  for (const [name, input, status, reason, pos] of cases) test(name, () => rejects(req(input), status, reason, pos));
});

describe("request heads: limits", () => {
  const small: HeadLimits = { maxRequestLine: 20, maxHeaderBytes: 60, maxHeaders: 3 };

  test("a request line at the limit passes, one byte more is a 414 before the head is complete", () => {
    const line = `GET /${"a".repeat(6)} HTTP/1.1`; // 20 bytes
    expect(done(req(`${line}\r\nHost: a\r\n\r\n`, small)).target).toBe("/aaaaaa");
    rejects(req(`GET /${"a".repeat(7)} HTTP/1.1\r\nHost: a\r\n\r\n`, small), 414, "request line too long", 20);
    rejects(req(`GET /${"a".repeat(30)}`, small), 414, "request line too long", 20);
    rejects(req(`\r\nGET /${"a".repeat(30)}`, small), 414, "request line too long", 22);
  });

  test("the head size limit is a 431, also before the head is complete", () => {
    const base = "GET / HTTP/1.1\r\nHost: a\r\n"; // 25 bytes
    const fits = `${base}X: ${"b".repeat(60 - 25 - 5 - 2)}\r\n\r\n`;
    expect(fits.length).toBe(60);
    expect(done(req(fits, small)).consumed).toBe(60);
    rejects(req(`${base}X: ${"b".repeat(60 - 25 - 5 - 1)}\r\n\r\n`, small), 431, "header section too large", 60);
    rejects(req(`${base}X: ${"b".repeat(100)}`, small), 431, "header section too large", 60);
  });

  test("too many fields is a 431", () => {
    expect(done(req("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", small)).fields.length).toBe(3);
    rejects(req("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", small), 431, "too many header fields", 37);
  });

  test("one byte at a time stays linear: a 60 KB request line and a 200 KB head", () => {
    const limits: HeadLimits = { maxRequestLine: 65536, maxHeaderBytes: 262144, maxHeaders: 10000 };
    const head = bytes(`GET /${"a".repeat(60000)} HTTP/1.1\r\nHost: a\r\n${"X-Field: 0123456789\r\n".repeat(6500)}\r\n`);
    const t0 = performance.now();
    let from = 0;
    let r: HeadResult<RequestHead> = { kind: "more", scanFrom: 0 };
    for (let n = 1; n <= head.length && r.kind === "more"; n++) {
      r = parseRequestHead(head.subarray(0, n), limits, from);
      if (r.kind === "more") from = r.scanFrom;
    }
    expect(r.kind).toBe("done");
    expect(performance.now() - t0).toBeLessThan(3000); // quadratic would be ~10^10 byte reads
  });
});

describe("response heads", () => {
  test("status line, reason, fields, Content-Length", () => {
    const s = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n";
    const h = done(res(s + "hello"));
    expect(h.consumed).toBe(s.length);
    expect(h.status).toBe(200);
    expect(h.reason).toBe("OK");
    expect(h.versionMinor).toBe(1);
    expect(h.body).toEqual({ kind: "length", length: 5 });
    expect(h.keepAlive).toBe(true);
    expect(h.tunnel).toBe(false);
    expect(h.lineEnd).toBe(17);
  });

  test("reason phrases: empty, missing, with spaces, tabs and latin1", () => {
    expect(done(res("HTTP/1.1 204 \r\n\r\n")).reason).toBe("");
    expect(done(res("HTTP/1.1 204\r\n\r\n")).reason).toBe("");
    expect(done(res("HTTP/1.1 404 Not  Found\t!\r\n\r\n")).reason).toBe("Not  Found\t!");
    const l = done(res("HTTP/1.1 200 \xc7a \x85va\r\nContent-Length: 0\r\nX: \x9c\r\n\r\n"));
    expect([l.reason, l.fields[1].value]).toEqual(["\xc7a \x85va", "\x9c"]);
  });

  test("framing: chunked, length, close-delimited", () => {
    expect(done(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")).body).toEqual({ kind: "chunked" });
    const c = done(res("HTTP/1.1 200 OK\r\n\r\n"));
    expect(c.body).toEqual({ kind: "close" });
    expect(c.keepAlive).toBe(false);
    expect(done(res("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n")).keepAlive).toBe(false);
    expect(done(res("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n")).keepAlive).toBe(true);
    expect(done(res("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n")).keepAlive).toBe(false);
  });

  test("no body: HEAD, 1xx, 204, 304, whatever the fields say", () => {
    expect(done(res("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "HEAD")).body).toEqual({ kind: "none" });
    expect(done(res("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HEAD")).body).toEqual({ kind: "none" });
    expect(done(res("HTTP/1.1 100 Continue\r\n\r\n")).body).toEqual({ kind: "none" });
    expect(done(res("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")).body).toEqual({ kind: "none" });
    expect(done(res("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")).body).toEqual({ kind: "none" });
    const nm = done(res("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n"));
    expect(nm.body).toEqual({ kind: "none" });
    expect(nm.keepAlive).toBe(true);
  });

  test("101 and 2xx to CONNECT are tunnels", () => {
    const u = done(res("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
    expect(u.tunnel).toBe(true);
    expect(u.upgrade).toBe("websocket");
    expect(u.body).toEqual({ kind: "none" });
    expect(u.keepAlive).toBe(false);
    expect(done(res("HTTP/1.1 200 Connection established\r\n\r\n", "CONNECT")).tunnel).toBe(true);
    expect(done(res("HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n", "CONNECT")).tunnel).toBe(false);
  });

  const bad: [string, string, string, string?, number?][] = [
    ["leading CRLF", "\r\nHTTP/1.1 200 OK\r\n\r\n", "invalid status line"],
    ["not HTTP", "ICY 200 OK\r\n\r\n", "invalid status line"],
    ["HTTP/2", "HTTP/2 200\r\n\r\n", "invalid status line"],
    ["HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", "unsupported HTTP version"],
    ["two-digit status", "HTTP/1.1 20 OK\r\n\r\n", "invalid status code"],
    ["four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", "invalid status code"],
    ["status 600", "HTTP/1.1 600 OK\r\n\r\n", "invalid status code"],
    ["status 099", "HTTP/1.1 099 OK\r\n\r\n", "invalid status code"],
    ["double space", "HTTP/1.1  200 OK\r\n\r\n", "invalid status code"],
    ["NUL in reason", "HTTP/1.1 200 O\x00K\r\n\r\n", "control character in reason phrase"],
    ["bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "bare LF"],
    ["bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "bare CR"],
    ["obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "obsolete line folding"],
    ["space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", "whitespace between field name and colon"],
    ["Content_Length", "HTTP/1.1 200 OK\r\nContent_Length: 5\r\n\r\n", "resembling a framing field"],
    ["Connection naming Content-Length", "HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\n", "Connection names content-length"],
    ["CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding"],
    ["CL and TE on 204", "HTTP/1.1 204 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", "both Content-Length and Transfer-Encoding"],
    ["different lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "duplicate Content-Length"],
    ["same lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", "duplicate Content-Length"],
    ["length list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", "Content-Length list"],
    ["signed length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid character in Content-Length"],
    ["chunked not final", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "not the final"],
    ["gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "not supported"],
    ["unknown coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n", "unknown transfer coding"],
    ["TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.0"],
    ["too many fields", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", "too many header fields", "small"],
    ["status line too long", `HTTP/1.1 200 ${"x".repeat(30)}\r\n\r\n`, "status line too long", "small", 20],
    ["head too large", `HTTP/1.1 200 OK\r\nX: ${"x".repeat(60)}\r\n\r\n`, "header section too large", "small", 60],
  ];
  const small: HeadLimits = { maxRequestLine: 20, maxHeaderBytes: 60, maxHeaders: 3 };
  for (const [name, input, reason, lim, pos] of bad)
    test(`rejected with 502: ${name}`, () => rejects(res(input, "GET", lim ? small : DEFAULT_LIMITS), 502, reason, pos));

  test("incomplete response heads ask for more", () => {
    for (const s of ["", "H", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nA: b\r\n\r"]) expect(res(s).kind).toBe("more");
  });
});

describe("micro-benchmark", () => {
  test("a typical 500-byte browser request head: ns per parse (printed; the bound only catches pathologies)", () => {
    const head = bytes(
      "GET /search?q=load+balancer&lang=en HTTP/1.1\r\nHost: www.example.com\r\n" +
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\n" +
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n" +
        "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nReferer: https://www.example.com/\r\n" +
        "Connection: keep-alive\r\nCookie: session=0123456789abcdef; theme=dark\r\nUpgrade-Insecure-Requests: 1\r\n" +
        "Sec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n\r\n",
    );
    expect(head.length).toBe(506);
    for (let i = 0; i < 20_000; i++) parseRequestHead(head);
    const n = 200_000;
    const t0 = performance.now();
    let fields = 0;
    for (let i = 0; i < n; i++) {
      const r = parseRequestHead(head);
      if (r.kind === "done") fields += r.head.fields.length;
    }
    const ns = ((performance.now() - t0) * 1e6) / n;
    console.log(`parseRequestHead: ${ns.toFixed(0)} ns per ${head.length}-byte head (${fields / n} fields)`);
    expect(fields).toBe(11 * n);
    expect(ns).toBeLessThan(50_000);
  });
});
