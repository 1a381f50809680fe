/**
 * How plb puts streams on its connections to an h2 server: under the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS (python3-grpcio's
 * grpc.max_concurrent_streams), with h2_max_connections = 1 the calls over
 * the limit wait for a place on the one connection and all succeed; with 3
 * connections allowed they run at once over up to 3 connections.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { grpcCalls, type GrpcServer, grpcServer } from "../../support/grpc.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";

let server: GrpcServer;
let plb: PlbProcess;
let one: number, three: number;

beforeAll(async () => {
  const [sp, a, b] = await freePorts(3);
  [one, three] = [a, b];
  server = await grpcServer(sp, { maxStreams: 2 });
  plb = await startPlb(`
[[service]]
name = "one"
protocol = "http"
listen = ["127.0.0.1:${one}"]
h2c = true
servers = ["127.0.0.1:${sp}"]
server_protocol = "h2"
h2_max_connections = 1

[[service]]
name = "three"
protocol = "http"
listen = ["127.0.0.1:${three}"]
h2c = true
servers = ["127.0.0.1:${sp}"]
server_protocol = "h2"
h2_max_connections = 3
`);
});

afterAll(async () => {
  await plb?.stop();
  await server?.stop();
});

const established = async () =>
  (await Bun.$`ss -Htn state established dst 127.0.0.1:${server.port}`.text()).split("\n").filter((l) => l.trim() !== "").length;

/** 6 clients at once, each one call sleeping 0.4 s at the server. */
const six = (port: number) => Promise.all(Array.from({ length: 6 }, () => grpcCalls(`127.0.0.1:${port}`, [{ kind: "unary", method: "/test.Echo/Sleep", request: "0.4", timeout: 20 }])));

test("one connection, two streams at a time: six calls wait their turn and all succeed", async () => {
  const t0 = performance.now();
  const runs = await six(one);
  const seconds = (performance.now() - t0) / 1000;
  for (const [r] of runs) expect(r).toMatchObject({ ok: true, messages: ["woke"] });
  expect(seconds).toBeGreaterThanOrEqual(1.1); // three rounds of two
  expect(await established()).toBe(1);
});

test("three connections allowed: more connections are opened only when the others are full", async () => {
  const runs = await six(three);
  for (const [r] of runs) expect(r).toMatchObject({ ok: true, messages: ["woke"] });
  // "one"'s connection and at most 3 of "three"'s (each service is its own backend); more than one of "three"'s was needed
  const n = await established();
  expect(n).toBeGreaterThanOrEqual(3);
  expect(n).toBeLessThanOrEqual(4);
});
