import { afterAll, describe, expect, test } from "bun:test";
import { httpBackend, rawHttp, type HttpBackend } from "../../support/http-backends.ts";
import { freePort, freePorts } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

/** A TCP server that answers every connection with `reply` (or stays silent). */
function fakeServer(reply: string | undefined) {
  return Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s) {
        if (reply !== undefined) s.write(reply);
      },
    },
  });
}

const GET = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

describe("answers plb gives itself", () => {
  const cleanups: (() => unknown)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function plbFor(servers: string, extra = ""): Promise<{ plb: PlbProcess; port: number }> {
    const port = await freePort();
    const plb = await startPlb(`
timeout_server = "700ms"
timeout_client = "700ms"
[[service]]
name = "e"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = [${servers}]
${extra}
`);
    cleanups.push(() => plb.stop());
    return { plb, port };
  }

  test("503 at once when no server is available", async () => {
    const [dead] = await freePorts(1);
    // the service's own timeouts far above the bound: a plb that waited on one would fail it
    const { plb, port } = await plbFor(`"127.0.0.1:${dead}"`, `timeout_server = "10s"\ntimeout_connect = "10s"\ntimeout_client = "10s"`);
    await plb.waitForLog(/is down at start/);
    const t0 = Date.now();
    const r = await rawHttp(port, GET);
    expect(r).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  test("a refused connect fails over to the next server for that request", async () => {
    const a = await httpBackend("A");
    cleanups.push(() => a.close());
    let accepted = 0;
    const dying = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => void accepted++, data() {} } });
    const { port } = await plbFor(`"127.0.0.1:${dying.port}", "127.0.0.1:${a.port}"`, `balance = "first"`);
    await until(() => accepted > 0, "the start check", 15_000); // passed: it only connects
    dying.stop(true);
    const r = await rawHttp(port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    expect(r).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nA$/);
  });

  test("502 for an invalid server response", async () => {
    const bad = fakeServer("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    cleanups.push(() => bad.stop(true));
    const { port } = await plbFor(`"127.0.0.1:${bad.port}"`);
    expect(await rawHttp(port, GET)).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
  });

  test("504 when the server does not answer within timeout_server", async () => {
    const silent = fakeServer(undefined);
    cleanups.push(() => silent.stop(true));
    const { port } = await plbFor(`"127.0.0.1:${silent.port}"`);
    const t0 = Date.now();
    expect(await rawHttp(port, GET)).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(650);
  });

  test("408 when a request head is not complete within timeout_client; an idle keep-alive connection just closes", async () => {
    const a = await httpBackend("A");
    cleanups.push(() => a.close());
    const { port } = await plbFor(`"127.0.0.1:${a.port}"`);
    expect(await rawHttp(port, "GET / HTTP/1.1\r\nHost: t\r\n")).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(await rawHttp(port, "")).toBe("");
  });

  test("413 for a body over max_body, 414 and 431 over the head limits", async () => {
    const a: HttpBackend = await httpBackend("A");
    cleanups.push(() => a.close());
    const { port } = await plbFor(`"127.0.0.1:${a.port}"`, "max_body = 10\nmax_request_line = 100\nmax_header_size = 1024");
    expect(await rawHttp(port, "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n01234567890")).toMatch(/^HTTP\/1\.1 413 /);
    expect(await rawHttp(port, "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n" + "x".repeat(32) + "\r\n0\r\n\r\n")).toMatch(/^HTTP\/1\.1 413 /);
    expect(await rawHttp(port, `GET /${"a".repeat(200)} HTTP/1.1\r\nHost: t\r\n\r\n`)).toMatch(/^HTTP\/1\.1 414 /);
    expect(await rawHttp(port, `GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${"b".repeat(2000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    expect(a.seen.length).toBe(0);
  });
});
