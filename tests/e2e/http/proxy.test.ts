import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { httpBackend, rawHttp, type HttpBackend } from "../../support/http-backends.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";

/** Keep-alive requests on ONE client connection (node's fetch pools; use a raw socket). */
async function keepAliveRequests(port: number, n: number): Promise<string[]> {
  const bodies: string[] = [];
  let buf = "";
  let wake: (() => void) | undefined;
  const s = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, b) {
        buf += b.toString();
        wake?.();
      },
    },
  });
  for (let i = 0; i < n; i++) {
    s.write(`GET /r${i} HTTP/1.1\r\nHost: test\r\n\r\n`);
    for (;;) {
      const end = buf.indexOf("\r\n\r\n");
      const len = end < 0 ? -1 : Number(/\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? -1);
      if (len >= 0 && buf.length >= end + 4 + len) {
        bodies.push(buf.slice(end + 4, end + 4 + len));
        buf = buf.slice(end + 4 + len);
        break;
      }
      await new Promise<void>((r) => (wake = r));
    }
  }
  s.end();
  return bodies;
}

/** Run a command without blocking this process (the backends live in it). */
async function run(cmd: string[]): Promise<string> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  return out;
}

describe("http mode", () => {
  let a: HttpBackend;
  let b: HttpBackend;
  let plb: PlbProcess;
  let port: number;

  beforeAll(async () => {
    a = await httpBackend("A");
    b = await httpBackend("B");
    port = await freePort();
    plb = await startPlb(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]
`);
  });
  afterAll(async () => {
    await plb?.stop();
    await a?.close();
    await b?.close();
  });

  test("balances each request of one keep-alive client connection, reusing a handful of server connections", async () => {
    const before = a.connections() + b.connections();
    const bodies = await keepAliveRequests(port, 40);
    expect(bodies.filter((x) => x === "A").length).toBe(20);
    expect(bodies.filter((x) => x === "B").length).toBe(20);
    const more = await keepAliveRequests(port, 200);
    expect(more.length).toBe(200);
    // 240 requests over at most a few server connections
    expect(a.connections() + b.connections() - before).toBeLessThanOrEqual(4);
  });

  test("curl: a GET and a POST with a body are relayed, X-Forwarded-* set", async () => {
    const get = await run(["curl", "-s", "-D", "-", `http://127.0.0.1:${port}/hello?x=1`]);
    expect(get).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const post = await run(["curl", "-s", "--data-binary", "payload-123", `http://127.0.0.1:${port}/submit`]);
    expect(["A", "B"]).toContain(post);
    const last = [...a.seen, ...b.seen].find((s) => s.url === "/submit")!;
    expect(last.method).toBe("POST");
    expect(last.body.toString()).toBe("payload-123");
    expect(last.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(last.headers["x-forwarded-proto"]).toBe("http");
    expect(last.headers["x-forwarded-host"]).toBe(`127.0.0.1:${port}`);
  });

  test("a client cannot fake the last X-Forwarded-For hop; hop-by-hop fields are not forwarded", async () => {
    const r = await rawHttp(
      port,
      "GET /xff HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n\r\n",
    );
    expect(r).toMatch(/^HTTP\/1\.1 200/);
    const seen = [...a.seen, ...b.seen].find((s) => s.url === "/xff")!;
    expect(seen.headers["x-forwarded-for"]).toBe("6.6.6.6, 127.0.0.1");
    expect(seen.headers["x-secret"]).toBeUndefined();
    expect(seen.headers["keep-alive"]).toBeUndefined();
    expect(seen.headers.te).toBeUndefined();
  });

  test("a chunked request body streams through byte-exact (curl, 5 MB)", async () => {
    const data = Buffer.alloc(5 << 20, "z");
    const file = `/tmp/plb-chunked-${process.pid}.bin`;
    await Bun.write(file, data);
    const r = await run(["curl", "-s", "-H", "Transfer-Encoding: chunked", "--data-binary", `@${file}`, `http://127.0.0.1:${port}/upload`]);
    expect(["A", "B"]).toContain(r);
    const seen = [...a.seen, ...b.seen].find((s) => s.url === "/upload")!;
    expect(seen.body.length).toBe(data.length);
    expect(seen.body.equals(data)).toBe(true);
  });

  test("pipelined requests are answered in order", async () => {
    const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: t\r\n\r\n`;
    const r = await rawHttp(port, req("/p1") + req("/p2") + req("/p3") + "GET /p4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    expect(r.match(/HTTP\/1\.1 200/g)?.length).toBe(4);
    const urls = [...a.seen, ...b.seen].map((s) => s.url).filter((u) => /^\/p\d$/.test(u));
    expect(urls.sort()).toEqual(["/p1", "/p2", "/p3", "/p4"]);
  });

  test("an ambiguous request (Content-Length and Transfer-Encoding) gets 400, reaches no server, and the connection closes", async () => {
    const before = a.seen.length + b.seen.length;
    const r = await rawHttp(port, "POST /smuggle HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hidden HTTP/1.1\r\nHost: t\r\n\r\n");
    expect(r).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(r).toContain("Connection: close");
    expect(r.match(/HTTP\/1\.1/g)?.length).toBe(1);
    await Bun.sleep(50);
    expect(a.seen.length + b.seen.length).toBe(before);
  });

  test("a head that trickles in small pieces (10 KB in 7-byte writes) is answered, then the next request on the connection", async () => {
    let out = "";
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data(_s, b) { out += b.toString(); } } });
    const head = `GET /trickle HTTP/1.1\r\nHost: t\r\nX-Pad: ${"p".repeat(10_000)}\r\n\r\n`;
    for (let i = 0; i < head.length; i += 7) {
      s.write(head.slice(i, i + 7));
      if (i % 700 === 0) await Bun.sleep(1);
    }
    s.write("GET /after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    for (let i = 0; i < 200 && (out.match(/HTTP\/1\.1 200/g)?.length ?? 0) < 2; i++) await Bun.sleep(10);
    s.end();
    expect(out.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
    const seen = [...a.seen, ...b.seen].find((x) => x.url === "/trickle")!;
    expect(String(seen.headers["x-pad"]).length).toBe(10_000);
  });

  test("Python's http.client gets the same answers", async () => {
    const py = `
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", ${port})
out = []
for i in range(4):
    c.request("GET", "/py%d" % i)
    r = c.getresponse()
    out.append(r.read().decode())
c.request("POST", "/pypost", body=b"x" * 100000)
r = c.getresponse()
out.append(str(r.status))
print(",".join(out))
`;
    const parts = (await run(["python3", "-c", py])).trim().split(",");
    expect(parts.slice(0, 4).sort()).toEqual(["A", "A", "B", "B"]);
    expect(parts[4]).toBe("200");
    expect([...a.seen, ...b.seen].find((s) => s.url === "/pypost")!.body.length).toBe(100000);
  });
});

describe("trailers", () => {
  let backend: HttpBackend;
  let plb: PlbProcess;
  let port: number;
  let received: { trailer?: string; te?: string; trailers: Record<string, string> } | undefined;

  beforeAll(async () => {
    // Node's http server: reads the request's trailers, answers chunked with its own.
    backend = await httpBackend("T", (req, res) => {
      received = { trailer: req.headers.trailer as string | undefined, te: req.headers.te as string | undefined, trailers: { ...req.trailers } as Record<string, string> };
      res.setHeader("Trailer", "X-Checksum");
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.write("abc");
      res.addTrailers({ "X-Checksum": "900150983cd24fb0" });
      res.end();
    });
    port = await freePort();
    plb = await startPlb(`
[[service]]
name = "trailers"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${backend.port}"]
`);
  });
  afterAll(async () => {
    await plb?.stop();
    await backend?.close();
  });

  test("Trailer is forwarded both ways with the trailer fields it announces (RFC 9110 §6.6.2); TE is not", async () => {
    const r = await rawHttp(
      port,
      "POST /sum HTTP/1.1\r\nHost: t\r\nTE: trailers\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        "3\r\nabc\r\n0\r\nX-Sum: 42\r\n\r\n",
    );
    expect(received).toEqual({ trailer: "X-Sum", te: undefined, trailers: { "x-sum": "42" } });
    const [head, body] = [r.slice(0, r.indexOf("\r\n\r\n") + 2), r.slice(r.indexOf("\r\n\r\n") + 4)];
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(head).toMatch(/\r\nTrailer: X-Checksum\r\n/i);
    expect(head).toMatch(/\r\nTransfer-Encoding: chunked\r\n/i);
    expect(body).toBe("3\r\nabc\r\n0\r\nX-Checksum: 900150983cd24fb0\r\n\r\n");
  });
});
