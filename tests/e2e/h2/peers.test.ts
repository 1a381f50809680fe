/**
 * The HTTP/2 test clients (tests/support/h2-peers.ts) against a server that
 * speaks h2: HAProxy 2.6 (Debian's) over TLS (ALPN h2,http/1.1) and over h2c
 * (prior knowledge, `proto h2`), in front of an HTTP/1.1 backend. It pins
 * down what the plb h2 suites rely on: curl reports HTTP/2, nghttp's frames
 * are parsed, the raw-frame client gets answers, RST_STREAM for a field
 * HTTP/2 forbids, GOAWAY for a connection error, flow control held at a
 * zero window, PING answers, and h2load counts every request.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { H2Error } from "../../../src/http/h2/types.ts";
import { curlH2, h2Client, h2load, nghttp } from "../../support/h2-peers.ts";
import { type HAProxy, startHAProxy } from "../../support/haproxy.ts";
import { type HttpBackend, httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { type TestCa, testCa } from "../../support/test-ca.ts";

const BIG = 200_000;

let backend: HttpBackend;
let haproxy: HAProxy;
let ca: TestCa;
let tlsPort: number;
let h2cPort: number;

beforeAll(async () => {
  ca = await testCa();
  backend = await httpBackend("app", (req, res, body) => {
    res.setHeader("Content-Type", "text/plain");
    if (req.url === "/big") return res.end("b".repeat(BIG));
    res.setHeader("X-Got-Body", String(body.length));
    res.setHeader("X-Got-Trailer", String(req.trailers["x-checksum"]));
    res.end(`app ${req.method} ${req.url}`);
  });
  [tlsPort, h2cPort] = await freePorts(2);
  const crt = join(ca.dir, "haproxy-server.pem");
  writeFileSync(crt, (await Bun.file(ca.server.cert).text()) + (await Bun.file(ca.server.key).text()));
  haproxy = await startHAProxy(
    `frontend h2-tls
  mode http
  bind 127.0.0.1:${tlsPort} ssl crt ${crt} alpn h2,http/1.1
  default_backend app
frontend h2c
  mode http
  bind 127.0.0.1:${h2cPort} proto h2
  default_backend app
backend app
  mode http
  server app 127.0.0.1:${backend.port}
`,
    [tlsPort, h2cPort],
  );
});

afterAll(async () => {
  await haproxy?.stop();
  await backend?.close();
});

test("curl --http2 negotiates HTTP/2 by ALPN (certificate checked) and gets the backend's 200; --http2-prior-knowledge does h2c", async () => {
  const tls = await curlH2(`https://localhost:${tlsPort}/hello`, { ca: ca.ca, resolve: [`localhost:${tlsPort}:127.0.0.1`], headers: ["X-Test: 1"] });
  expect(tls.stderr).toBe("");
  expect(tls.httpVersion).toBe("2");
  expect(tls.status).toBe(200);
  expect(tls.body).toBe("app GET /hello");
  expect(tls.headers).toContainEqual(["content-type", "text/plain"]);
  const h2c = await curlH2(`http://127.0.0.1:${h2cPort}/plain`, { priorKnowledge: true, method: "POST", body: "abc" });
  expect(h2c.httpVersion).toBe("2");
  expect(h2c.status).toBe(200);
  expect(h2c.body).toBe("app POST /plain");
  expect(h2c.headers).toContainEqual(["x-got-body", "3"]);
});

test("nghttp sees SETTINGS, the response HEADERS and its DATA, over TLS and h2c", async () => {
  const tls = await nghttp(`https://127.0.0.1:${tlsPort}/big`);
  expect(tls.alpn).toBe("h2");
  expect(tls.status).toBe(200);
  expect(tls.received.SETTINGS).toBeGreaterThanOrEqual(2); // the server's, and the ACK of ours
  expect(tls.received.HEADERS).toBe(1);
  expect(tls.dataLength).toBe(BIG);
  expect(tls.received.DATA).toBeGreaterThan(1);
  expect(tls.sent.WINDOW_UPDATE).toBeGreaterThan(0);
  const h2c = await nghttp(`http://127.0.0.1:${h2cPort}/x`, { multiply: 3 });
  expect(h2c.alpn).toBeUndefined();
  expect(h2c.responses).toBe(3);
  expect(h2c.headers).toContainEqual([":status", "200"]);
  expect(h2c.goaway).toEqual({ by: "send", lastStreamId: 0, error: "NO_ERROR" }); // nghttp's own when done
});

test("the raw-frame client: 200 over TLS; a field HTTP/2 forbids gets RST_STREAM PROTOCOL_ERROR, and the connection serves the next stream", async () => {
  const ok = await h2Client({ port: tlsPort, tls: true, sni: "localhost", ca: ca.ca, steps: [{ op: "request", path: "/a" }, { op: "wait", until: "end" }] });
  expect(ok.summary.alpn).toBe("h2");
  expect(ok.summary.streams["1"]).toMatchObject({ status: 200, data_length: "app GET /a".length, reset: null, ended: true });
  expect(ok.summary.server_settings.MAX_CONCURRENT_STREAMS).toBeGreaterThan(0);

  const before = backend.seen.length;
  const bad = await h2Client({
    port: h2cPort,
    steps: [
      { op: "request", path: "/upper", add: [["X-Upper", "1"]] },
      { op: "wait", until: "reset", stream: 1 },
      { op: "request", path: "/conn", add: [["connection", "keep-alive"]] },
      { op: "wait", until: "reset", stream: 3 },
      { op: "request", path: "/after" },
      { op: "wait", until: "end", stream: 5 },
    ],
  });
  expect(bad.summary.streams["1"].reset).toBe(H2Error.PROTOCOL_ERROR);
  expect(bad.summary.streams["3"].reset).toBe(H2Error.PROTOCOL_ERROR);
  expect(bad.summary.streams["5"]).toMatchObject({ status: 200, ended: true, reset: null });
  expect(bad.summary.goaway).toBeNull();
  expect(backend.seen.slice(before).map((s) => s.url)).toEqual(["/after"]);
});

test("the raw-frame client cancels a stream with RST_STREAM and goes on; a DATA frame on stream 0 gets GOAWAY PROTOCOL_ERROR naming the last stream", async () => {
  const r = await h2Client({
    port: h2cPort,
    steps: [
      { op: "request", method: "POST", path: "/cancelled", end_stream: false },
      { op: "rst", stream: 1, code: H2Error.CANCEL },
      { op: "request", path: "/next" },
      { op: "wait", until: "end", stream: 3 },
      { op: "frame", type: 0x0, flags: 0x1, stream: 0, payload: "00" },
      { op: "wait", until: "goaway" },
      { op: "wait", until: "closed" },
    ],
  });
  expect(r.summary.streams["1"]).toMatchObject({ status: null, ended: false });
  expect(r.summary.streams["3"]).toMatchObject({ status: 200, ended: true });
  expect(r.summary.goaway).toMatchObject({ code: H2Error.PROTOCOL_ERROR, last_stream_id: 3 });
  expect(r.summary.closed).toBe(true);
});

test("the raw-frame client sends a body in DATA and trailers; INITIAL_WINDOW_SIZE 0 holds the response's DATA until a WINDOW_UPDATE", async () => {
  const before = backend.seen.length;
  const post = await h2Client({
    port: h2cPort,
    steps: [{ op: "request", method: "POST", path: "/upload", body_size: 100_000, trailers: [["x-checksum", "1"]] }, { op: "wait", until: "end", ms: 8000 }],
  });
  expect(post.summary.streams["1"]).toMatchObject({ status: 200, ended: true });
  expect(post.summary.streams["1"].headers).toContainEqual(["x-got-body", "100000"]);
  expect(post.summary.streams["1"].headers).toContainEqual(["x-got-trailer", "1"]);
  expect(backend.seen.slice(before).map((s) => [s.url, s.body.length])).toEqual([["/upload", 100_000]]);

  const held = await h2Client({
    port: h2cPort,
    settings: { INITIAL_WINDOW_SIZE: 0 },
    auto: { window_update: false },
    steps: [
      { op: "request", path: "/big" },
      { op: "wait", until: "response" },
      { op: "sleep", ms: 300 },
      { op: "window_update", stream: 1, increment: 1000 },
      { op: "wait", until: "data", count: 1000 },
      { op: "sleep", ms: 200 },
    ],
  });
  const s = held.summary.streams["1"];
  expect(s.status).toBe(200);
  expect(s.data_length).toBe(1000); // nothing before the update, then exactly the 1000 bytes it allowed
  expect(s.ended).toBe(false);
});

test("the raw-frame client's floods are bounded and answered: 2,000 PINGs acked; a 1,000-frame CONTINUATION block ends in a reply", async () => {
  const pings = await h2Client({ port: h2cPort, steps: [{ op: "ping", count: 2000 }, { op: "wait", until: "ping_acks", count: 2000, ms: 8000 }] });
  expect(pings.events).toContainEqual({ event: "sent", op: "ping", frames: 2000 });
  expect(pings.summary.ping_acks).toBe(2000);
  const empty = await h2Client({ port: h2cPort, steps: [{ op: "continuation", count: 1000, fragment: 0 }, { op: "wait", until: "end", ms: 8000 }] });
  expect(empty.events).toContainEqual(expect.objectContaining({ event: "sent", op: "continuation", frames: 1001 }));
  expect(empty.summary.frames.HEADERS).toBe(1);
  expect(empty.summary.streams["1"].status).toBe(200); // HAProxy takes empty CONTINUATION frames
  const settings = await h2Client({ port: h2cPort, steps: [{ op: "settings_flood", count: 500 }, { op: "wait", until: "settings", count: 501, ms: 8000 }] });
  expect(settings.summary.settings_acks).toBe(501); // the preface's SETTINGS and the 500
});

test("h2load does N requests over TLS, 10 streams per connection, all succeeded, and the backend saw each", async () => {
  const before = backend.seen.length;
  const r = await h2load(`https://127.0.0.1:${tlsPort}/load`, { requests: 400, clients: 4, streams: 10 });
  expect(r.protocol).toBe("h2");
  expect(r).toMatchObject({ total: 400, succeeded: 400, failed: 0, errored: 0, timeout: 0, status2xx: 400 });
  expect(r.reqPerSec).toBeGreaterThan(0);
  expect(r.p99Ms).toBeGreaterThanOrEqual(r.p50Ms);
  expect(backend.seen.slice(before).filter((s) => s.url === "/load").length).toBe(400);
});
