/**
 * Lifecycle events (src/events.ts) from a plb started in this process, with
 * real sockets and real backends: what tcp, smtp and http sessions publish.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Channel, type ConnectEvent, events, type RequestEvent, type SessionEndEvent, type SessionStartEvent } from "../src/events.ts";
import { parseConfig } from "../src/config/index.ts";
import { setLogLevel } from "../src/log.ts";
import { start, type Runtime } from "../src/main.ts";
import { backend } from "./support/backends.ts";
import { fakeSmtp } from "./support/fake-smtp.ts";
import { httpBackend, type HttpBackend, rawHttp } from "./support/http-backends.ts";
import { freePorts } from "./support/ports.ts";
import { until } from "./support/until.ts";

test("a channel is inactive until subscribed, publishes to every subscriber, survives a throwing one, and goes inactive when the last leaves", () => {
  const ch = new Channel<number>("test");
  expect(ch.active).toBe(false);
  const got: number[] = [];
  const off1 = ch.subscribe(() => {
    throw new Error("observer bug");
  });
  const off2 = ch.subscribe((n) => got.push(n));
  expect(ch.active).toBe(true);
  ch.publish(1);
  off1();
  ch.publish(2);
  expect(got).toEqual([1, 2]);
  off2();
  expect(ch.active).toBe(false);
});

let runtime: Runtime;
let web: HttpBackend;
const echo = backend("echo");
const mx = fakeSmtp("mx", "ok");
let ports: number[];
const seen = { start: [] as SessionStartEvent[], end: [] as SessionEndEvent[], connect: [] as ConnectEvent[], request: [] as RequestEvent[] };
const offs: (() => void)[] = [];

beforeAll(async () => {
  setLogLevel("warn");
  web = await httpBackend("web");
  ports = await freePorts(5);
  const [tcpPort, smtpPort, httpPort, downPort, dead] = ports;
  const config = parseConfig(
    `
[[service]]
name = "t"
protocol = "tcp"
listen = ["127.0.0.1:${tcpPort}"]
servers = ["127.0.0.1:${dead}", "127.0.0.1:${echo.port}"]
balance = "first"
[[service]]
name = "m"
protocol = "smtp"
listen = ["127.0.0.1:${smtpPort}"]
servers = ["127.0.0.1:${mx.port}"]
[[service]]
name = "h"
protocol = "http"
listen = ["127.0.0.1:${httpPort}"]
servers = ["127.0.0.1:${web.port}"]
[[service]]
name = "none"
protocol = "http"
listen = ["127.0.0.1:${downPort}"]
servers = ["127.0.0.1:${dead}"]
`,
    "events.toml",
  );
  runtime = await start(config);
  offs.push(
    events.sessionStart.subscribe((e) => seen.start.push(e)),
    events.sessionEnd.subscribe((e) => seen.end.push(e)),
    events.connect.subscribe((e) => seen.connect.push(e)),
    events.request.subscribe((e) => seen.request.push({ ...e })), // the object is reused: copy it
  );
  // the start checks are done (dead is down for "none"; "t" fails over)
  await Bun.sleep(100);
});

afterAll(async () => {
  for (const off of offs) off();
  await runtime.stop();
  echo.stop();
  mx.stop();
  await web.close();
});

test("tcp: start, a failed connect then a good one (with their times), and the end with bytes each way, servers tried and who closed", async () => {
  const [tcpPort, , , , dead] = ports;
  const before = seen.end.length;
  let got = "";
  const s = await Bun.connect({ hostname: "127.0.0.1", port: tcpPort, socket: { data: (_s, d) => void (got += d.toString()) } });
  s.write("hello events");
  await until(() => got === "hello events", "the echo");
  s.end();
  await until(() => seen.end.length > before, "the session end");
  const end = seen.end.at(-1)!;
  expect(end).toMatchObject({ service: "t", protocol: "tcp", client: "127.0.0.1", server: `127.0.0.1:${echo.port}`, bytesIn: 12, bytesOut: 12, cause: "client_closed" });
  expect(end.tried).toBeGreaterThanOrEqual(1);
  expect(end.clientPort).toBeGreaterThan(0);
  expect(end.durationMs).toBeGreaterThanOrEqual(0);
  const connects = seen.connect.filter((c) => c.service === "t");
  expect(connects.at(-1)).toMatchObject({ server: `127.0.0.1:${echo.port}`, outcome: "connected" });
  expect(connects.at(-1)!.ms).toBeGreaterThanOrEqual(0);
  if (end.tried === 2) expect(connects.some((c) => c.server === `127.0.0.1:${dead}` && c.outcome === "refused")).toBe(true);
  expect(seen.start.some((e) => e.service === "t" && e.protocol === "tcp")).toBe(true);
});

test("smtp: a session ends with the server named, the bytes of the whole conversation, closed by the server after QUIT", async () => {
  const [, smtpPort] = ports;
  const before = seen.end.length;
  const text = await rawHttp(smtpPort, "EHLO c\r\nQUIT\r\n", /221/);
  expect(text).toContain("221");
  await until(() => seen.end.length > before, "the session end");
  const end = seen.end.at(-1)!;
  expect(end).toMatchObject({ service: "m", protocol: "smtp", server: `127.0.0.1:${mx.port}`, bytesIn: "EHLO c\r\nQUIT\r\n".length });
  expect(end.bytesOut).toBeGreaterThan(20);
  expect(["server_closed", "client_closed"]).toContain(end.cause);
  expect(end.clientPort).toBeGreaterThan(0);
});

test("http: each request is one event with method, target, status, bytes, connect time, time to first byte and total time; the connection's end follows", async () => {
  const [, , httpPort] = ports;
  const before = seen.request.length;
  const text = await rawHttp(httpPort, "GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two?x=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  expect(text.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
  await until(() => seen.request.length >= before + 2, "two request events");
  const [one, two] = seen.request.slice(before);
  expect(one).toMatchObject({ service: "h", method: "GET", target: "/one", version: "HTTP/1.1", status: 200, server: `127.0.0.1:${web.port}`, cause: "done", retries: 0 });
  expect(two.target).toBe("/two?x=1");
  expect(one.bytesIn).toBe("GET /one HTTP/1.1\r\nHost: h\r\n\r\n".length);
  expect(one.bytesOut).toBeGreaterThan(50);
  expect(one.ttfbMs).toBeGreaterThanOrEqual(0);
  expect(one.totalMs).toBeGreaterThanOrEqual(one.ttfbMs);
  // the first request opened the server connection; the second reused it
  expect(one.connectMs).toBeGreaterThanOrEqual(0);
  expect(two.connectMs).toBe(-1);
  await until(() => seen.end.some((e) => e.protocol === "http" && e.service === "h"), "the connection's end");
  const end = seen.end.filter((e) => e.service === "h").at(-1)!;
  expect(end.bytesOut).toBe(one.bytesOut + two.bytesOut);
  expect(end.tried).toBe(2); // requests served
});

test("http: a request no server can take is a 503 event with cause no_server; a malformed head a 400 with cause refused", async () => {
  const [, , httpPort, downPort] = ports;
  const before = seen.request.length;
  expect(await rawHttp(downPort, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")).toContain("503");
  expect(await rawHttp(httpPort, "GET /x HTTP/1.1\r\nHost: h\r\nBad Header\r\n\r\n")).toContain("400");
  await until(() => seen.request.length >= before + 2, "two request events");
  const [none, bad] = seen.request.slice(before);
  expect(none).toMatchObject({ service: "none", status: 503, cause: "no_server", method: "GET", target: "/x", server: undefined });
  expect(bad).toMatchObject({ service: "h", status: 400, cause: "refused", method: "" });
  expect(bad.bytesIn).toBeGreaterThan(0);
});

test("http: after a 101 the connection's end names the server of its tunnel, with the tunnel's bytes", async () => {
  const ws = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: { message: (s, m) => void s.send(m) },
  });
  const [port] = await freePorts(1);
  const rt = await start(parseConfig(`[[service]]\nname = "ws"\nprotocol = "http"\nlisten = ["127.0.0.1:${port}"]\nservers = ["127.0.0.1:${ws.port}"]\n`, "ws.toml"));
  try {
    const client = new WebSocket(`ws://127.0.0.1:${port}/`);
    await new Promise<void>((resolve, reject) => {
      client.onopen = () => resolve();
      client.onerror = () => reject(new Error("websocket error"));
    });
    const echoed = new Promise<void>((resolve) => (client.onmessage = () => resolve()));
    client.send("x".repeat(1000));
    await echoed;
    client.close(1000);
    await until(() => seen.end.some((e) => e.service === "ws"), "the tunnel's end");
    const end = seen.end.find((e) => e.service === "ws")!;
    expect([end.backend, end.server]).toEqual(["ws", `127.0.0.1:${ws.port}`]);
    expect(end.bytesIn).toBeGreaterThan(1000);
  } finally {
    await rt.stop();
    ws.stop(true);
  }
});
