/**
 * gRPC streams through plb to h2 servers (python3-grpcio both sides): a
 * server stream of 100,000 messages arrives whole and in order (flow control
 * end to end), a bidirectional stream echoes each message, a server killed
 * mid-stream gives the client UNAVAILABLE within seconds (never a hang), and
 * a long stream survives a reload of plb's configuration.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { grpcCalls, grpcClient, type GrpcServer, grpcServer } from "../../support/grpc.ts";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startPlb, type PlbProcess, startPlbFile, tempDir, writeConfig } from "../../support/plb.ts";
import { until } from "../../support/until.ts";
import { freePorts } from "../../support/ports.ts";
import { reloadWith } from "../../support/reload.ts";
import { type TestCa, testCa } from "../../support/test-ca.ts";

let ca: TestCa;
let server: GrpcServer;
let plb: PlbProcess;
let h2cPort: number, tlsPort: number;

const config = (extra = "") => `
[[service]]
name = "h2c"
protocol = "http"
listen = ["127.0.0.1:${h2cPort}"]
h2c = true
backend = "grpc"

[[service]]
name = "tls"
protocol = "http"
listen = ["127.0.0.1:${tlsPort}"]
tls = { cert = "${ca.server.cert}", key = "${ca.server.key}" }
backend = "grpc"

[[backend]]
name = "grpc"
servers = ["127.0.0.1:${server.port}"]
server_protocol = "h2"
${extra}
`;
let file: string;
const events = join(tempDir(), "events");

beforeAll(async () => {
  ca = await testCa();
  const [p, a, b] = await freePorts(3);
  [h2cPort, tlsPort] = [a, b];
  server = await grpcServer(p, { name: "s", eventsFile: events });
  file = writeConfig(config());
  plb = await startPlbFile(file);
});

afterAll(async () => {
  await plb?.stop();
  await server?.stop();
});

test("a server stream of 100,000 messages arrives whole and in order, over h2c and over TLS", async () => {
  const [a, b] = await Promise.all([
    grpcCalls(`127.0.0.1:${h2cPort}`, [{ kind: "stream", method: "/test.Echo/Stream", request: "100000", timeout: 110 }], {}, 120_000),
    grpcCalls(`127.0.0.1:${tlsPort}`, [{ kind: "stream", method: "/test.Echo/Stream", request: "100000", timeout: 110 }], { ca: ca.ca }, 120_000),
  ]);
  for (const r of [a[0], b[0]]) {
    expect(r).toMatchObject({ ok: true, code: "OK", count: 100_000, last: "m99999", messages: ["m0", "m1", "m2"] });
  }
}, 130_000);

test("a client stream of 20 MiB (2,000 messages of 10 KiB) reaches the server whole, over h2c and TLS", async () => {
  const [a, b] = await Promise.all([
    grpcCalls(`127.0.0.1:${h2cPort}`, [{ kind: "client_stream", method: "/test.Echo/Total", size: 10_240, count: 2000, timeout: 60 }], {}, 90_000),
    grpcCalls(`127.0.0.1:${tlsPort}`, [{ kind: "client_stream", method: "/test.Echo/Total", size: 10_240, count: 2000, timeout: 60 }], { ca: ca.ca }, 90_000),
  ]);
  for (const [r] of [a, b]) expect(r).toMatchObject({ ok: true, messages: ["2000 messages, 20480000 bytes"] });
}, 100_000);

test("a client that cancels its call: plb resets the server's stream (the server sees the cancel)", async () => {
  const [r] = await grpcCalls(`127.0.0.1:${h2cPort}`, [{ kind: "stream", method: "/test.Echo/Stream", request: "200/slow", timeout: 30, cancel_after: 3 }]);
  expect(r).toMatchObject({ ok: false, code: "CANCELLED" });
  await until(() => existsSync(events) && readFileSync(events, "utf8").includes("cancelled Stream"), "the server's cancel", 10_000);
});

test("a bidirectional stream echoes each message as it comes", async () => {
  const requests = Array.from({ length: 50 }, (_, i) => `b${i}`);
  const [r] = await grpcCalls(`127.0.0.1:${h2cPort}`, [{ kind: "bidi", method: "/test.Echo/Bidi", requests, gap: 0.005 }]);
  expect(r).toMatchObject({ ok: true, messages: requests.map((m) => `s:${m}`) });
});

test("a long stream survives a reload", async () => {
  // 60 messages, one every 50 ms: about 3 s; the reload comes in the middle.
  const c = grpcClient(`127.0.0.1:${h2cPort}`, [{ kind: "stream", method: "/test.Echo/Stream", request: "60/slow", timeout: 30, report_after: 5 }]);
  const reader = c.proc.stdout.getReader();
  let text = "";
  while (!text.includes('"progress"')) {
    const r = await reader.read();
    if (r.done) break;
    text += new TextDecoder().decode(r.value);
  }
  expect(text).toContain('"progress": 5');
  const outcome = await reloadWith(plb, file, config("h2_max_connections = 3\ntimeout_server = \"30s\""));
  expect(outcome).toMatch(/reload: /);
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    text += new TextDecoder().decode(r.value);
  }
  const result = JSON.parse(text.split("\n").find((l) => l.startsWith('{"ok"'))!);
  expect(result).toMatchObject({ ok: true, count: 60, last: "m59" });
  // and new calls after the reload go through
  const [after] = await grpcCalls(`127.0.0.1:${h2cPort}`, [{ kind: "unary", method: "/test.Echo/Unary", request: "after" }]);
  expect(after).toMatchObject({ ok: true, messages: ["s:after"] });
}, 60_000);

test("a server killed mid-stream: the client gets UNAVAILABLE within seconds, not a hang; once it is back, a new connection serves", async () => {
  const [p2] = await freePorts(1);
  const victim = await grpcServer(p2, { name: "victim" });
  let revived: GrpcServer | undefined;
  const [port] = await freePorts(1);
  const other = await startPlb(`
[[service]]
name = "v"
protocol = "http"
listen = ["127.0.0.1:${port}"]
h2c = true
servers = ["127.0.0.1:${p2}"]
server_protocol = "h2"
server_retry = 100
`);
  try {
    const c = grpcClient(`127.0.0.1:${port}`, [{ kind: "stream", method: "/test.Echo/Stream", request: "1000/slow", timeout: 60, report_after: 3 }]);
    const reader = c.proc.stdout.getReader();
    let text = "";
    while (!text.includes('"progress"')) {
      const r = await reader.read();
      if (r.done) break;
      text += new TextDecoder().decode(r.value);
    }
    const killedAt = performance.now();
    await victim.stop("SIGKILL");
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += new TextDecoder().decode(r.value);
    }
    const seconds = (performance.now() - killedAt) / 1000;
    const result = JSON.parse(text.split("\n").find((l) => l.startsWith('{"ok"'))!);
    expect(result).toMatchObject({ ok: false, code: "UNAVAILABLE" });
    expect(seconds).toBeLessThan(10);
    // a call with no server at all: UNAVAILABLE too (plb answers 503)
    const [none] = await grpcCalls(`127.0.0.1:${port}`, [{ kind: "unary", method: "/test.Echo/Unary", request: "x", timeout: 10 }]);
    expect(none).toMatchObject({ ok: false, code: "UNAVAILABLE" });
    // the server is back on its port: the failed connection is replaced by a new one
    revived = await grpcServer(p2, { name: "revived" });
    const [back] = await grpcCalls(`127.0.0.1:${port}`, [{ kind: "unary", method: "/test.Echo/Unary", request: "y", timeout: 10 }]);
    expect(back).toMatchObject({ ok: true, messages: ["revived:y"] });
  } finally {
    await other.stop();
    await revived?.stop();
  }
}, 60_000);
