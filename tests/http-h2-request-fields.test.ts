/** src/http/h2/request-fields.ts: the RFC 9113 §8 rules that make a request (or its trailers) malformed. */
import { describe, expect, test } from "bun:test";
import { checkRequestFields, checkTrailerFields } from "../src/http/h2/request-fields.ts";

const BASE = [":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a.example"];

describe("valid requests", () => {
  test("the usual pseudo-headers in any order, then fields", () => {
    expect(checkRequestFields([...BASE, "accept", "*/*", "te", "trailers"])).toEqual({ ok: true, contentLength: -1 });
    expect(checkRequestFields([":path", "/x", ":authority", "a", ":scheme", "http", ":method", "POST", "content-length", "12", "content-length", "12"])).toEqual({ ok: true, contentLength: 12 });
  });
  test("CONNECT with :authority only; OPTIONS *; no :authority", () => {
    expect(checkRequestFields([":method", "CONNECT", ":authority", "a.example:443"]).ok).toBe(true);
    expect(checkRequestFields([":method", "OPTIONS", ":scheme", "https", ":path", "*"]).ok).toBe(true);
    expect(checkRequestFields([":method", "GET", ":scheme", "https", ":path", "/"]).ok).toBe(true);
  });
  test("values may hold inner spaces, tabs and octets 0x80-0xff", () => {
    expect(checkRequestFields([...BASE, "x-a", "a b\tc\xff"]).ok).toBe(true);
  });
});

describe("malformed requests", () => {
  const cases: [string, string[], string][] = [
    ["pseudo-header after a regular field", [":method", "GET", ":scheme", "https", "accept", "*/*", ":path", "/"], "after a regular"],
    ["unknown pseudo-header", [...BASE, ":foo", "bar"], "unknown pseudo-header"],
    ["unknown pseudo-header (:protocol, no extended CONNECT)", [":method", "CONNECT", ":protocol", "websocket", ":authority", "a"], "unknown pseudo-header"],
    ["response pseudo-header", [...BASE.slice(0, 6), ":status", "200"], ":status"],
    ["duplicate :method", [...BASE, ":method", "GET"], "duplicate :method"],
    ["duplicate :scheme", [":scheme", "https", ...BASE], "duplicate :scheme"],
    ["duplicate :path", [":path", "/", ...BASE], "duplicate :path"],
    ["duplicate :authority", [":authority", "b", ...BASE], "duplicate :authority"],
    ["no :method", BASE.slice(2), "no :method"],
    ["no :scheme", [":method", "GET", ":path", "/"], "no :scheme"],
    ["no :path", [":method", "GET", ":scheme", "https"], "no :path"],
    ["empty :path", [":method", "GET", ":scheme", "https", ":path", ""], "empty :path"],
    ["CONNECT without :authority", [":method", "CONNECT"], "CONNECT without"],
    ["CONNECT with :path", [":method", "CONNECT", ":authority", "a", ":path", "/"], "CONNECT with"],
    ["uppercase field name", [...BASE, "Accept", "*/*"], "uppercase"],
    ["empty field name", [...BASE, "", "x"], "empty field name"],
    ["space in a field name", [...BASE, "x y", "x"], "octet 0x20"],
    ["colon inside a field name", [...BASE, "x:y", "x"], "octet 0x3a"],
    ["octet 0x80 in a field name", [...BASE, "x\x80", "x"], "octet 0x80"],
    ["connection", [...BASE, "connection", "close"], "connection-specific"],
    ["keep-alive", [...BASE, "keep-alive", "5"], "connection-specific"],
    ["proxy-connection", [...BASE, "proxy-connection", "x"], "connection-specific"],
    ["transfer-encoding", [...BASE, "transfer-encoding", "chunked"], "connection-specific"],
    ["upgrade", [...BASE, "upgrade", "h2c"], "connection-specific"],
    ["te other than trailers", [...BASE, "te", "gzip"], "te"],
    ["NUL in a value", [...BASE, "x-a", "a\0b"], "0x0"],
    ["LF in a value", [...BASE, "x-a", "a\nb"], "0xa"],
    ["CR in a pseudo-header value", [":method", "GE\rT", ":scheme", "https", ":path", "/"], "0xd"],
    ["leading space", [...BASE, "x-a", " a"], "whitespace"],
    ["trailing tab", [...BASE, "x-a", "a\t"], "whitespace"],
    ["content-length not a number", [...BASE, "content-length", "1e3"], "not a number"],
    ["content-length values differ", [...BASE, "content-length", "1", "content-length", "2"], "differ"],
  ];
  for (const [name, fields, reason] of cases)
    test(name, () => {
      const r = checkRequestFields(fields);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.reason).toContain(reason);
    });
});

describe("trailers", () => {
  test("regular fields pass; a pseudo-header or a bad field does not", () => {
    expect(checkTrailerFields(["x-checksum", "abc", "grpc-status", "0"]).ok).toBe(true);
    expect(checkTrailerFields([]).ok).toBe(true);
    expect(checkTrailerFields([":path", "/"])).toMatchObject({ ok: false, reason: expect.stringContaining("pseudo-header") });
    expect(checkTrailerFields(["X-A", "1"])).toMatchObject({ ok: false, reason: expect.stringContaining("uppercase") });
    expect(checkTrailerFields(["connection", "close"])).toMatchObject({ ok: false });
  });
});
