import { afterEach, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { randomBytes } from "node:crypto";
import { blackhole } from "./support/blackhole.ts";
import { freePort } from "./support/ports.ts";
import { classifyConnectError, connect, describeConnectError, formatMs, type PendingConnect } from "../src/net/connect.ts";
import { listen, type Listener } from "../src/net/listen.ts";
import { Pipe, type PipeOwner } from "../src/net/pipe.ts";
import type { ConnectFailure, Sock, SocketEvents } from "../src/net/types.ts";
import { PlbError } from "../src/errors.ts";

const cleanups: (() => void)[] = [];

afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c();
    } catch {
      // already gone
    }
  }
});

async function until(cond: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await Bun.sleep(2);
  }
}

// ---------------------------------------------------------------------------
// Test peers: plain Bun sockets that send a payload with backpressure (then
// optionally a FIN) and keep what they receive.

class Peer {
  sent = 0;
  received = 0;
  chunks: Uint8Array[] = [];
  ended = false;
  closed = false;
  closeError: Error | undefined;
  socket: Socket<Peer> | undefined;
  constructor(
    public payload: Uint8Array = new Uint8Array(0),
    /** Send a FIN once the payload is out. */
    public finAfter = true,
    /** Keep the bytes (else only count them). */
    public keep = true,
  ) {}
  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

function pump(s: Socket<Peer>): void {
  const p = s.data;
  while (p.sent < p.payload.length) {
    const n = s.write(p.payload.subarray(p.sent, Math.min(p.sent + (256 << 10), p.payload.length)));
    if (n <= 0) return;
    p.sent += n;
  }
  if (p.finAfter && !p.closed) {
    p.finAfter = false;
    s.shutdown();
  }
}

/** Handlers for a Peer socket; `extra` may override some. */
function peerHandlers(extra: Partial<Record<"open" | "data" | "end", (s: Socket<Peer>, buf?: Uint8Array) => void>> = {}) {
  return {
    open(s: Socket<Peer>) {
      s.data.socket = s;
      if (extra.open) extra.open(s);
      else pump(s);
    },
    drain: pump,
    data(s: Socket<Peer>, buf: Uint8Array) {
      s.data.received += buf.length;
      if (s.data.keep) s.data.chunks.push(buf);
      extra.data?.(s, buf);
    },
    end(s: Socket<Peer>) {
      s.data.ended = true;
      if (extra.end) extra.end(s);
      else s.end();
    },
    close(s: Socket<Peer>, err?: Error) {
      s.data.closed = true;
      s.data.closeError = err;
    },
    error(s: Socket<Peer>, err: Error) {
      s.data.closeError = err;
    },
  };
}

/** A backend whose connections are Peers made by `make`. */
function backend(make: () => Peer, extra: Parameters<typeof peerHandlers>[0] = {}, hostname = "127.0.0.1") {
  const peers: Peer[] = [];
  const h = peerHandlers(extra);
  const server: TCPSocketListener<Peer> = Bun.listen<Peer>({
    hostname,
    port: 0,
    allowHalfOpen: true,
    data: undefined as unknown as Peer,
    socket: {
      ...h,
      open(s) {
        s.data = make();
        peers.push(s.data);
        h.open(s);
      },
    },
  });
  cleanups.push(() => server.stop(true));
  return { port: server.port, peers };
}

function client(port: number, peer: Peer, extra: Parameters<typeof peerHandlers>[0] = {}, hostname = "127.0.0.1"): Peer {
  Bun.connect<Peer>({ hostname, port, allowHalfOpen: true, data: peer, socket: peerHandlers(extra) }).catch((err) => {
    peer.closed = true;
    peer.closeError = err;
  });
  cleanups.push(() => peer.socket?.terminate());
  return peer;
}

// ---------------------------------------------------------------------------
// The relay under test: listen() + connect() + Pipe, as a protocol would.

interface Relay {
  port: number;
  listener: Listener;
  pipes: Pipe[];
  closed: { pipe: Pipe; err?: Error }[];
  failures: [ConnectFailure, string][];
}

function relay(target: number, owner: Partial<PipeOwner> = {}, targetHost = "127.0.0.1", listenHost = "127.0.0.1"): Relay {
  const r: Relay = { port: 0, listener: undefined as unknown as Listener, pipes: [], closed: [], failures: [] };
  const pipeOwner: PipeOwner = {
    pipeClosed(pipe, err) {
      r.closed.push({ pipe, err });
      owner.pipeClosed?.(pipe, err);
    },
    resetBeforeData: owner.resetBeforeData,
  };
  r.listener = listen({ host: listenHost, port: 0, text: `${listenHost}:0` }, (clientSock) => {
    clientSock.pause(); // read nothing until the server is connected
    let pending: PendingConnect | undefined;
    const before: SocketEvents = {
      onData() {},
      onDrain() {},
      onEnd() {},
      onClose() {
        pending?.cancel();
      },
    };
    pending = connect(targetHost, target, 2000, {
      connected(serverSock) {
        r.pipes.push(new Pipe(clientSock, serverSock, pipeOwner));
        clientSock.resume();
      },
      failed(reason, detail) {
        r.failures.push([reason, detail]);
        clientSock.end();
      },
    });
    return before;
  });
  r.port = r.listener.port;
  cleanups.push(() => {
    r.listener.stop();
    for (const p of r.pipes) p.abort();
  });
  return r;
}

/** Bytes 0..250 repeating from `offset` (a prime period catches shifted, lost or doubled chunks). */
function pattern(length: number, offset = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (offset + i) % 251;
  return out;
}

// ---------------------------------------------------------------------------
// Pipe

test("a few MB go through byte for byte in both directions at once, then both sides close", async () => {
  const up = randomBytes(5 << 20);
  const down = randomBytes(3 << 20);
  const be = backend(() => new Peer(down));
  const r = relay(be.port);
  const c = client(r.port, new Peer(up));
  await until(() => c.closed && be.peers[0]?.closed, 20_000, "both closed");
  const s = be.peers[0];
  expect(s.received).toBe(up.length);
  expect(Buffer.compare(s.bytes(), up)).toBe(0);
  expect(c.received).toBe(down.length);
  expect(Buffer.compare(c.bytes(), down)).toBe(0);
  // (a side that already sent its FIN gets Bun's close without an end event)
  expect(c.closed && s.closed).toBe(true);
  expect(c.closeError).toBeUndefined();
  expect(s.closeError).toBeUndefined();
  await until(() => r.closed.length > 0);
  await Bun.sleep(20);
  expect(r.closed.length).toBe(1);
  const p = r.pipes[0];
  expect(r.closed[0].pipe).toBe(p);
  expect(r.closed[0].err).toBeUndefined();
  expect(p.a.bytesIn).toBe(up.length);
  expect(p.b.bytesIn).toBe(down.length);
  expect(p.a.closed && p.b.closed).toBe(true);
  expect(p.a.queue.length + p.b.queue.length).toBe(0);
});

test("the client's FIN reaches the server, which can still reply; the reply arrives, then both close once", async () => {
  const order: string[] = [];
  const be = backend(() => new Peer(new Uint8Array(0), false), {
    end(s) {
      order.push(`server end after ${JSON.stringify(s.data.text())}`);
      s.write(`reply to ${s.data.text()}`);
      s.end();
    },
  });
  const r = relay(be.port);
  const c = client(r.port, new Peer(Buffer.from("hello")), {
    data(s, buf) {
      order.push(`client data ${Buffer.from(buf!).toString()}`);
    },
  });
  await until(() => c.closed && be.peers[0]?.closed && r.closed.length > 0, 5000, "closed");
  await Bun.sleep(30);
  expect(order).toEqual(['server end after "hello"', "client data reply to hello"]);
  expect(c.text()).toBe("reply to hello");
  expect(c.closeError).toBeUndefined();
  expect(be.peers[0].closeError).toBeUndefined();
  expect(r.closed.length).toBe(1);
  expect(r.pipes[0].a.closed && r.pipes[0].b.closed).toBe(true);
});

test("the server's FIN reaches the client, which can still send; the server gets it", async () => {
  const be = backend(() => new Peer(Buffer.from("banner\n")), {
    end(s) {
      s.end();
    },
  });
  const r = relay(be.port);
  const c = client(r.port, new Peer(new Uint8Array(0), false), {
    end(s) {
      // half-closed by the server: answer, then close our side
      s.write("late words");
      s.end();
    },
  });
  await until(() => c.closed && be.peers[0]?.closed && r.closed.length > 0, 5000, "closed");
  await Bun.sleep(30);
  expect(c.text()).toBe("banner\n");
  expect(be.peers[0].text()).toBe("late words");
  expect(c.ended).toBe(true);
  expect(c.closeError).toBeUndefined();
  expect(be.peers[0].closeError).toBeUndefined();
  expect(r.closed.length).toBe(1);
});

test("a client that does not read holds the server back: the pipe queues at most ~1 MB, and all 64 MB arrive later", async () => {
  const TOTAL = 64 << 20;
  const payload = pattern(TOTAL);
  const be = backend(() => new Peer(payload, false, false), {
    end(s) {
      s.end();
    },
  });
  const r = relay(be.port);
  let verifyOffset = 0;
  let mismatch = -1;
  const c = client(r.port, new Peer(new Uint8Array(0), false, false), {
    open(s) {
      (s as unknown as Sock).pause();
    },
    data(_s, buf) {
      const b = buf!;
      for (let i = 0; i < b.length; i++) {
        if (b[i] !== (verifyOffset + i) % 251 && mismatch < 0) mismatch = verifyOffset + i;
      }
      verifyOffset += b.length;
    },
  });
  await until(() => r.pipes.length === 1, 5000, "pipe");
  const p = r.pipes[0];
  let maxQueued = 0;
  const queued = () => {
    let n = 0;
    for (const q of [p.a.queue, p.b.queue]) for (const b of q) n += b.length;
    maxQueued = Math.max(maxQueued, n);
  };
  // sample after every chunk the relay reads, and on a timer
  for (const e of [p.a, p.b]) {
    const onData = e.onData.bind(e);
    e.onData = (buf: Uint8Array) => {
      onData(buf);
      queued();
    };
  }
  const sampler = setInterval(queued, 1);
  cleanups.push(() => clearInterval(sampler));

  await Bun.sleep(1000);
  const serverSentWhileStalled = be.peers[0].sent;
  expect(c.received).toBe(0);
  expect(maxQueued).toBeGreaterThan(0); // the relay did hit backpressure
  expect(maxQueued).toBeLessThanOrEqual(1 << 20);
  // the server was held back: only socket buffers and one chunk are in flight
  expect(serverSentWhileStalled).toBeLessThan(TOTAL / 2);

  // finish the server's stream with a FIN once all is written
  be.peers[0].finAfter = true;
  pump(be.peers[0].socket!);
  (c.socket as unknown as Sock).resume();
  await until(() => c.closed, 30_000, "client closed");
  clearInterval(sampler);
  expect(c.received).toBe(TOTAL);
  expect(mismatch).toBe(-1);
  expect(c.ended).toBe(true);
  expect(maxQueued).toBeLessThanOrEqual(1 << 20);
  await until(() => r.closed.length > 0);
  await Bun.sleep(20);
  expect(r.closed.length).toBe(1);
});

test("a server reset closes the client side and the pipe once", async () => {
  const be = backend(() => new Peer(new Uint8Array(0), false), {
    data(s) {
      s.write("pong");
      setTimeout(() => s.terminate(), 20);
    },
  });
  const r = relay(be.port);
  const c = client(r.port, new Peer(Buffer.from("ping"), false));
  await until(() => c.closed, 5000, "client closed");
  expect(c.text()).toBe("pong");
  await until(() => r.closed.length > 0);
  await Bun.sleep(30);
  expect(r.closed.length).toBe(1);
  expect((r.closed[0].err as { code?: string } | undefined)?.code).toBe("ECONNRESET");
  expect(r.pipes[0].a.closed && r.pipes[0].b.closed).toBe(true);
});

test("a client reset closes the server side and the pipe once", async () => {
  const be = backend(() => new Peer(new Uint8Array(0), false), {
    data(s) {
      s.write("pong");
    },
  });
  const r = relay(be.port);
  const c = client(r.port, new Peer(Buffer.from("ping"), false), {
    data(s) {
      setTimeout(() => s.terminate(), 20);
    },
  });
  await until(() => be.peers[0]?.closed, 5000, "server closed");
  expect(c.text()).toBe("pong");
  expect(be.peers[0].text()).toBe("ping");
  await until(() => r.closed.length > 0);
  await Bun.sleep(30);
  expect(r.closed.length).toBe(1);
  expect(r.pipes[0].a.closed && r.pipes[0].b.closed).toBe(true);
});

test("a server reset before any byte is offered to the owner, which may keep the client", async () => {
  const resets: string[] = [];
  const be = backend(() => new Peer(new Uint8Array(0), false), {
    open(s) {
      s.terminate();
    },
  });
  let kept: Sock | undefined;
  const r = relay(be.port, {
    resetBeforeData(pipe, err) {
      resets.push((err as { code?: string }).code ?? err.message);
      kept = pipe.a.socket;
      return true;
    },
  });
  const c = client(r.port, new Peer(new Uint8Array(0), false));
  await until(() => resets.length > 0, 5000, "reset seen");
  await Bun.sleep(100);
  expect(resets).toEqual(["ECONNRESET"]);
  expect(r.closed.length).toBe(0);
  expect(c.closed).toBe(false); // the owner took the client over
  expect(c.ended).toBe(false);
  kept!.data = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
  kept!.write("served elsewhere");
  kept!.end();
  await until(() => c.closed, 5000, "client closed");
  expect(c.text()).toBe("served elsewhere");
});

test("a server reset after data is not offered to the owner", async () => {
  let offered = 0;
  const be = backend(() => new Peer(Buffer.from("hi"), false), {
    open(s) {
      s.write("hi");
      setTimeout(() => s.terminate(), 30);
    },
  });
  const r = relay(be.port, {
    resetBeforeData() {
      offered++;
      return true;
    },
  });
  const c = client(r.port, new Peer(new Uint8Array(0), false));
  await until(() => c.closed && r.closed.length > 0, 5000, "closed");
  expect(c.text()).toBe("hi");
  expect(offered).toBe(0);
  expect(r.closed.length).toBe(1);
});

test("abort() closes both sides at once", async () => {
  const be = backend(() => new Peer(new Uint8Array(0), false));
  const r = relay(be.port);
  const c = client(r.port, new Peer(Buffer.from("x"), false));
  await until(() => be.peers[0]?.received === 1, 5000, "data through");
  r.pipes[0].abort();
  await until(() => c.closed && be.peers[0].closed, 5000, "both closed");
  expect(r.closed.length).toBe(1);
});

test("the endpoints' activity time follows the coarse clock and bytesIn counts bytes read", async () => {
  const be = backend(() => new Peer(Buffer.from("12345"), false));
  const r = relay(be.port);
  const c = client(r.port, new Peer(Buffer.from("abc"), false));
  await until(() => c.received === 5 && be.peers[0]?.received === 3, 5000, "data through");
  const p = r.pipes[0];
  expect(p.a.bytesIn).toBe(3);
  expect(p.b.bytesIn).toBe(5);
  expect(p.a.last).toBeGreaterThan(0);
  expect(p.b.last).toBeGreaterThan(0);
});

// ---------------------------------------------------------------------------
// listen()

test("listen on port 0 reports the bound port and accepted sockets are read at once, half-open", async () => {
  const got: string[] = [];
  let accepted: Sock | undefined;
  const l = listen({ host: "127.0.0.1", port: 0, text: "127.0.0.1:0" }, (s) => {
    accepted = s;
    return {
      onData(buf) {
        got.push(Buffer.from(buf).toString());
      },
      onDrain() {},
      onEnd() {
        got.push("<end>");
      },
      onClose() {},
    };
  });
  cleanups.push(() => l.stop());
  expect(l.port).toBeGreaterThan(0);
  expect(l.address.text).toBe("127.0.0.1:0");
  const c = client(l.port, new Peer(Buffer.from("early bytes"), true));
  await until(() => got.includes("<end>"), 5000, "data and end");
  expect(got.join("")).toBe("early bytes<end>");
  // half-open: the accepted socket can still write after the client's FIN
  accepted!.write("still here");
  accepted!.end();
  await until(() => c.closed, 5000, "client closed");
  expect(c.text()).toBe("still here");
});

test("listen on an address in use throws a LISTEN_FAILED PlbError naming the address", () => {
  const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  cleanups.push(() => taken.stop(true));
  let err: unknown;
  try {
    const l = listen({ host: "127.0.0.1", port: taken.port, text: `127.0.0.1:${taken.port}` }, () => ({
      onData() {},
      onDrain() {},
      onEnd() {},
      onClose() {},
    }));
    cleanups.push(() => l.stop());
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PlbError);
  expect((err as PlbError).code).toBe("LISTEN_FAILED");
  expect((err as PlbError).message).toBe(`cannot listen on 127.0.0.1:${taken.port}: address already in use`);
});

test("stop() refuses new connections and leaves open ones alone; calling it twice is harmless", async () => {
  const be = backend(() => new Peer(new Uint8Array(0), false), {
    data(s, buf) {
      s.write(buf!);
    },
  });
  const r = relay(be.port);
  const c = client(r.port, new Peer(Buffer.from("one"), false));
  await until(() => c.text() === "one", 5000, "echo");
  r.listener.stop();
  r.listener.stop();
  const failed = await new Promise<string>((resolve) => {
    connect("127.0.0.1", r.port, 1000, {
      connected(s) {
        s.terminate();
        resolve("connected");
      },
      failed(reason) {
        resolve(reason);
      },
    });
  });
  expect(failed).toBe("refused");
  c.socket!.write("two");
  await until(() => c.text() === "onetwo", 5000, "echo after stop");
});

test('listening on "::" accepts IPv4 and IPv6 clients (dual-stack)', async () => {
  const be = backend(() => new Peer(Buffer.from("hi"), true));
  const r = relay(be.port, {}, "127.0.0.1", "::");
  const v4 = client(r.port, new Peer(new Uint8Array(0), true), {}, "127.0.0.1");
  const v6 = client(r.port, new Peer(new Uint8Array(0), true), {}, "::1");
  await until(() => v4.closed && v6.closed, 5000, "both served");
  expect([v4.text(), v6.text()]).toEqual(["hi", "hi"]);
});

// ---------------------------------------------------------------------------
// connect()

function attempt(host: string, port: number, timeoutMs: number) {
  const events: { what: string; at: number; reason?: ConnectFailure; detail?: string }[] = [];
  const t0 = performance.now();
  let sock: Sock | undefined;
  const pending = connect(host, port, timeoutMs, {
    connected(s) {
      sock = s;
      s.data = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
      events.push({ what: "connected", at: performance.now() - t0 });
    },
    failed(reason, detail) {
      events.push({ what: "failed", at: performance.now() - t0, reason, detail });
    },
  });
  cleanups.push(() => sock?.terminate());
  return { events, cancel: () => pending.cancel(), socket: () => sock };
}

test("connect to a live server calls connected once and never failed, even after the timeout", async () => {
  const be = backend(() => new Peer(new Uint8Array(0), false));
  const a = attempt("127.0.0.1", be.port, 100);
  await until(() => a.events.length > 0);
  await Bun.sleep(200);
  expect(a.events.map((e) => e.what)).toEqual(["connected"]);
  a.socket()!.write("x");
  await until(() => be.peers[0]?.received === 1, 5000, "byte through");
});

test("connect to a closed port fails as refused with 'connection refused' (IPv4 and IPv6)", async () => {
  const port4 = await freePort("127.0.0.1");
  const port6 = await freePort("::1");
  const a4 = attempt("127.0.0.1", port4, 2000);
  const a6 = attempt("::1", port6, 2000);
  await until(() => a4.events.length > 0 && a6.events.length > 0);
  await Bun.sleep(20);
  for (const a of [a4, a6]) {
    expect(a.events.length).toBe(1);
    expect(a.events[0]).toMatchObject({ what: "failed", reason: "refused", detail: "connection refused" });
    expect(a.events[0].at).toBeLessThan(1000);
  }
});

test("a connect that never completes fails as timeout after timeoutMs, once", async () => {
  const hole = await blackhole();
  cleanups.push(() => hole.close());
  const a = attempt("127.0.0.1", hole.port, 300);
  await until(() => a.events.length > 0, 3000, "a callback");
  expect(a.events[0]).toMatchObject({ what: "failed", reason: "timeout", detail: "connect timeout after 300ms" });
  expect(a.events[0].at).toBeGreaterThanOrEqual(290);
  expect(a.events[0].at).toBeLessThan(800);
  await Bun.sleep(200);
  expect(a.events.length).toBe(1);
});

test("cancel() of a pending connect suppresses every callback", async () => {
  const hole = await blackhole();
  cleanups.push(() => hole.close());
  const a = attempt("127.0.0.1", hole.port, 150);
  await Bun.sleep(20);
  a.cancel();
  await Bun.sleep(300);
  expect(a.events).toEqual([]);
});

test("cancel() before a refusal arrives suppresses failed", async () => {
  const port = await freePort();
  const a = attempt("127.0.0.1", port, 1000);
  a.cancel();
  await Bun.sleep(100);
  expect(a.events).toEqual([]);
});

// Regression: the late socket is terminated while its data is still the
// Attempt, and Bun fires `close` synchronously into it.
test("cancel() before the socket opens: connected is not called and the late socket is closed quietly", async () => {
  const be = backend(() => new Peer(new Uint8Array(0), false));
  const a = attempt("127.0.0.1", be.port, 1000);
  a.cancel();
  await until(() => be.peers[0]?.closed === true, 5000, "server side closed");
  await Bun.sleep(50);
  expect(a.events).toEqual([]);
  expect(be.peers.length).toBe(1);
});

test("cancel() after the outcome is harmless", async () => {
  const port = await freePort();
  const a = attempt("127.0.0.1", port, 1000);
  await until(() => a.events.length > 0);
  a.cancel();
  a.cancel();
  await Bun.sleep(20);
  expect(a.events.length).toBe(1);
});

test("classifyConnectError maps errno codes to server_retry outcomes", () => {
  const e = (code?: string) => Object.assign(new Error(code ?? "x"), code ? { code } : {});
  expect(classifyConnectError(e("ECONNREFUSED"))).toBe("refused");
  expect(classifyConnectError(e("ENETUNREACH"))).toBe("unreachable");
  expect(classifyConnectError(e("EHOSTUNREACH"))).toBe("unreachable");
  expect(classifyConnectError(e("EADDRNOTAVAIL"))).toBe("unreachable");
  expect(classifyConnectError(e("ENOENT"))).toBe("unreachable");
  expect(classifyConnectError(e("ETIMEDOUT"))).toBe("timeout");
  expect(classifyConnectError(e("ECONNRESET"))).toBe("reset");
  expect(classifyConnectError(e("EPIPE"))).toBe("reset");
  expect(classifyConnectError(e())).toBe("refused");
  expect(classifyConnectError(undefined)).toBe("refused");
});

test("describeConnectError gives a short cause, the code, or the message", () => {
  const e = (code: string | undefined, message = "m") => Object.assign(new Error(message), code ? { code } : {});
  expect(describeConnectError(e("ECONNREFUSED"))).toBe("connection refused");
  expect(describeConnectError(e("ENETUNREACH"))).toBe("network unreachable");
  expect(describeConnectError(e("EHOSTUNREACH"))).toBe("host unreachable");
  expect(describeConnectError(e("EADDRNOTAVAIL"))).toBe("address not available");
  expect(describeConnectError(e("ETIMEDOUT"))).toBe("connect timed out");
  expect(describeConnectError(e("ECONNRESET"))).toBe("connection reset");
  expect(describeConnectError(e("EPROTO"))).toBe("connect failed (EPROTO)");
  expect(describeConnectError(e(undefined, "weird"))).toBe("weird");
  expect(describeConnectError(undefined)).toBe("connect failed");
});

test("formatMs writes whole seconds as s, sub-second as ms, else tenths of s", () => {
  expect(formatMs(300)).toBe("300ms");
  expect(formatMs(2000)).toBe("2s");
  expect(formatMs(1000)).toBe("1s");
  expect(formatMs(1500)).toBe("1.5s");
  expect(formatMs(999)).toBe("999ms");
  expect(formatMs(60_000)).toBe("60s");
});
