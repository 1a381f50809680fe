/**
 * Servers end their kept-alive connections (after N requests, with or
 * without saying so, or at their own idle timeout): that concerns the server
 * connection only. The client's connection stays open and its next request
 * goes over another server connection (issue 8: request 1001 through nginx's
 * default keepalive_requests got a reset).
 */
import { afterAll, expect, test } from "bun:test";
import { closingBackend } from "../../support/closing-backend.ts";
import { startNginx } from "../../support/nginx.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { RawClient } from "../../support/raw-client.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function plbFor(ports: number[], extra = ""): Promise<{ plb: PlbProcess; port: number }> {
  const [port] = await freePorts(1);
  const plb = await startPlb(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = [${ports.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
${extra}
`);
  cleanups.push(() => plb.stop());
  return { plb, port };
}

/** `n` requests one after the other on one client connection; every answer must be a 200 and the connection must stay open. */
async function sequential(port: number, n: number, request: string): Promise<RawClient> {
  const c = await RawClient.open(port);
  for (let i = 0; i < n; i++) {
    c.write(request);
    const ok = await c.until(() => c.responses.length > i || c.closed, 5000);
    if (!ok || c.responses.length <= i) throw new Error(`request ${i + 1} of ${n}: ${c.closed ? "connection closed" : "no answer"} (${c.error ?? ""})`);
    expect(c.responses[i].status).toBe(200);
  }
  expect(c.closed).toBe(false);
  expect(c.error).toBeUndefined();
  return c;
}

test("a server that says Connection: close every 3 requests: 2,000 requests on one client connection all answered, the client never closed", async () => {
  const a = closingBackend("A", 3, "announce");
  const b = closingBackend("B", 3, "announce");
  cleanups.push(() => a.stop(), () => b.stop());
  const { port } = await plbFor([a.port, b.port]);
  const c = await sequential(port, 2000, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  // the client was never told to close, and plb opened new server connections as servers closed theirs
  for (const r of c.responses) expect(r.fields.some((f) => f.lower === "connection" && /close/i.test(f.value))).toBe(false);
  expect(a.requests() + b.requests()).toBe(2000);
  expect(a.connections() + b.connections()).toBeGreaterThanOrEqual(Math.floor(2000 / 3));
  c.close();
});

test("a server that closes silently after every 5th response: 2,000 requests on one client connection all answered", async () => {
  const a = closingBackend("A", 5, "silent");
  cleanups.push(() => a.stop());
  const { port } = await plbFor([a.port]);
  const c = await sequential(port, 2000, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  expect(a.requests()).toBeGreaterThanOrEqual(2000);
  c.close();
});

test("HTTP/1.0 keep-alive clients keep their connection when the server closes its own", async () => {
  const a = closingBackend("A", 4, "announce");
  cleanups.push(() => a.stop());
  const { port } = await plbFor([a.port]);
  const c = await sequential(port, 500, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  for (const r of c.responses) expect(r.fields.some((f) => f.lower === "connection" && /keep-alive/i.test(f.value))).toBe(true);
  c.close();
});

test("nginx with its defaults (keepalive_requests 1000): 2,500 requests on one client connection, none lost", async () => {
  const [np] = await freePorts(1);
  const nginx = await startNginx(`server { listen 127.0.0.1:${np}; location / { return 200 "nginx\\n"; } }`, np);
  cleanups.push(() => nginx.stop());
  const { port } = await plbFor([np]);
  const c = await sequential(port, 2500, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  c.close();
});

test("ab -k (HTTP/1.0 keep-alive, 16 concurrent) through plb to servers that close every 100 and every 7 requests: 20,000 of 20,000, all kept alive", async () => {
  const a = closingBackend("A", 100, "announce");
  const b = closingBackend("B", 7, "silent");
  cleanups.push(() => a.stop(), () => b.stop());
  const { port } = await plbFor([a.port, b.port]);
  const proc = Bun.spawn(["ab", "-k", "-q", "-n", "20000", "-c", "16", "-s", "10", `http://127.0.0.1:${port}/`], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(err).not.toContain("reset by peer");
  expect(code).toBe(0);
  expect(out).toMatch(/Complete requests:\s+20000/);
  expect(out).toMatch(/Failed requests:\s+0/);
  expect(out).toMatch(/Keep-Alive requests:\s+20000/);
}, 60_000);

// ---------------------------------------------------------------- idle pooled connections

async function nodeServer(keepAliveMs: number): Promise<{ port: number; conns: () => number; close(): void }> {
  const { createServer } = await import("node:http");
  let conns = 0;
  const srv = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.end("ok"));
  });
  srv.keepAliveTimeout = keepAliveMs; // Node announces it: "Keep-Alive: timeout=N"
  srv.on("connection", () => conns++);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  return { port, conns: () => conns, close: () => (srv.closeAllConnections(), srv.close()) };
}

async function once(port: number, request: string): Promise<number> {
  const c = await RawClient.open(port);
  c.write(request);
  await c.until(() => c.responses.length > 0 || c.closed, 5000);
  c.close();
  return c.responses[0]?.status ?? 0;
}

const GET = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
const POST = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

test("the first request of a client connection rides on a pooled server connection only when plb could repeat it (GET yes, POST no)", async () => {
  const s = await nodeServer(30_000);
  cleanups.push(() => s.close());
  const { port } = await plbFor([s.port]);
  expect(await once(port, GET)).toBe(200);
  const first = s.conns(); // plb's start check connected too
  expect(await once(port, GET)).toBe(200); // reused
  expect(s.conns()).toBe(first);
  expect(await once(port, POST)).toBe(200); // a new client's POST: its own connection
  expect(s.conns()).toBe(first + 1);
  // later requests on a client connection may reuse: GET, then POST on the same connection
  const c = await RawClient.open(port);
  c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await c.until(() => c.responses.length === 1, 5000);
  const before = s.conns();
  c.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  await c.until(() => c.responses.length === 2, 5000);
  expect(c.responses.map((r) => r.status)).toEqual([200, 200]);
  expect(s.conns()).toBe(before);
  c.close();
});

test("a server's Keep-Alive: timeout=N is honoured: its idle connection is not reused after 3/4 of N", async () => {
  const short = await nodeServer(1000); // "Keep-Alive: timeout=1"
  const long = await nodeServer(5000); // "Keep-Alive: timeout=5"
  cleanups.push(() => short.close(), () => long.close());
  // plb's own idle limit (timeout_pool_idle, 1.5 s by default) out of the way: only the servers' count
  const a = await plbFor([short.port], `timeout_pool_idle = "10s"`);
  const b = await plbFor([long.port], `timeout_pool_idle = "10s"`);
  for (const port of [a.port, b.port]) expect(await once(port, GET)).toBe(200);
  const [s0, l0] = [short.conns(), long.conns()]; // start checks and the first request
  await Bun.sleep(900); // past 3/4 of 1 s (before the short server's own close), far within 3/4 of 5 s
  for (const port of [a.port, b.port]) expect(await once(port, GET)).toBe(200);
  expect(short.conns()).toBe(s0 + 1); // not reused: the server might be closing it right now
  expect(long.conns()).toBe(l0); // reused
});

/**
 * The keep-alive race made certain: a server whose idle timer (200 ms) fires
 * just as a request arrives on a connection it kept: it closes without an
 * answer. The first request on each connection is always answered.
 */
function racingServer(): { port: number; conns: () => number; stop(): void } {
  let conns = 0;
  const server = Bun.listen<{ last: number; n: number }>({
    hostname: "127.0.0.1",
    port: 0,
    data: { last: 0, n: 0 },
    socket: {
      open(s) {
        conns++;
        s.data = { last: Date.now(), n: 0 };
      },
      data(s, d) {
        const text = d.toString("latin1");
        if (!text.includes("\r\n\r\n")) return;
        if (s.data.n > 0 && Date.now() - s.data.last > 200) return void s.end(); // "timed out" as the request came
        s.data.n++;
        s.write("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        s.data.last = Date.now();
      },
      close() {},
      error() {},
    },
  });
  return { port: server.port, conns: () => conns, stop: () => server.stop(true) };
}

test("the keep-alive race: a GET is sent again on a fresh connection, a new client's POST never meets a reused connection, a later POST closes its client unanswered (no 502)", async () => {
  const r = racingServer();
  cleanups.push(() => r.stop());
  // plb keeps its idle connections long enough that a pause stretched on a busy machine still meets the race
  const { plb, port } = await plbFor([r.port], `timeout_pool_idle = "10s"`);
  expect(await once(port, GET)).toBe(200);
  await Bun.sleep(300);
  expect(await once(port, GET)).toBe(200); // met the race, sent again
  await Bun.sleep(300);
  expect(await once(port, POST)).toBe(200); // first request of its client: a fresh connection
  await Bun.sleep(300);
  // A POST after an answer on the same client connection may ride on a
  // pooled connection; when the server closes it unanswered the client
  // sees its keep-alive connection close (and may retry), not a 502.
  const c = await RawClient.open(port);
  c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  expect(await c.until(() => c.responses.length === 1, 5000)).toBe(true);
  await Bun.sleep(300);
  c.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  expect(await c.until(() => c.closed, 5000)).toBe(true);
  expect(c.responses.map((x) => x.status)).toEqual([200]);
  expect(c.leftover).toBe(0);
  expect(await once(port, POST)).toBe(200); // the client's retry
  expect(plb.log()).not.toMatch(/failure \d+\/\d+/); // the race is not the server's failure
});

test("servers that close idle connections at 300 ms (nginx keepalive_timeout), requests from new clients at about that rhythm: no 502, GET or POST", async () => {
  const [np] = await freePorts(1);
  const nginx = await startNginx(`keepalive_timeout 300ms; server { listen 127.0.0.1:${np}; location / { return 200 "ok\\n"; } }`, np);
  cleanups.push(() => nginx.stop());
  const { plb, port } = await plbFor([np]);
  const statuses: number[] = [];
  for (let i = 0; i < 24; i++) {
    statuses.push(await once(port, i % 2 ? POST : GET));
    await Bun.sleep(270 + (i % 5) * 15); // 270..330 ms: around the server's idle timeout
  }
  expect(statuses).toEqual(Array(24).fill(200));
  expect(plb.log()).not.toMatch(/failure \d+\/\d+/); // nginx was never blamed
}, 30_000);
