/**
 * HTTP/2 flow control as plb's backpressure, both ways, with real peers: a
 * client that opens no window holds the server's response (the server's
 * writes block, plb's memory stays flat) until it opens one, then gets
 * every byte; a slow server holds the client's upload (the client's window
 * stays closed: plb does not buffer it); and a server connection paused for
 * a stream's window is reused afterwards.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { H2Error } from "../../../src/http/h2/types.ts";
import { DEBIAN_PYTHON, h2Client } from "../../support/h2-peers.ts";
import { type PlbProcess, startPlb, tempDir } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";
import { rss } from "../../support/rss.ts";
import { until } from "../../support/until.ts";

const MB = 1 << 20;
const BIG = 64 * MB;
const CHUNK = 64 * 1024;

/** A server that writes BIG bytes (a pattern) with node's backpressure, and says how far it got. */
interface Writer {
  port: number;
  written: number;
  waitingForDrain: boolean;
  finished: boolean;
  connections: number;
  close(): Promise<void>;
}

/** 256 chunks made once: a writer that allocates while it streams 64 MB pauses for GC (the server's silence under a busy CPU). */
const CHUNKS = Array.from({ length: 256 }, (_, i) => new Uint8Array(CHUNK).fill(i));
function pattern(i: number): Uint8Array {
  return CHUNKS[i & 0xff];
}

async function bigWriter(): Promise<Writer> {
  const w: Writer = { port: 0, written: 0, waitingForDrain: false, finished: false, connections: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    if (req.url === "/small") return res.end("small");
    const total = req.url === "/chunked-100k" ? 100 * 1024 : BIG;
    if (total === BIG) res.setHeader("Content-Length", String(BIG));
    w.written = 0;
    w.finished = false;
    let i = 0;
    const pump = () => {
      while (w.written < total) {
        const c = pattern(i++).subarray(0, Math.min(CHUNK, total - w.written));
        w.written += c.length;
        if (!res.write(c)) {
          w.waitingForDrain = true;
          res.once("drain", () => {
            w.waitingForDrain = false;
            pump();
          });
          return;
        }
      }
      w.finished = true;
      res.end();
    };
    pump();
  });
  server.keepAliveTimeout = 30_000;
  server.on("connection", () => w.connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  w.port = (server.address() as { port: number }).port;
  w.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return w;
}

/**
 * A slow HTTP/1.1 server (Python, a small receive buffer): it reads the
 * request head, then nothing for `pause` seconds, then the chunked body,
 * and answers with its length and SHA-256. Prints "ready PORT", then a line
 * per event ("head", "reading", "done LEN").
 */
const SLOW_READER = `
import hashlib, socket, sys, time
pause = float(sys.argv[1])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
ls.bind(("127.0.0.1", 0)); ls.listen(8)
print("ready", ls.getsockname()[1], flush=True)
while True:
    c, _ = ls.accept()
    f = c.makefile("rb")
    head = b""
    while not head.endswith(b"\\r\\n\\r\\n"):
        line = f.readline()
        if not line: break
        head += line
    if not head:  # a connection without a request (plb's probe)
        c.close()
        continue
    print("head", flush=True)
    time.sleep(pause)
    print("reading", flush=True)
    h, n = hashlib.sha256(), 0
    while True:
        size = int(f.readline().split(b";")[0], 16)
        if size == 0:
            while f.readline() not in (b"\\r\\n", b""): pass
            break
        data = f.read(size); f.read(2)
        h.update(data); n += len(data)
    body = ("%d %s" % (n, h.hexdigest())).encode()
    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % len(body) + body)
    print("done", n, h.hexdigest(), flush=True)
    c.close()
`;

let writer: Writer;
let plb: PlbProcess;
let port: number;
let slowPort: number;
let slowPlbPort: number;
/** A service with short timeouts: timeout_server 1.5 s, timeout_client 5 s. */
let shortPort: number;
let slow: ReturnType<typeof Bun.spawn>;
const slowLines: string[] = [];

beforeAll(async () => {
  writer = await bigWriter();
  const script = join(tempDir("plb-h2-slow-"), "slow_reader.py");
  await Bun.write(script, SLOW_READER);
  slow = Bun.spawn([DEBIAN_PYTHON, script, "3"], { stdout: "pipe", stderr: "inherit" });
  const reader = (slow.stdout as ReadableStream<Uint8Array>).getReader();
  (async () => {
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += new TextDecoder().decode(value);
      const lines = buf.split("\n");
      buf = lines.pop()!;
      slowLines.push(...lines);
    }
  })();
  await until(() => slowLines.length > 0, "the slow server to start", 10_000);
  slowPort = Number(slowLines[0].split(" ")[1]);
  [port, slowPlbPort, shortPort] = await freePorts(3);
  plb = await startPlb(`
[[service]]
name = "h2c"
protocol = "http"
listen = ["127.0.0.1:${port}"]
h2c = true
servers = ["127.0.0.1:${writer.port}"]

[[service]]
name = "short"
protocol = "http"
listen = ["127.0.0.1:${shortPort}"]
h2c = true
timeout_server = "1500ms"
timeout_client = "5s"
servers = ["127.0.0.1:${writer.port}"]

[[service]]
name = "slow"
protocol = "http"
listen = ["127.0.0.1:${slowPlbPort}"]
h2c = true
servers = ["127.0.0.1:${slowPort}"]
`);
});

afterAll(async () => {
  await plb?.stop();
  await writer?.close();
  slow?.kill();
});

test("a client that opens no window: the server's writes block, plb's RSS stays flat; once it opens the window the whole body arrives", async () => {
  const before = rss(plb.pid);
  const run = h2Client({
    port,
    settings: { INITIAL_WINDOW_SIZE: 0 },
    auto: { window_update: false },
    timeout_ms: 60_000,
    steps: [
      { op: "request", path: "/big" },
      { op: "wait", until: "response", ms: 5000 },
      { op: "sleep", ms: 2500 },
      { op: "window_update", stream: 1, increment: 0x7fffffff },
      { op: "window_update", stream: 0, increment: 0x7fffffff - 65535 },
      { op: "wait", until: "end", ms: 45_000 },
    ],
  });
  // While the client holds its window shut: the server is blocked, having written a fraction.
  await until(() => writer.waitingForDrain && writer.written > 0, "the server to block", 5000);
  await Bun.sleep(1000);
  const stalled = writer.written;
  await Bun.sleep(800);
  expect(writer.written).toBe(stalled); // nothing more went out: plb stopped reading the server
  expect(writer.waitingForDrain).toBe(true);
  expect(stalled).toBeLessThan(BIG / 2);
  const held = rss(plb.pid) - before;
  expect(held).toBeLessThan(24 * MB);

  const r = await run;
  const s = r.summary.streams["1"];
  expect(s).toMatchObject({ status: 200, ended: true, reset: null });
  expect(s.data_length).toBe(BIG);
  expect(s.headers).toContainEqual(["content-length", String(BIG)]);
  expect(writer.finished).toBe(true);
  expect(r.events.find((e) => e.event === "end")).toBeDefined();
  console.log(`server blocked after ${(stalled / MB).toFixed(1)} MB of ${BIG / MB}; plb RSS +${(held / MB).toFixed(1)} MB meanwhile`);
}, 90_000);

test("a response that ends while its stream waits for the window leaves a server connection that serves the next request", async () => {
  const conns = writer.connections;
  const r = await h2Client({
    port,
    settings: { INITIAL_WINDOW_SIZE: 0 },
    auto: { window_update: false },
    steps: [
      { op: "request", path: "/chunked-100k" },
      { op: "wait", until: "response" },
      { op: "sleep", ms: 500 }, // the server's whole answer is in plb by now, the stream blocked
      { op: "window_update", stream: 1, increment: 1 << 20 },
      { op: "window_update", stream: 0, increment: 1 << 20 },
      { op: "wait", until: "end" },
    ],
  });
  expect(r.summary.streams["1"]).toMatchObject({ status: 200, ended: true, data_length: 100 * 1024 });
  expect(writer.finished).toBe(true);
  // The same idle server connection takes the next request and its answer is read.
  const next = await h2Client({ port, timeout_ms: 8000, steps: [{ op: "request", path: "/small" }, { op: "wait", until: "end", ms: 5000 }] });
  expect(next.summary.streams["1"]).toMatchObject({ status: 200, ended: true, data_length: 5 });
  expect(writer.connections).toBe(conns);
});

test("a slow server receiving a large upload: the client's window stays closed (plb holds no more than a window), then every byte arrives", async () => {
  const before = rss(plb.pid);
  const at = slowLines.length;
  const first = 16 * MB;
  const rest = 2 * MB;
  const run = h2Client({
    port: slowPlbPort,
    timeout_ms: 60_000,
    steps: [
      { op: "headers", stream: 1, headers: [[":method", "POST"], [":scheme", "http"], [":authority", "slow"], [":path", "/upload"]] },
      // The server reads nothing for 3 s: the client blocks well before 16 MB and gives up on the rest after 1.5 s.
      { op: "data", stream: 1, size: first, ms: 1500 },
      { op: "sleep", ms: 2500 },
      { op: "data", stream: 1, size: rest, end_stream: true, ms: 30_000 },
      { op: "wait", until: "end", stream: 1, ms: 30_000 },
    ],
  });
  await until(() => slowLines.slice(at).includes("head"), "the request head at the server", 5000);
  await Bun.sleep(1200);
  const held = rss(plb.pid) - before;
  const r = await run;
  const blocked = r.events.find((e) => e.event === "blocked") as { left: number; stream_window: number } | undefined;
  expect(blocked).toBeDefined();
  const sentFirst = first - blocked!.left;
  // What plb let through before the server read: its window and the kernel's socket buffers, far less than 16 MB.
  expect(sentFirst).toBeLessThan(8 * MB);
  expect(blocked!.stream_window).toBeLessThanOrEqual(0);
  expect(held).toBeLessThan(24 * MB);
  const s = r.summary.streams["1"];
  expect(s).toMatchObject({ status: 200, ended: true, reset: null });
  const total = sentFirst + rest;
  await until(() => slowLines.slice(at).some((l) => l.startsWith("done ")), "the server's count", 5000);
  const sha = new Bun.CryptoHasher("sha256").update(Buffer.alloc(total, "x")).digest("hex");
  expect(slowLines.slice(at).find((l) => l.startsWith("done "))).toBe(`done ${total} ${sha}`);
  console.log(`upload: the client sent ${(sentFirst / MB).toFixed(2)} MB before the server read; plb RSS +${(held / MB).toFixed(1)} MB`);
}, 90_000);

test("a window closed longer than timeout_server is no server timeout (plb paused the server): the whole response arrives once it opens", async () => {
  const r = await h2Client({
    port: shortPort,
    settings: { INITIAL_WINDOW_SIZE: 0 },
    auto: { window_update: false },
    timeout_ms: 60_000,
    steps: [
      { op: "request", path: "/big" },
      { op: "wait", until: "response", ms: 5000 },
      { op: "sleep", ms: 3000 }, // timeout_server is 1.5 s, timeout_client 5 s
      { op: "window_update", stream: 1, increment: 0x7fffffff },
      { op: "window_update", stream: 0, increment: 0x7fffffff - 65535 },
      { op: "wait", until: "end", ms: 45_000 },
    ],
  });
  expect(r.summary.streams["1"]).toMatchObject({ status: 200, ended: true, reset: null, data_length: BIG });
}, 90_000);

test("a window that never opens: the stream ends after timeout_client (not timeout_server), whether the server is still sending or its whole answer waits in plb", async () => {
  const never = (path: string) =>
    h2Client({
      port: shortPort,
      settings: { INITIAL_WINDOW_SIZE: 0 },
      auto: { window_update: false },
      timeout_ms: 30_000,
      steps: [
        { op: "request", path },
        { op: "wait", until: "response", ms: 5000 },
        { op: "wait", until: "reset", ms: 20_000 }, // (a GOAWAY and close end this wait too)
      ],
    });
  const [big, small] = await Promise.all([never("/big"), never("/chunked-100k")]);
  for (const r of [big, small]) {
    expect(r.summary.streams["1"]).toMatchObject({ status: 200, data_length: 0, ended: false });
    // The stream is reset, or (a client that takes nothing on any stream) the whole connection ends with GOAWAY(NO_ERROR): either way at timeout_client.
    const s = r.summary;
    const ended = s.streams["1"].reset === H2Error.INTERNAL_ERROR || (s.goaway?.code === H2Error.NO_ERROR && s.goaway.last_stream_id === 1 && s.closed);
    expect(ended).toBe(true);
    expect(s.elapsed_ms).toBeGreaterThanOrEqual(4500); // timeout_client, not timeout_server (1.5 s)
    expect(s.elapsed_ms).toBeLessThan(15_000);
  }
  // plb serves on, on the same service.
  const ok = await h2Client({ port: shortPort, steps: [{ op: "request", path: "/small" }, { op: "wait", until: "end" }] });
  expect(ok.summary.streams["1"]).toMatchObject({ status: 200, ended: true, data_length: 5 });
}, 60_000);
