/**
 * TLS passthrough by name: one tcp port, servers chosen by the ClientHello's
 * server_name, the TLS untouched end to end (curl and openssl s_client
 * verify each server's own certificate through plb). Clients that send no
 * name, an unknown one, or no TLS at all go to the service's backend (or
 * are closed when it has none); a slow client sending the ClientHello one
 * byte at a time and one whose ClientHello is split over records are read
 * whole; one that stalls is closed after timeout_client.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Server, TCPSocketListener } from "bun";
import { backend, type Backend } from "../../support/backends.ts";
import { freePorts } from "../../support/ports.ts";
import { type PlbProcess, startPlb } from "../../support/plb.ts";
import { type CertFiles, curlName, httpsServer, makeCert, reshapingRelay, getOverSClient } from "../../support/tls-peers.ts";
import { clientHello } from "../../../fuzz/formats/tls.ts";

let plb: PlbProcess;
let edge: number, mux: number, strict: number, stalled: number, proxied: number;
let certA: CertFiles, certB: CertFiles, certD: CertFiles;
const servers: Server<undefined>[] = [];
let plain: Backend, named: Backend;
const relays: TCPSocketListener<unknown>[] = [];

beforeAll(async () => {
  [certA, certB, certD] = await Promise.all([makeCert(["a.example.test"]), makeCert(["b.example.test", "*.b.example.test"]), makeCert(["default.test"])]);
  const [a, b, d] = [httpsServer("A", certA), httpsServer("B", certB), httpsServer("D", certD)];
  servers.push(a, b, d);
  plain = backend({ name: "PLAIN" });
  named = backend({ name: "NAMED" });
  [edge, mux, strict, stalled, proxied] = await freePorts(5);
  plb = await startPlb(`
[[backend]]
name = "a"
servers = ["127.0.0.1:${a.port}"]

[[backend]]
name = "b"
servers = ["127.0.0.1:${b.port}"]

# names to a and b, everything else to the default server
[[service]]
name = "edge"
protocol = "tcp"
listen = ["127.0.0.1:${edge}"]
servers = ["127.0.0.1:${d.port}"]
timeout_client = "20s"

[[service.route]]
sni = "a.example.test"
backend = "a"

[[service.route]]
sni = ["b.example.test", "*.b.example.test"]
backend = "b"

# TLS by name and another protocol on one port (sslh-style)
[[service]]
name = "mux"
protocol = "tcp"
listen = ["127.0.0.1:${mux}"]
servers = ["127.0.0.1:${plain.port}"]

[[service.route]]
sni = "a.example.test"
backend = "a"

# routes only: what no route takes is closed
[[service]]
name = "strict"
protocol = "tcp"
listen = ["127.0.0.1:${strict}"]

[[service.route]]
sni = "*.example.test"
backend = "a"

# behind a front balancer: the PROXY header first, then the ClientHello
[[service]]
name = "proxied"
protocol = "tcp"
listen = ["127.0.0.1:${proxied}"]
accept_proxy = true
proxy_from = ["127.0.0.1/32"]
servers = ["127.0.0.1:${plain.port}"]

[[service.route]]
sni = "named.example.test"
backend = "named"

[[backend]]
name = "named"
servers = ["127.0.0.1:${named.port}"]

[[service]]
name = "stalled"
protocol = "tcp"
listen = ["127.0.0.1:${stalled}"]
timeout_client = "1s"

[[service.route]]
sni = "a.example.test"
backend = "a"
`);
});

afterAll(async () => {
  await plb?.stop();
  for (const s of servers) s.stop(true);
  for (const r of relays) r.stop(true);
  plain?.stop();
  named?.stop();
});

const concatBytes = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

/** Connect, send `data`, and return what came back until the close (or `ms`), with the time it took. */
async function exchange(port: number, data: Uint8Array | string, ms = 10_000): Promise<{ text: string; ms: number; closed: boolean }> {
  const t0 = performance.now();
  let text = "";
  let closed = false;
  let done!: () => void;
  const over = new Promise<void>((r) => (done = r));
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_s, b) => void (text += Buffer.from(b).toString("latin1")),
      close: () => ((closed = true), done()),
      error: () => ((closed = true), done()),
    },
  });
  sock.write(data);
  const timer = setTimeout(done, ms);
  await over;
  clearTimeout(timer);
  if (!closed) sock.end();
  return { text, ms: performance.now() - t0, closed };
}

describe("one port, servers chosen by name", () => {
  test("curl reaches each name's server and verifies its certificate through plb", async () => {
    const a = await curlName("a.example.test", edge, certA.cert);
    expect(a.stderr).toBe("");
    expect(a.stdout).toBe("A");
    const b = await curlName("x.b.example.test", edge, certB.cert);
    expect(b.stdout).toBe("B");
    expect((await curlName("b.example.test", edge, certB.cert)).stdout).toBe("B");
  });

  test("openssl s_client -servername, names compared in lower case", async () => {
    const a = await getOverSClient(edge, "A.Example.TEST", certA.cert);
    expect(a).toContain("\r\n\r\nA");
    const b = await getOverSClient(edge, "deep.b.example.test", certB.cert);
    expect(b).toContain("\r\n\r\nB");
  });

  test("an unknown name, and no name at all, go to the service's own servers", async () => {
    expect((await curlName("default.test", edge, certD.cert)).stdout).toBe("D");
    expect((await curlName("c.example.test", edge, certD.cert, edge)).stderr).toContain("certificate"); // D's certificate is not for this name
    const none = await getOverSClient(edge, undefined, certD.cert);
    expect(none).toContain("\r\n\r\nD");
  });
});

describe("clients that are not plain TLS", () => {
  test("a client that is not TLS goes to the service's own server (another protocol on the port)", async () => {
    const r = await exchange(mux, "GET / HTTP/1.0\r\n\r\n");
    expect(r.text).toBe("PLAIN\n");
    expect((await curlName("a.example.test", mux, certA.cert)).stdout).toBe("A");
  });

  test("a service without servers of its own closes what no route takes", async () => {
    expect((await curlName("a.example.test", strict, certA.cert)).stdout).toBe("A");
    const other = await getOverSClient(strict, "other.test", certA.cert);
    expect(other).not.toContain("HTTP/1.");
    const plainClient = await exchange(strict, "GET / HTTP/1.0\r\n\r\n");
    expect(plainClient).toMatchObject({ text: "", closed: true });
    expect(plainClient.ms).toBeLessThan(5000);
  });

  test("a broken ClientHello is closed at once, and nothing reaches a server", async () => {
    const before = plain.accepted();
    const bad = clientHello({ names: ["a.example.test"] });
    bad[5] = 2; // a ServerHello
    const r = await exchange(mux, bad);
    expect(r).toMatchObject({ text: "", closed: true });
    expect(r.ms).toBeLessThan(5000);
    expect(plain.accepted()).toBe(before);
  });

  test("after a PROXY header (accept_proxy), the ClientHello that follows it in the same read chooses", async () => {
    const header = new TextEncoder().encode("PROXY TCP4 192.0.2.1 127.0.0.1 5555 443\r\n");
    expect((await exchange(proxied, concatBytes(header, clientHello({ names: ["named.example.test"] })))).text).toBe("NAMED\n");
    expect((await exchange(proxied, concatBytes(header, clientHello({ names: ["other.test"] })))).text).toBe("PLAIN\n");
  });

  test("a slow client sending its ClientHello one byte at a time is read whole", async () => {
    const relay = reshapingRelay(edge, { kind: "slow", ms: 2 });
    relays.push(relay as TCPSocketListener<unknown>);
    const a = await curlName("a.example.test", edge, certA.cert, relay.port);
    expect(a.stderr).toBe("");
    expect(a.stdout).toBe("A");
  });

  test("a ClientHello split over three records is read whole and relayed as it came", async () => {
    const relay = reshapingRelay(edge, { kind: "split", sizes: [2, 40] });
    relays.push(relay as TCPSocketListener<unknown>);
    const b = await curlName("x.b.example.test", edge, certB.cert, relay.port);
    expect(b.stderr).toBe("");
    expect(b.stdout).toBe("B");
  });

  test("a client that ends its side inside its ClientHello is closed at once, not after timeout_client", async () => {
    const part = clientHello({ names: ["a.example.test"] }).subarray(0, 20);
    const t0 = performance.now();
    let closed = false;
    const sock = await Bun.connect({ hostname: "127.0.0.1", port: stalled, allowHalfOpen: true, socket: { data() {}, end() {}, close: () => void (closed = true) } });
    sock.write(part);
    sock.shutdown(); // FIN, still reading
    while (!closed && performance.now() - t0 < 10_000) await Bun.sleep(5);
    expect(closed).toBe(true);
    expect(performance.now() - t0).toBeLessThan(900); // timeout_client is 1 s
  });

  test("a client that stops inside its ClientHello is closed after timeout_client (1 s)", async () => {
    const part = clientHello({ names: ["a.example.test"] }).subarray(0, 20);
    const r = await exchange(stalled, part, 15_000);
    expect(r).toMatchObject({ text: "", closed: true });
    expect(r.ms).toBeGreaterThan(500); // not at once (the coarse clock may be a little behind)
    expect(r.ms).toBeLessThan(10_000);
  });
});
