/**
 * HTTP/2 requests through plb to HTTP/1.1 servers: routes by host and path
 * to named backends, methods, request bodies with and without
 * content-length (chunked to the server), uploads and downloads of several
 * MB compared by checksum, trailers both ways, cookie crumbs, :authority as
 * Host, 100-continue, a content-length that disagrees with the DATA, many
 * streams on one connection, and the access log and metrics that count
 * them. Peers: curl, nghttp, h2load, the raw-frame client; node:http
 * servers and a strict raw server that records every byte.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { H2Error } from "../../../src/http/h2/types.ts";
import { CertDir } from "../../support/certs.ts";
import { curlH2, h2Client, h2load, nghttp } from "../../support/h2-peers.ts";
import { type HttpBackend, httpBackend } from "../../support/http-backends.ts";
import { type PlbProcess, startPlb, tempDir } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { type RecordingBackend, recordingBackend } from "../../support/recording-backend.ts";
import { until } from "../../support/until.ts";

const DOWNLOAD = 8 << 20;
const sha = (b: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

/** Deterministic bytes, every value 0-255. */
const blob = (() => {
  const b = new Uint8Array(DOWNLOAD);
  let x = 12345;
  for (let i = 0; i < b.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
})();
const BLOB_SHA = sha(blob);

interface Echo {
  backend: string;
  method: string;
  url: string;
  host?: string;
  cookie?: string;
  cl?: string;
  te?: string;
  expect?: string;
  len: number;
  sha: string;
  trailers: Record<string, string>;
}

let web: HttpBackend;
let api: HttpBackend;
let strict: RecordingBackend;
let plb: PlbProcess;
let tlsPort: number;
let h2cPort: number;
let statsPort: number;
let logDir: string;
/** The trailers each request brought the servers, by URL. */
const trailersBy = new Map<string, Record<string, string>>();

function echoing(name: string) {
  return (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse, body: Buffer) => {
    const url = req.url ?? "";
    if (url.startsWith("/download")) {
      res.setHeader("X-Sha256", BLOB_SHA);
      if (url === "/download/chunked") {
        // No content-length: chunked to plb, in pieces of 1 MB.
        for (let i = 0; i < blob.length; i += 1 << 20) res.write(blob.subarray(i, i + (1 << 20)));
        return res.end();
      }
      return res.end(Buffer.from(blob));
    }
    if (url === "/trailers") {
      res.setHeader("Trailer", "x-sum");
      res.setHeader("Content-Type", "text/plain");
      res.write("part one,");
      res.write("part two");
      res.addTrailers({ "x-sum": sha("part one,part two"), "x-more": "yes" });
      return res.end();
    }
    const h = req.headers;
    trailersBy.set(url, { ...(req.trailers as Record<string, string>) });
    const echo: Echo = {
      backend: name,
      method: req.method ?? "",
      url,
      host: h.host,
      cookie: h.cookie,
      cl: h["content-length"],
      te: h["transfer-encoding"],
      expect: h.expect as string | undefined,
      len: body.length,
      sha: sha(body),
      trailers: req.trailers as Record<string, string>,
    };
    const out = JSON.stringify(echo);
    res.setHeader("Content-Type", "application/json");
    res.setHeader("X-Echo", out.length);
    res.end(out);
  };
}

beforeAll(async () => {
  const certs = new CertDir();
  const pair = await certs.cert("localhost", { dns: ["localhost"] });
  web = await httpBackend("web", echoing("web"));
  api = await httpBackend("api", echoing("api"));
  strict = recordingBackend({ keep: true });
  [tlsPort, h2cPort, statsPort] = await freePorts(3);
  logDir = tempDir("plb-h2-log-");
  const routes = `
[[service.route]]
host = ["api.test"]
backend = "api"
[[service.route]]
path = "/api/"
backend = "api"
[[service.route]]
path = "/strict/"
backend = "strict"
`;
  plb = await startPlb(`
[stats]
listen = "127.0.0.1:${statsPort}"

[[backend]]
name = "web"
servers = ["127.0.0.1:${web.port}"]
[[backend]]
name = "api"
servers = ["127.0.0.1:${api.port}"]
[[backend]]
name = "strict"
servers = ["127.0.0.1:${strict.port}"]

[[service]]
name = "edge"
protocol = "http"
listen = ["127.0.0.1:${tlsPort}"]
tls = { cert = "${pair.cert}", key = "${pair.key}" }
backend = "web"
access_log = { path = "${join(logDir, "edge.json")}", format = "json" }
${routes}
[[service]]
name = "edge-h2c"
protocol = "http"
listen = ["127.0.0.1:${h2cPort}"]
h2c = true
backend = "web"
access_log = { path = "${join(logDir, "edge-h2c.json")}", format = "json" }
${routes}
`);
});

afterAll(async () => {
  await plb?.stop();
  await web?.close();
  await api?.close();
  strict?.stop();
});

const echoOf = (body: string): Echo => JSON.parse(body) as Echo;

test("routes by :authority and path to two named backends; :authority becomes Host; GET, HEAD and POST", async () => {
  const base = `https://127.0.0.1:${tlsPort}`;
  const byHost = await curlH2(`https://api.test:${tlsPort}/x?q=1`, { resolve: [`api.test:${tlsPort}:127.0.0.1`] });
  expect(byHost.httpVersion).toBe("2");
  expect(echoOf(byHost.body)).toMatchObject({ backend: "api", method: "GET", url: "/x?q=1", host: `api.test:${tlsPort}` });
  const byPath = await curlH2(`${base}/api/users`);
  expect(echoOf(byPath.body)).toMatchObject({ backend: "api", url: "/api/users", host: `127.0.0.1:${tlsPort}` });
  const other = await curlH2(`${base}/apix`);
  expect(echoOf(other.body)).toMatchObject({ backend: "web", url: "/apix" });

  const head = await curlH2(`${base}/api/head`, { method: "HEAD" });
  expect(head.status).toBe(200);
  expect(head.body).toBe("");
  const len = Number(head.headers.find(([n]) => n === "x-echo")?.[1]);
  expect(len).toBeGreaterThan(0);
  expect(api.seen.at(-1)).toMatchObject({ method: "HEAD", url: "/api/head" });

  const post = await curlH2(`${base}/form`, { method: "POST", body: "a=1&b=2" });
  expect(echoOf(post.body)).toMatchObject({ backend: "web", method: "POST", url: "/form", cl: "7", len: 7, sha: sha("a=1&b=2") });
  expect(echoOf(post.body).te).toBeUndefined();

  // The raw-frame client: :authority only (no host field) reaches the server as Host.
  const raw = await h2Client({ port: h2cPort, steps: [{ op: "request", path: "/api/raw", authority: "api.test" }, { op: "wait", until: "end" }] });
  expect(raw.summary.streams["1"]).toMatchObject({ status: 200, ended: true });
  expect(api.seen.at(-1)?.rawHeaders.filter((_, i, a) => i % 2 === 0 && a[i].toLowerCase() === "host")).toHaveLength(1);
  expect(api.seen.at(-1)?.headers.host).toBe("api.test");
});

test("request bodies: with content-length the server gets it as sent; without one it gets chunked framing; trailers reach it as chunked trailers", async () => {
  const r = await h2Client({
    port: h2cPort,
    steps: [
      { op: "request", method: "POST", path: "/cl", add: [["content-length", "5000"]], body_size: 5000, end_stream: true },
      { op: "wait", until: "end", stream: 1 },
      { op: "request", method: "POST", path: "/nocl", body_size: 70_000, end_stream: true },
      { op: "wait", until: "end", stream: 3, ms: 8000 },
      { op: "request", method: "POST", path: "/trailers-in", body: "checked body", trailers: [["x-checksum", sha("checked body")], ["x-note", "last"]] },
      { op: "wait", until: "end", stream: 5 },
    ],
  });
  for (const id of ["1", "3", "5"]) expect(r.summary.streams[id]).toMatchObject({ status: 200, ended: true, reset: null });
  const seen = (url: string) => web.seen.find((s) => s.url === url)!;
  expect(seen("/cl").headers["content-length"]).toBe("5000");
  expect(seen("/cl").headers["transfer-encoding"]).toBeUndefined();
  expect(seen("/cl").body.length).toBe(5000);
  expect(seen("/nocl").headers["transfer-encoding"]).toBe("chunked");
  expect(seen("/nocl").headers["content-length"]).toBeUndefined();
  expect(seen("/nocl").body).toEqual(Buffer.alloc(70_000, "x"));
  expect(seen("/trailers-in").headers["transfer-encoding"]).toBe("chunked");
  expect(seen("/trailers-in").body.toString()).toBe("checked body");
  expect(trailersBy.get("/trailers-in")).toEqual({ "x-checksum": sha("checked body"), "x-note": "last" });
  expect(trailersBy.get("/nocl")).toEqual({});
});

test("large upload and download over TLS (curl, nghttp), compared by checksum, with and without a content-length from the server", async () => {
  const upload = Buffer.from(blob.subarray(0, 5 << 20)).toString("base64"); // ~6.7 MB of ASCII
  const up = await curlH2(`https://127.0.0.1:${tlsPort}/upload`, { method: "POST", body: upload, maxSeconds: 30 });
  expect(up.httpVersion).toBe("2");
  expect(echoOf(up.body)).toMatchObject({ method: "POST", len: upload.length, sha: sha(upload), cl: String(upload.length) });

  for (const path of ["/download", "/download/chunked"]) {
    const down = await curlH2(`https://127.0.0.1:${tlsPort}${path}`, { maxSeconds: 30 });
    expect(down.httpVersion).toBe("2");
    expect(down.status).toBe(200);
    expect(down.body.length).toBe(DOWNLOAD);
    expect(sha(Buffer.from(down.body, "latin1"))).toBe(BLOB_SHA);
    expect(down.headers).toContainEqual(["x-sha256", BLOB_SHA]);
    if (path === "/download") expect(down.headers).toContainEqual(["content-length", String(DOWNLOAD)]);
    else expect(down.headers.find(([n]) => n === "content-length" || n === "transfer-encoding")).toBeUndefined();
  }
  const n = await nghttp(`https://127.0.0.1:${tlsPort}/download/chunked`, { timeoutSeconds: 30 });
  expect(n.status).toBe(200);
  expect(n.dataLength).toBe(DOWNLOAD);
  expect(n.resets).toEqual([]);
  const nUp = await nghttp(`http://127.0.0.1:${h2cPort}/api/nghttp-up`, { body: upload, timeoutSeconds: 30 });
  expect(nUp.status).toBe(200);
  const seen = api.seen.find((s) => s.url === "/api/nghttp-up")!;
  expect(seen.body.length).toBe(upload.length);
  expect(sha(seen.body)).toBe(sha(upload));
});

test("response trailers from a chunked server reach the h2 client as trailing HEADERS after the DATA", async () => {
  const r = await h2Client({ port: h2cPort, steps: [{ op: "request", path: "/trailers", add: [["te", "trailers"]] }, { op: "wait", until: "end" }] });
  const s = r.summary.streams["1"];
  expect(s).toMatchObject({ status: 200, ended: true, reset: null, data_length: "part one,part two".length });
  expect(s.trailers).toEqual([["x-sum", sha("part one,part two")], ["x-more", "yes"]]);
  expect(s.headers?.some(([n]) => n === "transfer-encoding" || n === "connection")).toBe(false);
  const kinds = r.events.filter((e) => e.stream === 1 && ["headers", "trailers", "end"].includes(e.event)).map((e) => e.event);
  expect(kinds).toEqual(["headers", "trailers", "end"]);
});

test("cookie crumbs are joined with '; ' into one Cookie field", async () => {
  const r = await h2Client({ port: h2cPort, steps: [{ op: "request", path: "/cookies", add: [["cookie", "a=1"], ["cookie", "b=2"], ["x-x", "y"], ["cookie", "c=3"]] }, { op: "wait", until: "end" }] });
  expect(r.summary.streams["1"].status).toBe(200);
  const seen = web.seen.find((s) => s.url === "/cookies")!;
  expect(seen.headers.cookie).toBe("a=1; b=2; c=3");
  expect(seen.rawHeaders.filter((_, i, a) => i % 2 === 0 && a[i].toLowerCase() === "cookie")).toHaveLength(1);
});

test("expect: 100-continue: the client gets 100 before it sends the body, then the final answer", async () => {
  const r = await h2Client({
    port: h2cPort,
    steps: [
      { op: "request", method: "POST", path: "/continue", add: [["content-length", "11"], ["expect", "100-continue"]], end_stream: false },
      // Nothing final can come before the body: this wait runs out (a "timeout" event) after the 100 arrived.
      { op: "wait", until: "response", ms: 1000 },
      { op: "data", data: "hello world", end_stream: true },
      { op: "wait", until: "end" },
    ],
  });
  const s = r.summary.streams["1"];
  expect(s.informational).toEqual([100]);
  expect(s).toMatchObject({ status: 200, ended: true });
  const names = r.events.filter((e) => e.stream === 1).map((e) => e.event);
  expect(names).toEqual(["informational", "timeout", "headers", "end"]); // the 100 before the body went out, the answer after
  const seen = web.seen.find((s) => s.url === "/continue")!;
  expect(seen.body.toString()).toBe("hello world");
});

test("a content-length that disagrees with the DATA gets RST_STREAM PROTOCOL_ERROR; the server sees nothing malformed, and the connection serves on", async () => {
  const before = strict.requestCount();
  const r = await h2Client({
    port: h2cPort,
    steps: [
      { op: "request", method: "POST", path: "/strict/short", add: [["content-length", "10"]], body: "12345", end_stream: true },
      { op: "wait", until: "reset", stream: 1 },
      { op: "request", method: "POST", path: "/strict/long", add: [["content-length", "3"]], body: "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", end_stream: true },
      { op: "wait", until: "reset", stream: 3 },
      { op: "request", method: "POST", path: "/strict/ok", add: [["content-length", "2"]], body: "ok", end_stream: true },
      { op: "wait", until: "end", stream: 5 },
    ],
  });
  expect(r.summary.streams["1"].reset).toBe(H2Error.PROTOCOL_ERROR);
  expect(r.summary.streams["3"].reset).toBe(H2Error.PROTOCOL_ERROR);
  expect(r.summary.streams["5"]).toMatchObject({ status: 200, ended: true, reset: null });
  expect(r.summary.goaway).toBeNull();
  await Bun.sleep(200);
  expect(strict.violations).toEqual([]);
  const paths = strict.requests.slice(0).map((q) => q.request.target);
  expect(paths).not.toContain("/smuggled");
  expect(paths).not.toContain("/strict/short");
  expect(paths).not.toContain("/strict/long");
  expect(paths).toContain("/strict/ok");
  expect(strict.requestCount() - before).toBe(1);
  // A server connection left holding part of a request is never reused: it was closed.
  await until(() => strict.conns.every((c) => c.closed || c.pending.length === 0), "partial server connections closed");
});

test("many concurrent streams on one connection all succeed (nghttp -m 100, h2load -m 100); one access log line and one counted request per stream, as HTTP/2.0", async () => {
  const metric = async () => {
    const text = await (await fetch(`http://127.0.0.1:${statsPort}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith("plb_http_requests_total{") && l.includes('service="edge-h2c"') && l.includes('protocol="HTTP/2.0"'));
    return line === undefined ? 0 : Number(line.split(" ").at(-1));
  };
  const m0 = await metric();
  const n = await nghttp(`http://127.0.0.1:${h2cPort}/many-nghttp`, { multiply: 100 });
  expect(n.responses).toBe(100);
  expect(n.resets).toEqual([]);
  expect(n.received.HEADERS).toBe(100);
  const load = await h2load(`http://127.0.0.1:${h2cPort}/many-h2load`, { requests: 1000, clients: 2, streams: 100 });
  expect(load.protocol).toBe("h2c");
  expect(load).toMatchObject({ total: 1000, succeeded: 1000, failed: 0, errored: 0, timeout: 0, status2xx: 1000 });
  expect(web.seen.filter((s) => s.url === "/many-h2load").length).toBe(1000);

  const lines = () =>
    readFileSync(join(logDir, "edge-h2c.json"), "utf8")
      .split("\n")
      .filter((l) => l.includes('"/many-'))
      .map((l) => JSON.parse(l) as { path: string; protocol: string; status: number; service: string });
  await until(
    () => {
      try {
        return lines().length >= 1100;
      } catch {
        return false;
      }
    },
    "1,100 access log lines",
    10_000,
  );
  await Bun.sleep(1200); // one more flush: no extra line may come
  const all = lines();
  expect(all.length).toBe(1100);
  expect(all.filter((l) => l.path === "/many-nghttp").length).toBe(100);
  expect(all.every((l) => l.protocol === "HTTP/2.0" && l.status === 200 && l.service === "edge-h2c")).toBe(true);
  let m1 = await metric();
  for (let i = 0; i < 100 && m1 - m0 < 1100; i++) (await Bun.sleep(50), (m1 = await metric()));
  expect(m1 - m0).toBe(1100);
  // HTTP/1 requests are counted apart.
  const h1 = await fetch(`http://127.0.0.1:${h2cPort}/h1-counted`);
  expect(h1.status).toBe(200);
  expect(await metric()).toBe(m1);
});
