/**
 * Plain HTTP through plb to h2 servers (server_protocol = "h2"): HAProxy
 * (Debian's) with an h2c frontend (`proto h2`) in front of a Node HTTP/1.1
 * server, so every request plb sends is an h2 stream that HAProxy checks.
 * HTTP/1.1 and HTTP/2 clients get the server's answers, fields and bodies
 * intact: large downloads and uploads (Content-Length and chunked, through
 * the flow-control windows both ways), HEAD, 204 and 304 without a body,
 * several requests on one client connection; h2load's requests all succeed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { curlH2, h2load, run } from "../../support/h2-peers.ts";
import { type HAProxy, startHAProxy } from "../../support/haproxy.ts";
import { type HttpBackend, httpBackend } from "../../support/http-backends.ts";
import { startPlb, type PlbProcess, tempDir } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { join } from "node:path";
import { writeFileSync } from "node:fs";

const BIG = 5 * 1024 * 1024;
const big = Buffer.alloc(BIG, "0123456789abcdef");
const sha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

let app: HttpBackend;
let haproxy: HAProxy;
let plb: PlbProcess;
let port: number;

beforeAll(async () => {
  app = await httpBackend("app", (req, res, body) => {
    if (req.url === "/big") {
      res.setHeader("Content-Length", String(BIG));
      return res.end(big);
    }
    if (req.url === "/big-chunked") {
      // no Content-Length: Node sends it chunked, in many writes
      for (let i = 0; i < 64; i++) res.write(big.subarray(i * (BIG / 64), (i + 1) * (BIG / 64)));
      return res.end();
    }
    if (req.url === "/nothing") {
      res.statusCode = 204;
      return res.end();
    }
    if (req.url === "/cached") {
      res.statusCode = 304;
      res.setHeader("ETag", '"v1"');
      return res.end();
    }
    res.setHeader("Content-Type", "text/plain");
    res.setHeader("X-Got-Length", String(body.length));
    res.setHeader("X-Got-Sha", sha(body));
    res.setHeader("X-Got-Host", String(req.headers.host));
    res.setHeader("X-Got-Via", String(req.headers["x-forwarded-for"] ?? ""));
    res.setHeader("X-Got-Version", req.httpVersion);
    res.end(`app ${req.method} ${req.url}`);
  });
  const [h2Port, p] = await freePorts(2);
  port = p;
  haproxy = await startHAProxy(
    `frontend h2c
  mode http
  timeout client 30s
  bind 127.0.0.1:${h2Port} proto h2
  default_backend app
backend app
  mode http
  timeout server 30s
  server app 127.0.0.1:${app.port}
`,
    [h2Port],
  );
  plb = await startPlb(`
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
h2c = true
servers = ["127.0.0.1:${h2Port}"]
server_protocol = "h2"
h2_max_connections = 2
`);
});

afterAll(async () => {
  await plb?.stop();
  await haproxy?.stop();
  await app?.close();
});

test("HTTP/1.1 and HTTP/2 clients get the h2 server's answer, with the request's Host and X-Forwarded-For", async () => {
  const h1 = await fetch(`http://127.0.0.1:${port}/hello?x=1`, { headers: { Host: "app.example" } });
  expect(h1.status).toBe(200);
  expect(await h1.text()).toBe("app GET /hello?x=1");
  expect(h1.headers.get("x-got-host")).toBe("app.example");
  expect(h1.headers.get("x-got-via")).toBe("127.0.0.1");
  const h2 = await curlH2(`http://127.0.0.1:${port}/two`, { priorKnowledge: true, method: "POST", body: "abc" });
  expect(h2.httpVersion).toBe("2");
  expect(h2.status).toBe(200);
  expect(h2.body).toBe("app POST /two");
  expect(h2.headers).toContainEqual(["x-got-length", "3"]);
});

test("5 MiB downloads (Content-Length and chunked) and uploads (Content-Length and chunked) pass intact", async () => {
  for (const path of ["/big", "/big-chunked"]) {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    const body = new Uint8Array(await r.arrayBuffer());
    expect({ path, length: body.length, sha: sha(body) }).toEqual({ path, length: BIG, sha: sha(big) });
  }
  const dir = tempDir();
  const file = join(dir, "up.bin");
  writeFileSync(file, big);
  for (const chunked of [false, true]) {
    const cmd = ["curl", "-sS", "--max-time", "30", "-D", "-", "-o", "/dev/null", "-T", file, ...(chunked ? ["-H", "Transfer-Encoding: chunked"] : []), `http://127.0.0.1:${port}/upload`];
    const r = await run(cmd, 40_000);
    expect(r.stdout).toContain("200");
    expect(r.stdout.toLowerCase()).toContain(`x-got-length: ${BIG}`);
    expect(r.stdout.toLowerCase()).toContain(`x-got-sha: ${sha(big)}`);
  }
  const h2 = await run(["curl", "-sS", "--max-time", "30", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null", "--data-binary", `@${file}`, `http://127.0.0.1:${port}/upload-h2`], 40_000);
  expect(h2.stdout.toLowerCase()).toContain(`x-got-sha: ${sha(big)}`);
}, 60_000);

test("HEAD, 204 and 304 have no body, and the client connection goes on to its next request", async () => {
  const r = await run(
    ["curl", "-v", "--max-time", "10", "-i", "-I", `http://127.0.0.1:${port}/big`, "--next", "-v", "-i", `http://127.0.0.1:${port}/nothing`, "--next", "-v", "-i", `http://127.0.0.1:${port}/cached`, "--next", "-v", `http://127.0.0.1:${port}/last`],
    20_000,
  );
  expect(r.stdout).toMatch(/^HTTP\/1\.1 200 /);
  expect(r.stdout.toLowerCase()).toContain(`content-length: ${BIG}`);
  expect(r.stdout).toContain("HTTP/1.1 204 ");
  expect(r.stdout).toContain("HTTP/1.1 304 ");
  expect(r.stdout.endsWith("app GET /last")).toBe(true);
  expect(r.stderr.match(/Connected to /g)?.length).toBe(1); // one client connection for the four requests
});

test("h2load: 20,000 requests over 8 connections × 10 streams all succeed through the h2 server", async () => {
  const r = await h2load(`http://127.0.0.1:${port}/load`, { requests: 20_000, clients: 8, streams: 10, limitSeconds: 60 });
  expect(r.succeeded).toBe(20_000);
  expect(r.status2xx).toBe(20_000);
  console.log(`h2load through plb to an h2 server (HAProxy h2c → Node): ${r.reqPerSec} req/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms`);
}, 90_000);
