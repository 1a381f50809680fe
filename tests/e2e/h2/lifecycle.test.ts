/**
 * The life and end of HTTP/2 connections and streams: GOAWAY with the last
 * stream id on stop and on a reload that removes the service (the stream in
 * flight completes, then the connection closes), GOAWAY(NO_ERROR) for an
 * idle connection after timeout_client, a header block left unfinished
 * closed within timeout_http_request, and the server side's failures as
 * answers on one stream while the others go on: 504 for a silent server,
 * 503 for none, RST_STREAM for a server killed mid-response.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { H2Error } from "../../../src/http/h2/types.ts";
import { DEBIAN_PYTHON, h2Client, type Scenario } from "../../support/h2-peers.ts";
import { type HttpBackend, httpBackend } from "../../support/http-backends.ts";
import { type PlbProcess, startPlb, startPlbFile, tempDir, writeConfig } from "../../support/plb.ts";
import { freePort, freePorts } from "../../support/ports.ts";
import { reloadWith } from "../../support/reload.ts";
import { until } from "../../support/until.ts";

const SLOW_MS = 1500;
let app: HttpBackend;

beforeAll(async () => {
  app = await httpBackend("app", (req, res) => {
    const ms = Number(/[?&]ms=(\d+)/.exec(req.url ?? "")?.[1] ?? SLOW_MS);
    if (req.url?.startsWith("/slow")) return void setTimeout(() => res.end(`slow ${req.url}`), ms);
    if (req.url === "/hang") return; // never answers
    res.end(`app ${req.url}`);
  });
});
afterAll(async () => {
  await app?.close();
});

const service = (name: string, port: number, servers: string, extra = "") => `
[[service]]
name = "${name}"
protocol = "http"
listen = ["127.0.0.1:${port}"]
h2c = true
servers = [${servers}]
${extra}
`;

/** A slow request on stream 1; after the GOAWAY a new stream 3 (which plb must not process); everything until the connection closes. */
const slowThenClose = (port: number): Scenario => ({
  port,
  timeout_ms: 15_000,
  steps: [
    { op: "request", path: "/slow/1" },
    { op: "wait", until: "goaway", ms: 10_000 },
    { op: "request", path: "/late" },
    { op: "wait", until: "end", stream: 1, ms: 10_000 },
    { op: "wait", until: "closed", ms: 5000 },
  ],
});

/** What plb did with stream 3, opened after its GOAWAY: nothing (no answer; a reset at most), and the server never saw it. */
function lateIgnored(r: { summary: { streams: Record<string, { status: number | null }> } }): void {
  expect(r.summary.streams["3"]?.status ?? null).toBeNull();
  expect(app.seen.some((s) => s.url === "/late")).toBe(false);
}

test("stop (SIGTERM) with a slow request in flight: GOAWAY(NO_ERROR, last stream 1), the request completes, then the connection closes and plb exits 0", async () => {
  const port = await freePort();
  const plb = await startPlb(service("web", port, `"127.0.0.1:${app.port}"`));
  try {
    const before = app.seen.length;
    const run = h2Client(slowThenClose(port));
    await until(() => app.seen.slice(before).some((s) => s.url === "/slow/1"), "the slow request at the server", 5000);
    const t0 = Date.now();
    plb.proc.kill("SIGTERM");
    const r = await run;
    expect(r.summary.goaway).toMatchObject({ last_stream_id: 1, code: H2Error.NO_ERROR });
    expect(r.summary.streams["1"]).toMatchObject({ status: 200, ended: true, reset: null, data_length: "slow /slow/1".length });
    expect(r.summary.closed).toBe(true);
    const order = r.events.map((e) => e.event).filter((e) => ["goaway", "end", "closed"].includes(e));
    expect(order).toEqual(["goaway", "end", "closed"]);
    lateIgnored(r);
    expect(await plb.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8000);
  } finally {
    await plb.stop();
  }
});

test("a reload that removes the service: GOAWAY to its h2 connections, the stream in flight completes, the connection closes; another service's connection serves on", async () => {
  const [gonePort, keepPort] = await freePorts(2);
  const keep = service("keep", keepPort, `"127.0.0.1:${app.port}"`);
  const file = writeConfig(keep + service("gone", gonePort, `"127.0.0.1:${app.port}"`));
  const plb = await startPlbFile(file);
  try {
    const before = app.seen.length;
    const gone = h2Client(slowThenClose(gonePort));
    const kept = h2Client({
      port: keepPort,
      timeout_ms: 15_000,
      steps: [
        { op: "request", path: "/a" },
        { op: "wait", until: "end", stream: 1 },
        { op: "sleep", ms: 2500 },
        { op: "request", path: "/b" },
        { op: "wait", until: "end", stream: 3 },
      ],
    });
    await until(() => app.seen.slice(before).some((s) => s.url === "/slow/1"), "the slow request at the server", 5000);
    expect(await reloadWith(plb, file, keep)).toMatch(/reload: /);
    const r = await gone;
    expect(r.summary.goaway).toMatchObject({ last_stream_id: 1, code: H2Error.NO_ERROR });
    expect(r.summary.streams["1"]).toMatchObject({ status: 200, ended: true, reset: null });
    expect(r.summary.closed).toBe(true);
    lateIgnored(r);
    const k = await kept;
    expect(k.summary.goaway).toBeNull();
    expect(k.summary.streams["3"]).toMatchObject({ status: 200, ended: true });
  } finally {
    await plb.stop();
  }
});

test("an idle h2 connection is closed after timeout_client with GOAWAY(NO_ERROR) naming the last stream", async () => {
  const port = await freePort();
  const plb = await startPlb(service("web", port, `"127.0.0.1:${app.port}"`, `timeout_client = "1s"`));
  try {
    const r = await h2Client({
      port,
      timeout_ms: 15_000,
      steps: [
        { op: "request", path: "/one" },
        { op: "wait", until: "end" },
        { op: "request", path: "/two" },
        { op: "wait", until: "end" },
        { op: "wait", until: "closed", ms: 10_000 },
      ],
    });
    expect(r.summary.streams["3"]).toMatchObject({ status: 200, ended: true });
    expect(r.summary.goaway).toMatchObject({ last_stream_id: 3, code: H2Error.NO_ERROR });
    expect(r.summary.closed).toBe(true);
    expect(r.summary.elapsed_ms).toBeGreaterThanOrEqual(900);
    expect(r.summary.elapsed_ms).toBeLessThan(6000);
  } finally {
    await plb.stop();
  }
});

test("HEADERS without END_HEADERS and then nothing: the connection is closed within timeout_http_request, not held for timeout_client", async () => {
  const port = await freePort();
  const plb = await startPlb(service("web", port, `"127.0.0.1:${app.port}"`, `timeout_client = "30s"\ntimeout_http_request = "1s"`));
  try {
    const before = app.seen.length;
    const r = await h2Client({
      port,
      timeout_ms: 20_000,
      steps: [
        // SETTINGS exchanged first: our acknowledgement must not land inside the header block.
        { op: "wait", until: "settings", count: 1 },
        { op: "sleep", ms: 100 },
        { op: "headers", stream: 1, headers: [[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/never"]], end_stream: true, end_headers: false },
        { op: "wait", until: "closed", ms: 15_000 },
      ],
    });
    expect(r.summary.closed).toBe(true);
    expect(r.summary.elapsed_ms).toBeGreaterThanOrEqual(900);
    expect(r.summary.elapsed_ms).toBeLessThan(6000);
    // No request can follow an unfinished block (HPACK state, §6.10): the connection ends with an error, the stream unprocessed.
    expect(r.summary.goaway).toMatchObject({ last_stream_id: 0, code: H2Error.PROTOCOL_ERROR });
    expect(app.seen.length).toBe(before);
  } finally {
    await plb.stop();
  }
});

/**
 * A server in its own process that answers a request with a head
 * announcing 1 MB and 10,000 bytes of it, prints "sent", and waits to be
 * killed.
 */
const HALF_ANSWER = `
import socket, sys, time
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0)); ls.listen(8)
print("ready", ls.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = ls.accept()
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        d = c.recv(4096)
        if not d: break
        head += d
    if not head:
        c.close()
        continue
    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 1048576\\r\\n\\r\\n" + b"h" * 10000)
    conns.append(c)
    print("sent", flush=True)
`;

test("server failures stay on their stream: 504 for a silent server within timeout_server, 503 with no server, RST_STREAM for a server killed mid-response; the other streams complete", async () => {
  const script = join(tempDir("plb-h2-half-"), "half.py");
  await Bun.write(script, HALF_ANSWER);
  const half = Bun.spawn([DEBIAN_PYTHON, script], { stdout: "pipe", stderr: "inherit" });
  const lines: string[] = [];
  (async () => {
    let buf = "";
    for await (const chunk of half.stdout as ReadableStream<Uint8Array>) {
      buf += new TextDecoder().decode(chunk);
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    }
  })();
  const [port, deadPort] = await freePorts(2);
  let plb: PlbProcess | undefined;
  try {
    await until(() => lines.length > 0, "the half-answering server", 10_000);
    const halfPort = Number(lines[0].split(" ")[1]);
    plb = await startPlb(`
timeout_server = "1s"
timeout_connect = "1s"
[[backend]]
name = "app"
servers = ["127.0.0.1:${app.port}"]
[[backend]]
name = "dead"
servers = ["127.0.0.1:${deadPort}"]
[[backend]]
name = "half"
servers = ["127.0.0.1:${halfPort}"]
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
h2c = true
backend = "app"
[[service.route]]
path = "/dead"
backend = "dead"
[[service.route]]
path = "/half"
backend = "half"
`);
    const run = h2Client({
      port,
      timeout_ms: 20_000,
      steps: [
        { op: "request", path: "/half" }, // 1: killed mid-response
        { op: "request", path: "/slow/3?ms=500" }, // 3: answers after 0.5 s (timeout_server is 1 s)
        { op: "request", path: "/hang" }, // 5: never answers: 504
        { op: "request", path: "/dead" }, // 7: no server: 503
        { op: "wait", until: "reset", stream: 1, ms: 10_000 },
        { op: "request", path: "/after" }, // 9: after the reset
        { op: "wait", until: "end", stream: 3, ms: 10_000 },
        { op: "wait", until: "end", stream: 5, ms: 10_000 },
        { op: "wait", until: "end", stream: 7, ms: 10_000 },
        { op: "wait", until: "end", stream: 9, ms: 10_000 },
      ],
    });
    await until(() => lines.includes("sent"), "the half answer", 5000);
    await Bun.sleep(200);
    half.kill("SIGKILL");
    const r = await run;
    const s = r.summary.streams;
    expect(s["1"]).toMatchObject({ status: 200, reset: H2Error.INTERNAL_ERROR, ended: false });
    expect(s["1"].data_length).toBe(10000);
    expect(s["3"]).toMatchObject({ status: 200, ended: true, reset: null, data_length: "slow /slow/3?ms=500".length });
    expect(s["5"]).toMatchObject({ status: 504, ended: true, reset: null });
    expect(s["7"]).toMatchObject({ status: 503, ended: true, reset: null });
    expect(s["9"]).toMatchObject({ status: 200, ended: true, reset: null });
    expect(r.summary.goaway).toBeNull();
    expect(r.summary.closed).toBe(false);
    // Each answer came in its time: 504 after timeout_server (1 s, swept), within margin.
    const at = (ev: string, stream: number) => r.events.findIndex((e) => e.event === ev && e.stream === stream);
    expect(at("headers", 7)).toBeLessThan(at("headers", 5)); // 503 at once, before the 504
    expect(r.summary.elapsed_ms).toBeLessThan(8000);
  } finally {
    await plb?.stop();
    half.kill("SIGKILL");
  }
});
