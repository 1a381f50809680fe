/**
 * accept_proxy with raw clients (node:net, bound to their own loopback
 * source address, writing PROXY headers made by the test's own writers in
 * tests/support/smtp/clients.ts, not plb's): who is closed (outside
 * proxy_from, garbage, silence, half a header) and when, that everyone else
 * is served meanwhile, headers split byte by byte, LOCAL, IPv6 sources, and
 * the refusal counters on /metrics.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { httpBackend, type HttpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { proxyV1, proxyV2, RawSmtp } from "../../support/smtp/clients.ts";

/** timeout_proxy_header: "at once" below is well under it, even on a busy machine. */
const HEADER_MS = 2000;
let web: HttpBackend;
let plb: PlbProcess;
let port: number;
let statsPort: number;

beforeAll(async () => {
  web = await httpBackend("web", (req, res) => res.end(`xff=${req.headers["x-forwarded-for"]}`));
  [port, statsPort] = await freePorts(2);
  plb = await startPlb(`
[stats]
listen = "127.0.0.1:${statsPort}"

[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}", "[::1]:${port}"]
servers = ["127.0.0.1:${web.port}"]
accept_proxy = true
proxy_from = ["127.0.0.1", "::1"]
timeout_proxy_header = "${HEADER_MS}ms"
`);
});

afterAll(async () => {
  await plb?.stop();
  await web?.close();
});

const REQUEST = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/** How many connections plb closed for `reason` so far. */
async function refused(reason: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${statsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("plb_service_proxy_refused_total{") && l.includes(`reason="${reason}"`));
  if (line === undefined) throw new Error(`no refusal counter for ${reason} in:\n${text}`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function counters(): Promise<Record<string, number>> {
  return { source: await refused("source"), header: await refused("header"), timeout: await refused("timeout") };
}

/** The body of the answer to a request sent after `prefix`, or "" when plb closed without one. */
async function ask(prefix: string | Uint8Array, o: { source?: string; host?: string } = {}): Promise<string> {
  const c = await RawSmtp.connect(port, { ...o, prefix });
  c.write(REQUEST);
  const text = (await c.untilClosed()).toString("latin1");
  return text === "" ? "" : text.slice(text.indexOf("\r\n\r\n") + 4);
}

test("a header and the request in one write: the server gets the carried source; v1 and v2", async () => {
  expect(await ask(proxyV1("192.0.2.10", 5555, "198.51.100.1", 80))).toBe("xff=192.0.2.10");
  expect(await ask(proxyV2("192.0.2.11", 5555, "198.51.100.1", 80))).toBe("xff=192.0.2.11");
  expect(await ask(proxyV2("2001:db8::7", 5555, "2001:db8::1", 443))).toBe("xff=2001:db8::7");
});

test("a connection from outside proxy_from is closed at once, before a byte is read; the same bytes from inside it are served", async () => {
  const before = await counters();
  const header = proxyV1("192.0.2.20", 1234, "127.0.0.1", port);
  const started = Date.now();
  expect(await ask(header, { source: "127.0.0.2" })).toBe("");
  expect(Date.now() - started).toBeLessThan(HEADER_MS);
  expect(await ask(header, { source: "127.0.0.1" })).toBe("xff=192.0.2.20");
  await plb.waitForLog(/\[debug\] \[proxy\] service "web": closing the connection from 127\.0\.0\.2:\d+: not in proxy_from/);
  expect(await counters()).toEqual({ ...before, source: before.source + 1 });
});

test("garbage instead of a header is closed at once and nothing reaches a server", async () => {
  const before = await counters();
  const served = web.seen.length;
  const started = Date.now();
  expect(await ask("")).toBe(""); // the request itself is not a PROXY header
  expect(await ask("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n")).toBe(""); // bare LF
  expect(Date.now() - started).toBeLessThan(HEADER_MS);
  expect(web.seen.length).toBe(served);
  await plb.waitForLog(/\[info\] \[proxy\] service "web": closing the connection from 127\.0\.0\.1:\d+: not a PROXY protocol header \(byte 0\)/);
  await plb.waitForLog(/bare LF in PROXY v1 header/);
  expect(await counters()).toEqual({ ...before, header: before.header + 2 });
});

test("silence, or half a header, is closed after timeout_proxy_header while other clients are served meanwhile", async () => {
  const before = await counters();
  const started = Date.now();
  const silent = await RawSmtp.connect(port);
  const half = await RawSmtp.connect(port, { prefix: "PROXY TCP4 192.0.2.1 " });
  for (let i = 0; i < 5; i++) expect(await ask(proxyV2(`192.0.2.${30 + i}`, 1000 + i, "127.0.0.1", port))).toBe(`xff=192.0.2.${30 + i}`);
  expect(silent.isClosed || half.isClosed).toBe(false);
  await Promise.all([silent.untilClosed(HEADER_MS + 10_000), half.untilClosed(HEADER_MS + 10_000)]);
  const took = Date.now() - started;
  expect(took).toBeGreaterThanOrEqual(HEADER_MS);
  expect(took).toBeLessThan(HEADER_MS + 2500); // the deadline, a sweep interval (500 ms) and a busy machine's margin
  expect(silent.received().length + half.received().length).toBe(0);
  await plb.waitForLog(new RegExp(`no complete PROXY header within ${HEADER_MS} ms`));
  expect(await counters()).toEqual({ ...before, timeout: before.timeout + 2 });
});

test("a header split byte by byte (v1 and v2), the request in the same way: served with the carried source", async () => {
  for (const header of [proxyV1("203.0.113.5", 4000, "127.0.0.1", port), proxyV2("203.0.113.6", 4001, "127.0.0.1", port)]) {
    const bytes = typeof header === "string" ? Buffer.from(header + REQUEST, "latin1") : Buffer.concat([header, Buffer.from(REQUEST)]);
    const c = await RawSmtp.connect(port);
    for (const b of bytes) {
      c.write(Uint8Array.of(b));
      await Bun.sleep(1);
    }
    const text = (await c.untilClosed()).toString("latin1");
    expect(text.slice(text.indexOf("\r\n\r\n") + 4)).toBe(`xff=${typeof header === "string" ? "203.0.113.5" : "203.0.113.6"}`);
  }
});

test("a v2 LOCAL command (a front balancer's health check) and PROXY UNKNOWN keep the connection's own address", async () => {
  const local = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00);
  expect(await ask(local)).toBe("xff=127.0.0.1");
  expect(await ask("PROXY UNKNOWN\r\n")).toBe("xff=127.0.0.1");
  expect(await ask(proxyV1("192.0.2.40", 1, "127.0.0.1", port), { host: "::1" })).toBe("xff=192.0.2.40");
});

test("a connect-and-close without a byte (a TCP health check) is not a refusal", async () => {
  const before = await counters();
  const c = await RawSmtp.connect(port);
  c.close();
  await Bun.sleep(HEADER_MS + 1100); // past the deadline and a sweep
  expect(await counters()).toEqual(before);
  // and plb still serves
  expect(await ask(proxyV1("192.0.2.50", 1, "127.0.0.1", port))).toBe("xff=192.0.2.50");
});
