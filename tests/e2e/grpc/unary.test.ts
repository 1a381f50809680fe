/**
 * gRPC end to end through plb (server_protocol = "h2"): python3-grpcio
 * clients → plb → python3-grpcio servers. Unary calls over h2c both ways and
 * over TLS both ways (plb's listener TLS, server_tls to a TLS gRPC server
 * with ALPN h2); error statuses with their grpc-message and a deadline pass
 * through; many calls share few server connections; curl's plain HTTP/2
 * and HTTP/1.1 requests reach the h2 server too; a server that does not
 * speak h2 behind server_tls is a connect failure "tls" with its cause.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { curlH2 } from "../../support/h2-peers.ts";
import { grpcCalls, type GrpcServer, grpcServer } from "../../support/grpc.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { RawClient } from "../../support/raw-client.ts";
import { type TestCa, testCa } from "../../support/test-ca.ts";
import { until } from "../../support/until.ts";

let ca: TestCa;
let plain: GrpcServer;
let secure: GrpcServer;
let plb: PlbProcess;
let h2cPort: number, tlsPort: number, viaTlsPort: number, notH2Port: number, stats: number;
let http1Server: ReturnType<typeof Bun.serve>;
let plainHttp1: ReturnType<typeof Bun.serve>;
let notH2cPort: number;

beforeAll(async () => {
  ca = await testCa();
  const [p1, p2, a, b, c, d, s] = await freePorts(7);
  [h2cPort, tlsPort, viaTlsPort, notH2Port, stats] = [a, b, c, d, s];
  [plain, secure] = await Promise.all([grpcServer(p1, { name: "plain" }), grpcServer(p2, { name: "secure", tls: ca.server })]);
  // An HTTPS server that speaks only HTTP/1.1 (no ALPN h2).
  const [h1Port, plainH1Port] = await freePorts(2);
  plainHttp1 = Bun.serve({ hostname: "127.0.0.1", port: plainH1Port, fetch: () => new Response("h1") });
  [notH2cPort] = await freePorts(1);
  http1Server = Bun.serve({ hostname: "127.0.0.1", port: h1Port, tls: { cert: Bun.file(ca.server.cert), key: Bun.file(ca.server.key) }, fetch: () => new Response("h1") });
  plb = await startPlb(`
[stats]
listen = "127.0.0.1:${stats}"

[[service]]
name = "h2c"
protocol = "http"
listen = ["127.0.0.1:${h2cPort}"]
h2c = true
backend = "grpc-plain"

[[service]]
name = "tls"
protocol = "http"
listen = ["127.0.0.1:${tlsPort}"]
tls = { cert = "${ca.server.cert}", key = "${ca.server.key}" }
backend = "grpc-plain"

[[service]]
name = "via-tls"
protocol = "http"
listen = ["127.0.0.1:${viaTlsPort}"]
tls = { cert = "${ca.server.cert}", key = "${ca.server.key}" }
backend = "grpc-tls"

[[service]]
name = "not-h2"
protocol = "http"
listen = ["127.0.0.1:${notH2Port}"]
h2c = true
servers = ["127.0.0.1:${h1Port}"]
server_protocol = "h2"
server_tls = { ca = "${ca.ca}" }

[[service]]
name = "not-h2c"
protocol = "http"
listen = ["127.0.0.1:${notH2cPort}"]
servers = ["127.0.0.1:${plainH1Port}"]
server_protocol = "h2"

[[backend]]
name = "grpc-plain"
servers = ["127.0.0.1:${plain.port}"]
server_protocol = "h2"
h2_max_connections = 2

[[backend]]
name = "grpc-tls"
servers = ["127.0.0.1:${secure.port}"]
server_protocol = "h2"
server_tls = { ca = "${ca.ca}", server_name = "localhost" }
`);
});

afterAll(async () => {
  await plb?.stop();
  await plain?.stop();
  await secure?.stop();
  http1Server?.stop(true);
  plainHttp1?.stop(true);
});

test("unary calls over h2c to an h2c server: answers, an error status with its grpc-message, a deadline exceeded, the deadline known to the server", async () => {
  const r = await grpcCalls(`127.0.0.1:${h2cPort}`, [
    { kind: "unary", method: "/test.Echo/Unary", request: "hello" },
    { kind: "unary", method: "/test.Echo/Unary", request: "fail" },
    { kind: "unary", method: "/test.Echo/Sleep", request: "3", timeout: 0.5 },
    { kind: "unary", method: "/test.Echo/Nope", request: "x" },
    { kind: "unary", method: "/test.Echo/Unary", request: "again" },
    { kind: "unary", method: "/test.Echo/Deadline", request: "", timeout: 7 },
  ]);
  expect(r[0]).toMatchObject({ ok: true, messages: ["plain:hello"] });
  expect(r[1]).toMatchObject({ ok: false, code: "INVALID_ARGUMENT", details: "bad input: fail (\u00e9)" });
  expect(r[2]).toMatchObject({ ok: false, code: "DEADLINE_EXCEEDED" });
  expect(r[2].seconds).toBeLessThan(2.5);
  expect(r[3]).toMatchObject({ ok: false, code: "UNIMPLEMENTED" });
  expect(r[4]).toMatchObject({ ok: true, messages: ["plain:again"] });
  // the server knows the deadline: grpc-timeout passed through
  const left = Number(r[5].messages?.[0]);
  expect(left).toBeGreaterThan(1);
  expect(left).toBeLessThan(7.5); // (grpc-timeout has its own rounding)
});

test("over TLS: plb's listener TLS to an h2c server, and server_tls (ALPN h2, verified) to a TLS gRPC server", async () => {
  const [a, b] = await Promise.all([
    grpcCalls(`127.0.0.1:${tlsPort}`, [{ kind: "unary", method: "/test.Echo/Unary", request: "one" }, { kind: "unary", method: "/test.Echo/Unary", request: "fail" }], { ca: ca.ca }),
    grpcCalls(`127.0.0.1:${viaTlsPort}`, [{ kind: "unary", method: "/test.Echo/Unary", request: "two" }, { kind: "unary", method: "/test.Echo/Unary", request: "fail" }], { ca: ca.ca }),
  ]);
  expect(a[0]).toMatchObject({ ok: true, messages: ["plain:one"] });
  expect(a[1]).toMatchObject({ ok: false, code: "INVALID_ARGUMENT", details: "bad input: fail (\u00e9)" });
  expect(b[0]).toMatchObject({ ok: true, messages: ["secure:two"] });
  expect(b[1]).toMatchObject({ ok: false, code: "INVALID_ARGUMENT" });
});

test("200 calls from 8 clients at once share at most h2_max_connections connections to the server", async () => {
  const calls = Array.from({ length: 25 }, (_, i) => ({ kind: "unary" as const, method: "/test.Echo/Unary", request: `c${i}` }));
  const runs = await Promise.all(Array.from({ length: 8 }, () => grpcCalls(`127.0.0.1:${h2cPort}`, calls)));
  for (const r of runs) expect(r.map((x) => x.messages?.[0])).toEqual(calls.map((c) => `plain:${c.request}`));
  const conns = (await Bun.$`ss -Htn state established dst 127.0.0.1:${plain.port}`.text()).split("\n").filter((l) => l.trim() !== "");
  expect(conns.length).toBeGreaterThanOrEqual(1);
  expect(conns.length).toBeLessThanOrEqual(2);
});

test("plain HTTP/2 (curl) and HTTP/1.1 requests reach the h2 server and get its answer (a gRPC server's 'not gRPC' answer)", async () => {
  const h2 = await curlH2(`http://127.0.0.1:${h2cPort}/test.Echo/Unary`, { priorKnowledge: true });
  expect(h2.httpVersion).toBe("2");
  // grpcio answers a request that is not gRPC (no content-type application/grpc) itself
  expect([200, 415]).toContain(h2.status);
  // An HTTP/1.1 client's gRPC call: the response is chunked, grpc-status in its chunked trailers.
  const c = await RawClient.open(h2cPort);
  const msg = "\x00\x00\x00\x00\x02hi";
  c.write(`POST /test.Echo/Unary HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc\r\nTE: trailers\r\nContent-Length: ${msg.length}\r\n\r\n${msg}`);
  await c.until(() => c.text.endsWith("\r\n\r\n") && /grpc-status: 0\r\n/.test(c.text), 5000);
  c.close();
  expect(c.text).toStartWith("HTTP/1.1 200 ");
  expect(c.text).toMatch(/[Tt]ransfer-[Ee]ncoding: chunked\r\n/);
  expect(c.text).toContain("plain:hi");
  expect(c.text).toMatch(/\r\n0\r\ngrpc-status: 0\r\n(grpc-message: [^\r]*\r\n)?\r\n$/);
});

test("behind server_tls, a server that does not choose h2 by ALPN is a connect failure \"tls\" with its cause; the client gets 503", async () => {
  const r = await curlH2(`http://127.0.0.1:${notH2Port}/`, { priorKnowledge: true });
  expect([502, 503]).toContain(r.status);
  await until(() => /ALPN/.test(plb.log()), "the ALPN failure in the log", 10_000);
  expect(plb.log()).toMatch(/TLS: (the server did not choose h2 by ALPN|handshake failed: the server speaks none of the protocols offered by ALPN)/);
  const status = (await (await fetch(`http://127.0.0.1:${stats}/status.json`)).json()) as { backends: { name: string; servers: { failures: { tls: number } }[] }[] };
  expect(status.backends.find((b) => b.name === "not-h2")!.servers[0].failures.tls).toBeGreaterThanOrEqual(1);
});

test("an h2c server that speaks only HTTP/1.1 fails the connect (counted as a server failure, the cause logged); the client gets 503, not a broken answer", async () => {
  const r = await fetch(`http://127.0.0.1:${notH2cPort}/`);
  expect(r.status).toBe(503);
  await until(() => /before its HTTP\/2 SETTINGS|not an HTTP\/2 server/.test(plb.log()), "the cause in the log", 10_000);
  const status = (await (await fetch(`http://127.0.0.1:${stats}/status.json`)).json()) as { backends: { name: string; servers: { failures: { reset: number } }[] }[] };
  expect(status.backends.find((b) => b.name === "not-h2c")!.servers[0].failures.reset).toBeGreaterThanOrEqual(1);
});
