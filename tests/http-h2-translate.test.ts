/**
 * src/http/h2/request-head.ts and response-fields.ts, byte by byte: the
 * HTTP/1.1 head built for an HTTP/2 request (RFC 9113 §8), what is refused
 * and how (malformed: no status, a stream error; sizes: 414/431; CONNECT:
 * 501), and the HTTP/2 response fields made from an HTTP/1 response head,
 * with a route's response_headers edit.
 */
import { describe, expect, test } from "bun:test";
import { forwardedRequestHead, ClientForwarding } from "../src/http/forward.ts";
import { parseResponseHead } from "../src/http/head.ts";
import { h1RequestFrom, h2ResponseFields } from "../src/http/h2/translate.ts";
import { responseEdit } from "../src/routes/rewrite.ts";
import type { TemplateValues } from "../src/routes/types.ts";
import type { HttpSettings } from "../src/config/types.ts";
import { DEFAULT_LIMITS } from "../src/http/types.ts";
import { routesOf } from "./support/routes.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1");
const GET = [":method", "GET", ":scheme", "https", ":path", "/", ":authority", "example.com"];
const req = (extra: string[], endStream = true, base = GET) => h1RequestFrom([...base, ...extra], endStream, DEFAULT_LIMITS);
const out = (extra: string[], endStream = true, base = GET) => {
  const r = req(extra, endStream, base);
  if (r.kind !== "done") throw new Error(`refused: ${r.reason}`);
  return text(r.raw);
};
const with_ = (name: string, value: string) => GET.map((x, i) => (i % 2 === 1 && GET[i - 1] === name ? value : x));

describe("the HTTP/1.1 head", () => {
  test("request line, Host first from :authority, fields in order, te left out", () => {
    expect(out(["user-agent", "curl/8", "accept", "*/*", "te", "trailers"])).toBe(
      "GET / HTTP/1.1\r\nHost: example.com\r\nuser-agent: curl/8\r\naccept: */*\r\n\r\n");
  });
  test("the head returned is parseRequestHead's, over the bytes returned (what exchange.begin takes)", () => {
    const r = req(["x-a", "1"]);
    if (r.kind !== "done") throw new Error(r.reason);
    expect(r.head.method).toBe("GET");
    expect(r.head.target).toBe("/");
    expect(r.head.host).toBe("example.com");
    expect(r.head.versionMinor).toBe(1);
    expect(r.head.keepAlive).toBe(true);
    expect(r.head.body).toEqual({ kind: "none" });
    expect(r.head.fields.map((f) => text(r.raw.subarray(f.start, f.end)))).toEqual(["Host: example.com\r\n", "x-a: 1\r\n"]);
    expect(r.scheme).toBe("https");
    // It forwards like an HTTP/1 request: the head the server gets.
    const sent = forwardedRequestHead(r.raw, r.head, new ClientForwarding("192.0.2.9"), "https", { forwarded_for: "append", forwarded: false } as HttpSettings);
    expect(text(sent)).toBe("GET / HTTP/1.1\r\nHost: example.com\r\nx-a: 1\r\nX-Forwarded-For: 192.0.2.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: example.com\r\n\r\n");
  });
  test("host alone stands for :authority; both must agree (case aside)", () => {
    expect(out(["host", "h.example:8080"], true, GET.slice(0, 6))).toBe("GET / HTTP/1.1\r\nHost: h.example:8080\r\n\r\n");
    expect(out(["host", "EXAMPLE.com"])).toBe("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    expect(req(["host", "other.example"])).toEqual({ kind: "error", reason: "host and :authority disagree" });
    expect(req([], true, GET.slice(0, 6))).toEqual({ kind: "error", reason: "no :authority and no host" });
  });
  test("cookie crumbs join into one field with '; ' where the first was (RFC 9113 §8.2.3)", () => {
    expect(out(["cookie", "a=1", "accept", "*/*", "cookie", "b=2", "cookie", "c=3"])).toBe(
      "GET / HTTP/1.1\r\nHost: example.com\r\ncookie: a=1; b=2; c=3\r\naccept: */*\r\n\r\n");
  });
  test("framing: content-length passes (and is returned), else END_STREAM → none, else chunked", () => {
    const post = with_(":method", "POST");
    const cl = req(["content-length", "5"], false, post);
    expect(cl.kind === "done" && [text(cl.raw), cl.chunked, cl.contentLength, cl.head.body]).toEqual([
      "POST / HTTP/1.1\r\nHost: example.com\r\ncontent-length: 5\r\n\r\n", false, 5, { kind: "length", length: 5 }]);
    const two = req(["content-length", "5", "x", "y", "content-length", "05"], false, post);
    expect(two.kind === "done" && text(two.raw)).toBe("POST / HTTP/1.1\r\nHost: example.com\r\ncontent-length: 5\r\nx: y\r\n\r\n");
    expect(out([], true, post)).toBe("POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n");
    expect(out([], true, with_(":method", "PUT"))).toContain("Content-Length: 0\r\n");
    expect(out([], true, with_(":method", "DELETE"))).toBe("DELETE / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    const ch = req(["content-type", "text/plain"], false, post);
    expect(ch.kind === "done" && [text(ch.raw), ch.chunked, ch.contentLength, ch.head.body]).toEqual([
      "POST / HTTP/1.1\r\nHost: example.com\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n", true, undefined, { kind: "chunked" }]);
    expect(req(["content-length", "0"], true, post).kind).toBe("done");
  });
  test("content-length: digits only, several must agree, none but 0 with END_STREAM", () => {
    for (const v of ["", "-1", "+5", "5 ", "0x10", "1e3", "5,5", "99999999999999999"]) expect(req(["content-length", v], false).kind).toBe("error");
    expect(req(["content-length", "5", "content-length", "6"], false)).toEqual({ kind: "error", reason: "content-length values disagree" });
    expect(req(["content-length", "5"], true)).toEqual({ kind: "error", reason: "content-length with no DATA (END_STREAM on HEADERS)" });
  });
  test("OPTIONS * and absolute :path", () => {
    expect(out([], true, [":method", "OPTIONS", ":scheme", "http", ":path", "*", ":authority", "a"])).toBe("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(req([], true, with_(":path", "*")).kind).toBe("error");
  });
});

describe("refused", () => {
  const malformed = (fields: string[], endStream = true) => {
    const r = h1RequestFrom(fields, endStream, DEFAULT_LIMITS);
    expect(r.kind).toBe("error");
    expect(r.kind === "error" && r.status).toBeUndefined();
  };
  test("pseudo-headers: each exactly once, known, before the regular fields (malformed: a stream error)", () => {
    malformed(GET.slice(2));
    malformed([...GET.slice(0, 2), ...GET.slice(4)]);
    malformed([...GET.slice(0, 4), ...GET.slice(6)]);
    malformed([...GET, ":method", "GET"]);
    malformed([...GET, ":path", "/x"]);
    malformed([...GET, ":authority", "example.com"]);
    malformed([...GET, ":scheme", "http"]);
    malformed([...GET, ":status", "200"]);
    malformed([...GET, ":protocol", "websocket"]);
    malformed(["accept", "*/*", ...GET]);
    malformed([...GET.slice(0, 4), "accept", "*/*", ...GET.slice(4)]);
    malformed([...GET, "x"]);
  });
  test("names lowercase tchar; values without NUL/CR/LF/controls or surrounding whitespace", () => {
    for (const n of ["", "Accept", "a b", "a:b", "a\r\nb", "é", "a\0"]) malformed([...GET, n, "v"]);
    for (const v of ["a\rb", "a\nb", "a\0b", "a\x01b", "a\x7fb", " a", "a ", "\ta", "a\t", "\u0100"]) malformed([...GET, "x-a", v]);
    expect(out(["x-a", "a b\tc", "x-b", "", "x-c", "caf\xe9"])).toBe("GET / HTTP/1.1\r\nHost: example.com\r\nx-a: a b\tc\r\nx-b: \r\nx-c: caf\xe9\r\n\r\n");
  });
  test("connection-specific fields; te other than trailers", () => {
    for (const n of ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]) malformed([...GET, n, "x"]);
    malformed([...GET, "te", "gzip"]);
    malformed([...GET, "te", "trailers, gzip"]);
  });
  test(":path, :method, :scheme, :authority", () => {
    for (const p of ["", "a", "http://example.com/", "/a b", "/a#b", "/a\x7f", "//\u0100"]) malformed(with_(":path", p));
    for (const m of ["", "G ET", "GET /x HTTP/1.1", "G\tET", "G:ET"]) malformed(with_(":method", m));
    for (const a of ["", "u@example.com", "example.com\r\nx: y"]) malformed(with_(":authority", a));
    expect(req([], true, with_(":scheme", "ftp"))).toEqual({ kind: "error", reason: 'unsupported :scheme "ftp"', status: 400 });
  });
  test("what plb's HTTP/1 parser refuses, with its status: a bad Host (400), a long line (414), too many fields (431)", () => {
    expect(req([], true, with_(":authority", "a,b"))).toMatchObject({ kind: "error", status: 400 });
    expect(req([], true, with_(":authority", "[::g]"))).toMatchObject({ kind: "error", status: 400 });
    expect(req([], true, with_(":path", `/${"a".repeat(9000)}`))).toMatchObject({ kind: "error", status: 414 });
    expect(req(Array.from({ length: 120 }, (_, i) => [`x-${i}`, "v"]).flat())).toMatchObject({ kind: "error", status: 431 });
    expect(req(["x-big", "v".repeat(17000)])).toMatchObject({ kind: "error", status: 431 });
    expect(req(["content_length", "5"], false)).toMatchObject({ kind: "error", status: 400 });
  });
  test("CONNECT: 501 when well formed (as plb's HTTP/1 answers it), malformed otherwise", () => {
    expect(req([], true, [":method", "CONNECT", ":authority", "example.com:443"])).toEqual({ kind: "error", reason: "CONNECT is not supported", status: 501 });
    malformed([":method", "CONNECT", ":authority", "example.com:443", ":path", "/"]);
    malformed([":method", "CONNECT", ":scheme", "https"]);
  });
});

describe("HTTP/2 response fields", () => {
  const VALUES: TemplateValues = { client_ip: "127.0.0.2", scheme: "https", host: "example.com", request_id: "id-7" };
  const fields = (s: string, route?: string) => {
    const buf = bytes(s);
    const p = parseResponseHead(buf);
    if (p.kind !== "done") throw new Error(p.kind === "error" ? p.reason : "more");
    return route === undefined ? h2ResponseFields(p.head, buf) : h2ResponseFields(p.head, buf, responseEdit(routesOf(`[[service.route]]\n${route}\n`)[0], VALUES));
  };
  test(":status first, names lowercased, values kept", () => {
    expect(fields("HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 3\r\nX-Odd:  v w \r\n\r\n"))
      .toEqual([":status", "404", "content-type", "text/html", "set-cookie", "a=1", "set-cookie", "b=2", "content-length", "3", "x-odd", "v w"]);
  });
  test("connection-specific fields dropped: Connection and what it names, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE", () => {
    expect(fields("HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\nTransfer-Encoding: chunked\r\nUpgrade: h2c\r\nTE: trailers\r\nTrailer: x-t\r\nX-End: 2\r\n\r\n"))
      .toEqual([":status", "200", "trailer", "x-t", "x-end", "2"]);
  });
  test("a route's response_headers apply as on HTTP/1 (remove, set, add after the kept fields)", () => {
    const route = `backend = "b"\nresponse_headers = { remove = ["Server"], set = { "X-Frame-Options" = "DENY" }, add = { "X-Via" = "plb {request_id}" } }`;
    expect(fields("HTTP/1.1 200 OK\r\nServer: x\r\nX-Frame-Options: ALLOW\r\nX-A: 1\r\n\r\n", route))
      .toEqual([":status", "200", "x-a", "1", "x-frame-options", "DENY", "x-via", "plb id-7"]);
  });
});
