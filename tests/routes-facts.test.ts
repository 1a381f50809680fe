/** src/routes/facts.ts: what matching reads of a parsed request head. */
import { describe, expect, test } from "bun:test";
import { parseRequestHead } from "../src/http/head.ts";
import type { RequestHead } from "../src/http/types.ts";
import { HeadFacts, normalizeHost, requestFacts, targetPath } from "../src/routes/facts.ts";

function head(text: string): RequestHead {
  const r = parseRequestHead(new TextEncoder().encode(text));
  if (r.kind !== "done") throw new Error(`not parsed: ${JSON.stringify(r)}`);
  return r.head;
}

describe("normalizeHost", () => {
  test("lowercased, without port and trailing dot", () => {
    for (const [h, want] of [
      ["example.com", "example.com"], ["Example.COM", "example.com"], ["example.com:8080", "example.com"], ["example.com.", "example.com"],
      ["EXAMPLE.com.:443", "example.com"], ["[::1]", "[::1]"], ["[::1]:80", "[::1]"], ["[FE80::1]:80", "[fe80::1]"], ["10.0.0.1:81", "10.0.0.1"],
    ]) expect(normalizeHost(h)).toBe(want);
  });
  test("an already normal host is returned as it is (no copy)", () => {
    const h = "api.example.com";
    expect(normalizeHost(h)).toBe(h);
  });
});

describe("targetPath", () => {
  test("the path without the query, for each target form", () => {
    expect(targetPath("/a/b?x=1", "origin")).toBe("/a/b");
    expect(targetPath("/a/b", "origin")).toBe("/a/b");
    expect(targetPath("/?", "origin")).toBe("/");
    expect(targetPath("http://h.example/a?q", "absolute")).toBe("/a");
    expect(targetPath("https://h.example:8443", "absolute")).toBe("/");
    expect(targetPath("http://h.example?q=/x", "absolute")).toBe("/");
    expect(targetPath("*", "asterisk")).toBe("*");
    expect(targetPath("h.example:443", "authority")).toBe("");
  });
  test("compared as received: no percent-decoding, no dot segments removed", () => {
    expect(targetPath("/a%2Fb/../c", "origin")).toBe("/a%2Fb/../c");
  });
});

describe("HeadFacts", () => {
  test("from a parsed head: method, host, path, header lookups", () => {
    const f = requestFacts(head("POST /v1/users?id=3 HTTP/1.1\r\nHost: API.Example.com:8443\r\nX-Tenant: blue\r\nX-Tenant:  red \r\nContent-Length: 0\r\n\r\n"));
    expect([f.method, f.host, f.path]).toEqual(["POST", "api.example.com", "/v1/users"]);
    expect(f.header("x-tenant", "red")).toBe(true);
    expect(f.header("x-tenant", "blue")).toBe(true);
    expect(f.header("x-tenant", "green")).toBe(false);
    expect(f.header("x-tenant", undefined)).toBe(true);
    expect(f.header("x-debug", undefined)).toBe(false);
  });
  test("HTTP/1.0 without Host: host is empty; absolute-form: the path after the authority", () => {
    expect(requestFacts(head("GET /x HTTP/1.0\r\n\r\n")).host).toBe("");
    const f = requestFacts(head("GET http://a.example/p/q?z HTTP/1.1\r\nHost: a.example\r\n\r\n"));
    expect([f.host, f.path]).toEqual(["a.example", "/p/q"]);
  });
  test("reset forgets the previous request", () => {
    const f = new HeadFacts().reset(head("GET /a HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\r\n"));
    f.reset(head("PUT /b HTTP/1.1\r\nHost: b\r\n\r\n"));
    expect([f.method, f.host, f.path, f.header("x-a", undefined)]).toEqual(["PUT", "b", "/b", false]);
  });
});
