/**
 * HTTP/2 connections to the servers of one backend (server_protocol = "h2"):
 * per server, streams are put on the least busy connection under the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS; another connection is opened
 * (through net/connect.ts, the one connect path; with server_tls offering
 * only h2 by ALPN) only when every open one is full, up to
 * h2_max_connections; then streams wait for a place, at most the connect
 * timeout. A failed or closed connection is dropped and replaced on
 * demand. After a server's GOAWAY its connection takes no new stream and
 * closes once its last one ends; streams above the GOAWAY's last id are
 * put on another connection when they are retryable (upstream-stream.ts).
 *
 * For the exchange, "connecting" to a server of an h2 backend is `open`:
 * the ConnectCallbacks get a stream as the socket, or the failure of the
 * connection it waited for (reported to servers/state by the caller, like
 * any connect failure).
 */
import { type ConnectCallbacks, connect, type PendingConnect } from "../../net/connect.ts";
import type { ConnectFailure } from "../../net/types.ts";
import type { Server } from "../../servers/server.ts";
import type { ServerTls } from "../../tls/client.ts";
import { type ConnectionOwner, H2ServerConnection } from "./server-connection.ts";
import { H2UpstreamStream } from "./upstream-stream.ts";

/** Someone waiting for a place on a connection to a server: a new exchange, or a refused stream to retry. */
interface Waiter extends PendingConnect {
  done: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** A place was reserved for it on `c`. */
  take(c: H2ServerConnection): void;
  fail(reason: ConnectFailure, detail: string): void;
}

interface PerServer {
  readonly conns: H2ServerConnection[];
  /** Waiting for a place (every connection full, none more allowed). */
  readonly waiting: Waiter[];
  /** Waiting for a connection being made, by connection. */
  readonly onConnect: Map<H2ServerConnection, Waiter[]>;
}

export class H2ServerPool implements ConnectionOwner {
  private readonly servers = new Map<Server, PerServer>();
  private retired = false;
  /** The connect settings of the last `open` (the backend's in force). */
  private settings: { timeoutMs: number; tls: ServerTls | undefined } = { timeoutMs: 2000, tls: undefined };

  constructor(
    private maxConnections: number,
    /** How long a connection without streams is kept. */
    private idleMs: number,
  ) {}

  /** A reload kept the pool: new limits. */
  configure(maxConnections: number, idleMs: number): void {
    this.maxConnections = maxConnections;
    this.idleMs = idleMs;
  }

  /**
   * A stream to `server` for one exchange: `cb.connected(stream socket)` or
   * `cb.failed`, never before this returns. `timeoutMs` (timeout_connect)
   * and `tls` (server_tls) are the backend's in force: for a new
   * connection, and the longest wait for a place.
   */
  open(server: Server, cb: ConnectCallbacks, timeoutMs: number, tls: ServerTls | undefined): PendingConnect {
    this.settings = { timeoutMs, tls };
    const scheme = tls === undefined ? "http" : "https";
    const w: Waiter = {
      done: false,
      timer: undefined,
      cancel() {
        if (w.done) return;
        w.done = true;
        clearTimeout(w.timer);
      },
      take: (c) => {
        const s = new H2UpstreamStream(c, scheme);
        cb.connected(s.sock);
      },
      fail: (reason, detail) => cb.failed(reason, detail),
    };
    this.place(server, w, true);
    return w;
  }

  /** Put a refused retryable stream on another connection to its server (false: none can be had). */
  retry(stream: H2UpstreamStream, to: Server): boolean {
    if (this.retired) return false;
    const w: Waiter = {
      done: false,
      timer: undefined,
      cancel() {
        w.done = true;
      },
      take: (c) => stream.rebind(c),
      fail: (_reason, detail) => stream.retryFailed(`retry after the server refused the stream: ${detail}`),
    };
    this.place(to, w, true);
    return true;
  }

  /** No new streams; connections close as their streams end (a reload that changed the backend's TLS or protocol). */
  retire(): void {
    this.retired = true;
    for (const p of this.servers.values()) {
      for (const w of p.waiting.splice(0)) this.failWaiter(w, "refused", "the backend was reconfigured");
      for (const c of [...p.conns]) {
        c.retiring = true;
        if (c.load === 0) c.close();
      }
    }
  }

  // ---------------------------------------------------------------- placing streams

  private per(server: Server): PerServer {
    let p = this.servers.get(server);
    if (p === undefined) this.servers.set(server, (p = { conns: [], waiting: [], onConnect: new Map() }));
    return p;
  }

  /** The least busy connection with room, a connection being made that will have room, a new one, or the queue. */
  private place(server: Server, w: Waiter, later: boolean): void {
    const p = this.per(server);
    let best: H2ServerConnection | undefined;
    for (const c of p.conns) if (c.hasRoom && (best === undefined || c.load < best.load)) best = c;
    if (best !== undefined) {
      best.reserved++;
      const c = best;
      if (later) queueMicrotask(() => this.hand(w, c));
      else this.hand(w, c);
      return;
    }
    for (const [c, ws] of p.onConnect) {
      if (!c.closed && ws.length < c.session.maxStreams) {
        ws.push(w);
        return;
      }
    }
    if (p.conns.length < this.maxConnections && !this.retired) {
      const c = new H2ServerConnection(server, this, this.idleMs, this.settings.timeoutMs);
      p.conns.push(c);
      p.onConnect.set(c, [w]);
      const { timeoutMs, tls } = this.settings;
      c.pending = connect(server.address!, server.port, timeoutMs, c, tls, server.tlsName, tls !== undefined);
      return;
    }
    if (this.retired) {
      queueMicrotask(() => this.failWaiter(w, "refused", "the backend was reconfigured"));
      return;
    }
    p.waiting.push(w);
    w.timer = setTimeout(() => {
      const i = p.waiting.indexOf(w);
      if (i >= 0) p.waiting.splice(i, 1);
      this.failWaiter(w, "timeout", `no HTTP/2 stream free within ${this.settings.timeoutMs} ms (${this.maxConnections} connections, each at the server's stream limit)`);
    }, this.settings.timeoutMs);
  }

  /** Give `w` its reserved place on `c` (or free the place when it went away meanwhile). */
  private hand(w: Waiter, c: H2ServerConnection): void {
    if (w.done || c.closed) {
      if (c.reserved > 0) c.reserved--;
      if (!w.done) {
        // The connection died between the reservation and now: place again.
        this.place(c.server, w, false);
      }
      return;
    }
    w.done = true;
    clearTimeout(w.timer);
    w.take(c);
  }

  private failWaiter(w: Waiter, reason: ConnectFailure, detail: string): void {
    if (w.done) return;
    w.done = true;
    clearTimeout(w.timer);
    w.fail(reason, detail);
  }

  // ---------------------------------------------------------------- connections (ConnectionOwner)

  ready(c: H2ServerConnection): void {
    const p = this.per(c.server);
    const ws = p.onConnect.get(c) ?? [];
    p.onConnect.delete(c);
    for (const w of ws) {
      if (w.done) continue;
      if (c.hasRoom) {
        c.reserved++;
        this.hand(w, c);
      } else this.place(c.server, w, false);
    }
  }

  connectFailed(c: H2ServerConnection, reason: ConnectFailure, detail: string): void {
    const p = this.per(c.server);
    this.drop(p, c);
    const ws = p.onConnect.get(c) ?? [];
    p.onConnect.delete(c);
    for (const w of ws) this.failWaiter(w, reason, detail);
  }

  freed(c: H2ServerConnection): void {
    const p = this.servers.get(c.server);
    if (p === undefined) return;
    while (p.waiting.length > 0) {
      let best: H2ServerConnection | undefined;
      for (const x of p.conns) if (x.hasRoom && (best === undefined || x.load < best.load)) best = x;
      if (best === undefined) {
        // A closed or GOAWAY'd connection leaves room for a new one.
        if (p.conns.length < this.maxConnections && !this.retired) this.place(c.server, p.waiting.shift()!, false);
        return;
      }
      const w = p.waiting.shift()!;
      clearTimeout(w.timer);
      best.reserved++;
      this.hand(w, best);
    }
  }

  closed(c: H2ServerConnection): void {
    const p = this.servers.get(c.server);
    if (p === undefined) return;
    this.drop(p, c);
    const ws = p.onConnect.get(c);
    if (ws !== undefined) {
      p.onConnect.delete(c);
      for (const w of ws) if (!w.done) this.place(c.server, w, false);
    }
    this.freed(c);
  }

  private drop(p: PerServer, c: H2ServerConnection): void {
    const i = p.conns.indexOf(c);
    if (i >= 0) p.conns.splice(i, 1);
  }
}
