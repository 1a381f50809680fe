/**
 * server_tls as written: the shorthand, the table's keys, what goes
 * together and what does not; the message names the key and the line.
 */
import { describe, expect, test } from "bun:test";
import { parseConfig as parseAs } from "../src/config/index.ts";
import { checkServerTls } from "../src/config/server-tls.ts";

const parseConfig = (text: string) => parseAs(text, "plb.toml");

describe("checkServerTls", () => {
  test("true: verified against the default roots, SNI from the host; false: plain", () => {
    expect(checkServerTls("server_tls", true)).toEqual({ ok: true, value: { verify: true, ca: undefined, server_name: undefined, cert: undefined, key: undefined } });
    expect(checkServerTls("server_tls", false)).toEqual({ ok: true, value: undefined });
  });

  test("a table: verify defaults to true; server_name lowercased without a final dot", () => {
    expect(checkServerTls("server_tls", { ca: "ca.pem", server_name: "App.Internal.", cert: "c.pem", key: "c.key" })).toEqual({
      ok: true,
      value: { verify: true, ca: "ca.pem", server_name: "app.internal", cert: "c.pem", key: "c.key" },
    });
    expect(checkServerTls("server_tls", { verify: false })).toEqual({ ok: true, value: { verify: false, ca: undefined, server_name: undefined, cert: undefined, key: undefined } });
  });

  const bad: [unknown, RegExp][] = [
    ["yes", /server_tls must be true or a table .*got string "yes"/],
    [{ verfy: true }, /unknown key "verfy" \(did you mean "verify"\?\)/],
    [{ verify: "no" }, /server_tls.verify must be true or false/],
    [{ ca: "" }, /server_tls.ca must be the path of a PEM file/],
    [{ cert: "c.pem" }, /server_tls.cert needs server_tls.key too/],
    [{ key: "c.key" }, /server_tls.key needs server_tls.cert too/],
    [{ server_name: "10.0.0.2" }, /server_name must be a host name \(SNI cannot carry an IP address\)/],
    [{ server_name: "[::1]" }, /SNI cannot carry an IP address/],
    [{ server_name: "bad name" }, /server_name must be a host name such as/],
    [{ server_name: 7 }, /server_name must be a string, got integer 7|server_name must be a string, got/],
    [{ verify: false, ca: "ca.pem" }, /server_tls.ca has no effect with server_tls.verify = false/],
  ];
  for (const [value, message] of bad) {
    test(`refused: ${JSON.stringify(value)}`, () => {
      const r = checkServerTls("server_tls", value);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toMatch(message);
    });
  }
});

describe("in a configuration", () => {
  test("a [[backend]] and a service with its own servers take it; the BackendConfig carries it", () => {
    const c = parseConfig(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:8080"]
backend = "app"
[[backend]]
name = "app"
servers = ["app1.internal:443"]
server_tls = { ca = "ca.pem" }
[[service]]
name = "mail"
protocol = "smtp"
listen = ["127.0.0.1:2525"]
servers = ["10.0.0.2:465"]
server_tls = true
`);
    expect(c.backends.find((b) => b.name === "app")?.server_tls).toEqual({ verify: true, ca: "ca.pem", server_name: undefined, cert: undefined, key: undefined });
    expect(c.backends.find((b) => b.name === "mail")?.server_tls?.verify).toBe(true);
    expect(c.backends.find((b) => b.name === "app")).toBeDefined();
  });

  test("an error names the key, the backend and the line", () => {
    expect(() =>
      parseConfig(`
[[service]]
name = "web"
listen = ["127.0.0.1:8080"]
backend = "app"

[[backend]]
name = "app"
servers = ["127.0.0.1:8443"]
server_tls = { cert = "client.pem" }
`),
    ).toThrow(/plb.toml:10: backend "app": server_tls.cert needs server_tls.key too/);
  });

  test("a service's own tls stays the listener's: server_tls is not a service key, tls is not a backend key", () => {
    expect(() =>
      parseConfig(`
[[service]]
name = "web"
listen = ["127.0.0.1:8080"]
backend = "app"
[[backend]]
name = "app"
servers = ["127.0.0.1:8443"]
tls = { cert = "c.pem", key = "c.key" }
`),
    ).toThrow(/"tls" is a service setting/);
  });

  test("PROXY headers with server_tls are refused (they would travel inside TLS)", () => {
    expect(() =>
      parseConfig(`
[[service]]
name = "web"
listen = ["127.0.0.1:8080"]
servers = ["127.0.0.1:8443"]
client_address = "proxy-v2"
server_tls = true
`),
    ).toThrow(/plb.toml:6: service "web": client_address = "proxy-v2" cannot be combined with server_tls yet/);
  });
});
