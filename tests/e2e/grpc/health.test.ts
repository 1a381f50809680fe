/**
 * The standard gRPC health check of h2 backends (`health = { grpc = true }`)
 * against python3-grpcio servers, h2c and TLS (ALPN h2): a server answering
 * SERVING is up; one that turns NOT_SERVING goes down with the cause in
 * /status.json and gets no calls, and comes back once it serves again.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { grpcCalls, type GrpcServer, grpcServer } from "../../support/grpc.ts";
import { startPlb, type PlbProcess, tempDir } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { type TestCa, testCa } from "../../support/test-ca.ts";
import { until } from "../../support/until.ts";

let ca: TestCa;
let a: GrpcServer, b: GrpcServer, t: GrpcServer;
let plb: PlbProcess;
let port: number, stats: number;
const flag = join(tempDir(), "b-not-serving");

interface Status { backends: { name: string; servers: { name: string; state: string; last_check: { ok: boolean; detail: string } | null }[] }[] }
const servers = async (backend: string) => {
  const s = (await (await fetch(`http://127.0.0.1:${stats}/status.json`)).json()) as Status;
  return s.backends.find((x) => x.name === backend)!.servers;
};

beforeAll(async () => {
  ca = await testCa();
  const [pa, pb, pt, p, s] = await freePorts(5);
  [port, stats] = [p, s];
  [a, b, t] = await Promise.all([grpcServer(pa, { name: "a" }), grpcServer(pb, { name: "b", healthFile: flag }), grpcServer(pt, { name: "t", tls: ca.server })]);
  plb = await startPlb(`
[stats]
listen = "127.0.0.1:${stats}"

[[service]]
name = "g"
protocol = "http"
listen = ["127.0.0.1:${port}"]
h2c = true
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]
server_protocol = "h2"
health = { grpc = true, interval = "300ms", timeout = "250ms", rise = 1, fall = 1 }

[[backend]]
name = "tls"
servers = ["127.0.0.1:${t.port}"]
server_protocol = "h2"
server_tls = { ca = "${ca.ca}", server_name = "localhost" }
health = { grpc = true, service = "test.Echo", interval = "300ms", timeout = "250ms", rise = 1, fall = 1 }

[[service]]
name = "t"
protocol = "http"
listen = ["127.0.0.1:${(await freePorts(1))[0]}"]
backend = "tls"
`);
});

afterAll(async () => {
  await plb?.stop();
  await Promise.all([a?.stop(), b?.stop(), t?.stop()]);
  rmSync(flag, { force: true });
});

test("SERVING servers are up, over h2c and over TLS with ALPN h2", async () => {
  await until(() => plb.log().includes("Health/Check"), "a gRPC health check in the log", 10_000);
  const g = await servers("g");
  expect(g.map((s) => s.state)).toEqual(["up", "up"]);
  const tls = await servers("tls");
  expect(tls[0].state).toBe("up");
  expect(tls[0].last_check?.detail).toContain('Health/Check "test.Echo" → SERVING');
});

test("a server that turns NOT_SERVING goes down (cause in /status.json) and gets no calls; it comes back when it serves again", async () => {
  writeFileSync(flag, "");
  let down: { state: string; last_check: { detail: string } | null } | undefined;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    down = (await servers("g")).find((s) => s.name.endsWith(`:${b.port}`));
    if (down?.state === "down") break;
    await Bun.sleep(100);
  }
  expect(down?.state).toBe("down");
  expect(down?.last_check?.detail).toContain("NOT_SERVING");
  const calls = Array.from({ length: 6 }, (_, i) => ({ kind: "unary" as const, method: "/test.Echo/Unary", request: `x${i}` }));
  const r = await grpcCalls(`127.0.0.1:${port}`, calls);
  expect(r.map((x) => x.messages?.[0])).toEqual(calls.map((c) => `a:${c.request}`));
  rmSync(flag);
  const back = Date.now() + 10_000;
  while (Date.now() < back) {
    if ((await servers("g")).every((s) => s.state === "up")) break;
    await Bun.sleep(100);
  }
  expect((await servers("g")).map((s) => s.state)).toEqual(["up", "up"]);
});
