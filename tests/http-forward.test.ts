import { expect, test } from "bun:test";
import type { HttpSettings } from "../src/config/types.ts";
import { ClientForwarding, forwardedRequestHead, forwardingFor } from "../src/http/forward.ts";
import { parseRequestHead } from "../src/http/head.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => String.fromCharCode(...b);
const cfg = (over: Partial<HttpSettings> = {}) => ({ forwarded_for: "append", forwarded: false, ...over }) as HttpSettings;

function forward(s: string, client: ClientForwarding, settings: HttpSettings, proto: "http" | "https" = "http"): string {
  const src = bytes(s);
  const r = parseRequestHead(src);
  if (r.kind !== "done") throw new Error(JSON.stringify(r));
  return text(forwardedRequestHead(src, r.head, client, proto, settings));
}

test("hop-by-hop fields out, forwarding fields in; the client's own X-Forwarded-For entries come first (append)", () => {
  const c = new ClientForwarding("127.0.0.2");
  const s = cfg();
  expect(forward("GET /a HTTP/1.1\r\nHost: h.test\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nAccept: */*\r\n\r\n", c, s)).toBe(
    "GET /a HTTP/1.1\r\nHost: h.test\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1, 127.0.0.2\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h.test\r\n\r\n",
  );
  // replace: only plb's hop; off: no X-Forwarded-For at all (a client's passes through)
  expect(forward("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n", c, cfg({ forwarded_for: "replace" }))).toBe("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 127.0.0.2\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n");
  expect(forward("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n", c, cfg({ forwarded_for: "off" }))).toBe("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n");
});

test("the forwarding lines are made once per connection and made again when host, settings or scheme change", () => {
  const c = new ClientForwarding("::1");
  const s = cfg({ forwarded: true });
  const first = forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n", c, s);
  expect(first).toBe('GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: ::1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\nForwarded: for="[::1]";proto=http;host="a"\r\n\r\n');
  const lines = c.lines("a", s, "http", undefined);
  expect(c.lines("a", s, "http", undefined)).toBe(lines); // the same bytes, not made again
  expect(forward("GET / HTTP/1.1\r\nHost: b\r\n\r\n", c, s)).toContain("X-Forwarded-Host: b\r\n");
  expect(forward("GET / HTTP/1.1\r\nHost: b\r\n\r\n", c, s, "https")).toContain("X-Forwarded-Proto: https\r\n");
  expect(forward("GET / HTTP/1.1\r\nHost: b\r\n\r\n", c, cfg({ forwarded: false }), "https")).not.toContain("Forwarded: for");
  // a request with its own X-Forwarded-For gets its own lines, and leaves the connection's alone
  expect(forward("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n", c, s)).toContain("X-Forwarded-For: 1.2.3.4, ::1\r\n");
  expect(forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n", c, s)).toBe(first);
});

test("an upgrade keeps Upgrade and says Connection: Upgrade; a 1.0 request asks the server to keep the connection", () => {
  const c = new ClientForwarding("127.0.0.1");
  expect(forward("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", c, cfg())).toBe(
    "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nConnection: Upgrade\r\n\r\n",
  );
  expect(forward("GET / HTTP/1.0\r\n\r\n", c, cfg())).toBe("GET / HTTP/1.0\r\nX-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\nConnection: keep-alive\r\n\r\n");
});

test("connections from one address share its forwarding lines; other addresses have their own", () => {
  const a = forwardingFor("10.1.2.3");
  expect(forwardingFor("10.1.2.3")).toBe(a);
  expect(forwardingFor("10.1.2.4")).not.toBe(a);
  const lines = a.lines("h", cfg(), "http", undefined);
  expect(forwardingFor("10.1.2.3").lines("h", cfg({}), "http", undefined)).not.toBe(lines); // other settings object: made again
  expect(forward("GET / HTTP/1.1\r\nHost: h\r\n\r\n", forwardingFor("10.1.2.4"), cfg())).toContain("X-Forwarded-For: 10.1.2.4\r\n");
});

test("client certificate fields: a client's are always removed; plb's come after the forwarding fields", async () => {
  const { fieldLines } = await import("../src/http/serialize.ts");
  const c = new ClientForwarding("127.0.0.5");
  const src = bytes("GET / HTTP/1.1\r\nHost: h\r\nX-Client-Cert-Verified: SUCCESS\r\nx-client-cert: forged\r\nX-Client-Cert-Subject: CN=admin\r\nX-Client-Cert-Issuer: CN=me\r\nX-Client-Cert-Fingerprint: 00\r\nX-Client-Certificate: kept\r\n\r\n");
  const r = parseRequestHead(src);
  if (r.kind !== "done") throw new Error(JSON.stringify(r));
  expect(text(forwardedRequestHead(src, r.head, c, "https", cfg()))).toBe("GET / HTTP/1.1\r\nHost: h\r\nX-Client-Certificate: kept\r\nX-Forwarded-For: 127.0.0.5\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\n\r\n");
  const lines = fieldLines([["X-Client-Cert-Verified", "NONE"]]);
  expect(text(forwardedRequestHead(src, r.head, c, "https", cfg(), undefined, lines))).toBe(
    "GET / HTTP/1.1\r\nHost: h\r\nX-Client-Certificate: kept\r\nX-Forwarded-For: 127.0.0.5\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\nX-Client-Cert-Verified: NONE\r\n\r\n",
  );
});
