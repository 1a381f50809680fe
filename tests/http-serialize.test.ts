import { describe, expect, test } from "bun:test";
import { parseRequestHead, parseResponseHead } from "../src/http/head.ts";
import { fieldLines, hopByHop, serializeRequestHead, serializeResponseHead } from "../src/http/serialize.ts";
import { ResponseReader } from "../src/http/response.ts";
import { DEFAULT_LIMITS, type HeadBase, type RequestHead, type ResponseHead } from "../src/http/types.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => String.fromCharCode(...b);

function request(s: string): { src: Uint8Array; head: RequestHead } {
  const src = bytes(s);
  const r = parseRequestHead(src);
  if (r.kind !== "done") throw new Error(JSON.stringify(r));
  return { src, head: r.head };
}

function response(s: string, method = "GET"): { src: Uint8Array; head: ResponseHead } {
  const src = bytes(s);
  const r = parseResponseHead(src, undefined, 0, method);
  if (r.kind !== "done") throw new Error(JSON.stringify(r));
  return { src, head: r.head };
}

/** A head without its offsets, to compare heads parsed from different bytes. */
function shape(h: HeadBase): unknown {
  const { lineStart: _a, lineEnd: _b, fields, ...rest } = h;
  return { ...rest, fields: fields.map((f) => [f.name, f.lower, f.value, f.end - f.start]) };
}

describe("serializeRequestHead", () => {
  const s = "POST /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\n" +
    "Content-Length: 3\r\nTE: trailers\r\nX-Keep:  spaced  value \r\nProxy-Connection: close\r\n\r\nabc";

  test("nothing dropped or added: the head bytes, verbatim", () => {
    const { src, head } = request(s);
    expect(text(serializeRequestHead(src, head))).toBe(s.slice(0, -3));
    expect(text(serializeRequestHead(src, head, { drop: () => false, lines: [] }))).toBe(s.slice(0, -3));
  });

  test("a leading CRLF is not forwarded", () => {
    const { src, head } = request(`\r\n${s}`);
    expect(text(serializeRequestHead(src, head))).toBe(s.slice(0, -3));
  });

  test("hop-by-hop fields dropped, forwarding fields appended, the rest copied byte for byte", () => {
    const { src, head } = request(s);
    const hop = hopByHop(head);
    const out = serializeRequestHead(src, head, {
      drop: (n) => hop.has(n) || n === "x-forwarded-for",
      lines: [fieldLines([["X-Forwarded-For", "192.0.2.1"], ["X-Forwarded-Proto", "http"]])],
    });
    expect(text(out)).toBe("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-Keep:  spaced  value \r\n" +
      "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n\r\n");
  });

  test("a replacement request line", () => {
    const { src, head } = request("GET http://a/p?q HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");
    const out = serializeRequestHead(src, head, { requestLine: "GET /p?q HTTP/1.1" });
    expect(text(out)).toBe("GET /p?q HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");
  });

  test("every field dropped", () => {
    const { src, head } = request("GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\n\r\n");
    expect(text(serializeRequestHead(src, head, { drop: () => true }))).toBe("GET / HTTP/1.0\r\n\r\n");
  });

  test("latin1 in appended values is written as single bytes; empty values are allowed", () => {
    const { src, head } = request("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    const out = serializeRequestHead(src, head, { lines: [fieldLines([["X-Name", "caf\xe9"], ["X-Empty", ""]])] });
    expect(Array.from(out.subarray(33, 37))).toEqual([0x63, 0x61, 0x66, 0xe9]);
    expect(text(out)).toBe("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9\r\nX-Empty: \r\n\r\n");
  });

  test("nothing can be injected: bad names, values and lines throw", () => {
    const { src, head } = request("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    const bad: [string, string][] = [
      ["X-A", "1\r\nX-Injected: 1"],
      ["X-A", "1\nX"],
      ["X-A", "a\x00b"],
      ["X-A", "\u0100"],
      ["X A", "1"],
      ["X-A:", "1"],
      ["", "1"],
      ["X-\u00e9", "1"],
    ];
    for (const field of bad) expect(() => serializeRequestHead(src, head, { lines: [fieldLines([field])] })).toThrow(TypeError);
    expect(() => serializeRequestHead(src, head, { requestLine: "GET / HTTP/1.1\r\nX: y" })).toThrow(TypeError);
    expect(() => serializeRequestHead(src, head, { requestLine: "" })).toThrow(TypeError);
  });

  test("the output parses back to the same head (latin1 values included)", () => {
    for (const input of [s, "GET / HTTP/1.1\r\nHost: a\r\nX: \x85\xe9\r\nY: z\r\n\r\n"]) {
      const { src, head } = request(input);
      const again = parseRequestHead(serializeRequestHead(src, head));
      if (again.kind !== "done") throw new Error(JSON.stringify(again));
      expect(shape(again.head)).toEqual(shape(head));
    }
  });

  test("the output with dropped and appended fields parses back to what was asked", () => {
    const { src, head } = request(s);
    const hop = hopByHop(head);
    const again = parseRequestHead(serializeRequestHead(src, head, { drop: (n) => hop.has(n), lines: [fieldLines([["Via", "1.1 plb"]])] }));
    if (again.kind !== "done") throw new Error(JSON.stringify(again));
    expect(again.head.fields.map((f) => `${f.name}: ${f.value}`)).toEqual(["Host: a", "Content-Length: 3", "X-Keep: spaced  value", "Via: 1.1 plb"]);
    expect(again.head.body).toEqual({ kind: "length", length: 3 });
    expect(again.head.connection).toEqual([]);
  });
});

describe("Trailer is forwarded, TE is not", () => {
  test("a chunked request: Trailer kept where it was, TE dropped, the trailer section is body (not touched here)", () => {
    const s = "POST /up HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nTrailer: X-Sum, X-Sig\r\nTransfer-Encoding: chunked\r\n\r\n";
    const { src, head } = request(s);
    const hop = hopByHop(head);
    expect(text(serializeRequestHead(src, head, { drop: (n) => hop.has(n) }))).toBe(
      "POST /up HTTP/1.1\r\nHost: a\r\nTrailer: X-Sum, X-Sig\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
  });

  test("a chunked response: Trailer kept (and several Trailer lines, verbatim)", () => {
    const s = "HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\ntrailer:  Server-Timing \r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n";
    const { src, head } = response(s);
    const hop = hopByHop(head);
    expect(text(serializeResponseHead(src, head, { drop: (n) => hop.has(n) }))).toBe(
      "HTTP/1.1 200 OK\r\nTrailer: X-Checksum\r\ntrailer:  Server-Timing \r\nTransfer-Encoding: chunked\r\n\r\n",
    );
  });

  test("Connection: Trailer makes it hop-by-hop: dropped", () => {
    const { src, head } = response("HTTP/1.1 200 OK\r\nConnection: Trailer\r\nTrailer: X-Sum\r\nContent-Length: 0\r\n\r\n");
    const hop = hopByHop(head);
    expect(text(serializeResponseHead(src, head, { drop: (n) => hop.has(n) }))).toBe("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
});

describe("serializeResponseHead", () => {
  test("drop, append, replace the status line", () => {
    const s = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\nServer: x\r\n\r\nhi";
    const { src, head } = response(s);
    const hop = hopByHop(head);
    expect(text(serializeResponseHead(src, head))).toBe(s.slice(0, -2));
    expect(text(serializeResponseHead(src, head, { drop: (n) => hop.has(n) || n === "server", lines: [fieldLines([["Via", "1.1 plb"]])] })))
      .toBe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nVia: 1.1 plb\r\n\r\n");
    expect(text(serializeResponseHead(src, head, { statusLine: "HTTP/1.1 200 Fine" }))).toBe(
      "HTTP/1.1 200 Fine\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\nServer: x\r\n\r\n",
    );
  });
});

describe("hopByHop", () => {
  test("the fixed set plus the Connection options (close names no field: \"Close\" is a reserved field name, RFC 9110 §16.3.2.1)", () => {
    const { head } = request("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, X-Custom, close\r\n\r\n");
    expect([...hopByHop(head)].sort()).toEqual(
      ["connection", "keep-alive", "proxy-connection", "te", "upgrade", "x-custom"].sort(),
    );
  });

  test("Trailer is end-to-end (RFC 9110 §7.6.1 does not list it); TE is hop-by-hop", () => {
    const { head } = request("POST / HTTP/1.1\r\nHost: a\r\nTrailer: X-Sum\r\nTE: trailers\r\nTransfer-Encoding: chunked\r\n\r\n");
    expect(hopByHop(head).has("trailer")).toBe(false);
    expect(hopByHop(head).has("te")).toBe(true);
  });

  test("a Trailer named in Connection is hop-by-hop like any field named there", () => {
    const { head } = request("GET / HTTP/1.1\r\nHost: a\r\nConnection: Trailer\r\nTrailer: X-Sum\r\n\r\n");
    expect(hopByHop(head).has("trailer")).toBe(true);
  });

  test("never the framing fields or Host, even if asked", () => {
    const set = hopByHop({ connection: ["content-length", "transfer-encoding", "host", "x-a"] });
    expect(set.has("content-length")).toBe(false);
    expect(set.has("transfer-encoding")).toBe(false);
    expect(set.has("host")).toBe(false);
    expect(set.has("x-a")).toBe(true);
  });
});

describe("a head with the body bytes that followed it", () => {
  test("the tail is copied after the final CRLF, in the same buffer", () => {
    const { src, head } = response("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello+extra");
    const end = text(src).indexOf("hello");
    const out = serializeResponseHead(src, head, { drop: (l) => l === "connection", tailStart: end, tailEnd: end + 5 });
    expect(text(out)).toBe("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  });
});

describe("ResponseReader", () => {
  test("a head and its body in one read are one part; headBytes counts the head only; the rest of the read is extra", () => {
    const r = new ResponseReader("GET", DEFAULT_LIMITS, { closesAfterResponse: false }, false, false);
    const out = r.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloX"));
    expect(out.parts.length).toBe(1);
    expect(text(out.parts[0])).toBe("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    expect(r.headBytes).toBe(out.parts[0].length - 5);
    expect(r.done).toBe(true);
    expect(out.extra).toBe(true);
  });

  test("a head with nothing to change goes on as the very bytes read; one with a hop-by-hop field to drop is rewritten", () => {
    const read = bytes("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi");
    const r = new ResponseReader("GET", DEFAULT_LIMITS, { closesAfterResponse: false }, false, false);
    const out = r.feed(read);
    expect(out.parts.length).toBe(1);
    expect(out.parts[0]).toBe(read); // the same buffer: no copy
    expect(r.headBytes).toBe(read.length - 2);
    const ka = new ResponseReader("GET", DEFAULT_LIMITS, { closesAfterResponse: false }, false, false);
    expect(text(ka.feed(bytes("HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nhi")).parts[0])).toBe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
    // the client's connection ends after this response: it is told so
    const closing = new ResponseReader("GET", DEFAULT_LIMITS, { closesAfterResponse: true }, false, false);
    expect(text(closing.feed(read).parts[0])).toBe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
    // a server's Connection: close is not the client's
    const srvClose = new ResponseReader("GET", DEFAULT_LIMITS, { closesAfterResponse: false }, false, false);
    expect(text(srvClose.feed(bytes("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi")).parts[0])).toBe("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
  });

  test("byte at a time and whole give the same bytes to the client (chunked body, interim 100 head)", () => {
    const s = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    const whole = new ResponseReader("GET", DEFAULT_LIMITS, { closesAfterResponse: false }, false, false);
    const a = whole.feed(bytes(s)).parts.map(text).join("");
    const single = new ResponseReader("GET", DEFAULT_LIMITS, { closesAfterResponse: false }, false, false);
    let b = "";
    for (const c of bytes(s)) b += single.feed(Uint8Array.of(c)).parts.map(text).join("");
    expect(a).toBe(b);
    expect(a).toEndWith("\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    expect(whole.done && single.done).toBe(true);
    expect(whole.headBytes).toBe(single.headBytes);
  });
});

test("Connection: close or keep-alive names no field: the shared hop-by-hop set, not a copy", () => {
  const base = hopByHop(request("GET / HTTP/1.1\r\nHost: a\r\n\r\n").head);
  expect(hopByHop(request("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").head)).toBe(base);
  expect(hopByHop(request("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n").head)).toBe(base);
  expect(hopByHop(request("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Hop\r\n\r\n").head).has("x-hop")).toBe(true);
});
