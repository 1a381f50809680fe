/**
 * One HTTP/2 connection from plb to a server (I/O around the pure
 * client-session.ts): the socket with its write queue, the streams it
 * carries (upstream-stream.ts, one per exchange), and what it tells its
 * pool (server-pool.ts): ready, failed to connect, a place freed, closed.
 */
import { now } from "../../net/clock.ts";
import type { ConnectCallbacks, PendingConnect } from "../../net/connect.ts";
import { handOver } from "../../net/handlers.ts";
import { flush, LOST, NO_QUEUE, type QueuedWriter, send } from "../../net/outbox.ts";
import type { ConnectFailure, Sock, SocketEvents } from "../../net/types.ts";
import type { Server } from "../../servers/server.ts";
import { logEnabled, logger } from "../../log.ts";
import { type H2ClientHandler, H2ClientSession } from "./client-session.ts";
import { createDecoder, createEncoder } from "./hpack/index.ts";
import type { H2Error, HeaderList } from "./types.ts";
import { errorName, type H2UpstreamStream, type StreamHost } from "./upstream-stream.ts";

const log = logger("http");

/** What a connection tells its pool. */
export interface ConnectionOwner {
  ready(c: H2ServerConnection): void;
  connectFailed(c: H2ServerConnection, reason: ConnectFailure, detail: string): void;
  /** A place freed up, or the server's limit changed: waiting streams may go. */
  freed(c: H2ServerConnection): void;
  closed(c: H2ServerConnection): void;
  /** A retryable stream refused here: put it on another connection. */
  retry(stream: H2UpstreamStream, server: Server): boolean;
}

export class H2ServerConnection implements SocketEvents, ConnectCallbacks, QueuedWriter, H2ClientHandler, StreamHost {
  socket!: Sock;
  queue: Uint8Array[] = NO_QUEUE;
  last = now();
  readonly session: H2ClientSession;
  readonly streams = new Map<number, H2UpstreamStream>();
  /** Streams handed out that have not opened on the wire yet. */
  reserved = 0;
  isReady = false;
  closed = false;
  pending: PendingConnect | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** No new streams (a reload changed the backend): close once the last one ends. */
  retiring = false;

  constructor(
    readonly server: Server,
    private readonly owner: ConnectionOwner,
    private readonly idleMs: number,
    /** How long the server's first SETTINGS may take after the connect (timeout_connect). */
    private readonly settingsMs: number,
  ) {
    this.session = new H2ClientSession(this, createDecoder(), createEncoder());
  }

  /** Streams carried or promised. */
  get load(): number {
    return this.streams.size + this.reserved;
  }

  /** Can take one more stream now. */
  get hasRoom(): boolean {
    return this.isReady && !this.closed && !this.retiring && this.session.canOpen && this.load < this.session.maxStreams;
  }

  // ---------------------------------------------------------------- connect (ConnectCallbacks)

  /**
   * Connected (and TLS with h2 chosen): the preface goes out, and the
   * connection is ready at the server's first SETTINGS (its stream limit is
   * known then, and a server that does not speak h2 fails the connect
   * instead of a request), within `settingsMs`.
   */
  connected(sock: Sock): void {
    this.pending = undefined;
    this.socket = sock;
    handOver(sock, this);
    this.session.start();
    this.idleTimer = setTimeout(() => this.notH2("timeout", `no HTTP/2 SETTINGS from the server within ${this.settingsMs} ms of connecting`), this.settingsMs);
  }

  /** The connect failed after all: the server does not speak h2 (or not in time). */
  private notH2(reason: ConnectFailure, detail: string): void {
    if (this.isReady || this.closed) return;
    clearTimeout(this.idleTimer);
    this.closed = true;
    this.queue = NO_QUEUE;
    this.socket.terminate();
    this.owner.connectFailed(this, reason, detail);
  }

  failed(reason: ConnectFailure, detail: string): void {
    this.pending = undefined;
    this.closed = true;
    this.owner.connectFailed(this, reason, detail);
  }

  // ---------------------------------------------------------------- socket events

  onData(buf: Uint8Array): void {
    const t = now();
    this.last = t;
    this.session.feed(buf, t);
  }

  onDrain(): void {
    if (flush(this) === LOST) this.onClose();
  }

  onEnd(): void {
    this.onClose();
  }

  onClose(err?: Error): void {
    if (!this.isReady) return this.notH2("reset", `the server closed the connection before its HTTP/2 SETTINGS${this.socket === undefined ? "" : " (does it speak HTTP/2 on this port?)"}`);
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.queue = NO_QUEUE;
    this.socket?.end();
    const why = err ? `the server's connection was reset (${err.message})` : "the server closed the connection";
    const lost = [...this.streams.values()];
    this.streams.clear();
    for (const s of lost) s.onConnectionLost(why);
    this.owner.closed(this);
  }

  /** Close now (idle, retired, shutdown). */
  close(): void {
    if (this.closed) return;
    if (this.pending !== undefined) {
      this.pending.cancel();
      this.pending = undefined;
      this.closed = true;
      this.owner.closed(this);
      return;
    }
    this.session.goaway();
    this.onClose();
  }

  // ---------------------------------------------------------------- the session's output and events (H2ClientHandler)

  write(bytes: Uint8Array): void {
    if (this.closed) return;
    if (send(this, bytes) === LOST) queueMicrotask(() => this.onClose());
  }

  onHeaders(id: number, fields: HeaderList, endStream: boolean): void {
    this.streams.get(id)?.onHeaders(fields, endStream);
  }

  onStreamData(id: number, data: Uint8Array, endStream: boolean): void {
    const s = this.streams.get(id);
    if (s === undefined) this.session.consumed(id, data.length);
    else s.onData(data, endStream);
  }

  onStreamReset(id: number, code: H2Error): void {
    const s = this.streams.get(id);
    if (s === undefined) return;
    this.streams.delete(id);
    s.onReset(code);
    this.afterStreamEnd();
  }

  onRefused(id: number): void {
    const s = this.streams.get(id);
    if (s === undefined) return;
    this.streams.delete(id);
    s.onRefused();
  }

  onWindow(id: number): void {
    if (id !== 0) return this.streams.get(id)?.onWindow();
    for (const s of [...this.streams.values()]) s.onWindow();
  }

  onSettings(): void {
    if (!this.isReady && !this.closed) {
      clearTimeout(this.idleTimer);
      this.isReady = true;
      return this.owner.ready(this);
    }
    this.owner.freed(this);
  }

  onGoaway(lastStreamId: number, code: H2Error, debug: string): void {
    if (logEnabled("info")) log.info(`${this.server}: GOAWAY ${errorName(code)} (last stream ${lastStreamId})${debug ? `: ${debug}` : ""}; new streams go to another connection`);
    this.afterStreamEnd();
    this.owner.freed(this);
  }

  onConnectionError(code: H2Error, reason: string): void {
    if (!this.isReady) return this.notH2("reset", `not an HTTP/2 server: ${reason}`);
    if (logEnabled("info")) log.info(`${this.server}: HTTP/2 connection error ${errorName(code)}: ${reason}`);
    // Our GOAWAY is queued: it goes when it can; the connection ends now.
    this.onClose(new Error(`${errorName(code)}: ${reason}`));
  }

  // ---------------------------------------------------------------- what its streams ask (StreamHost)

  open(stream: H2UpstreamStream, fields: HeaderList, endStream: boolean): number {
    if (this.reserved > 0) this.reserved--;
    if (this.closed) return 0;
    const id = this.session.request(fields, endStream);
    if (id !== 0) this.streams.set(id, stream);
    return id;
  }

  sendData(id: number, data: Uint8Array, endStream: boolean): number {
    return this.session.sendData(id, data, endStream);
  }

  sendTrailers(id: number, fields: HeaderList): void {
    this.session.sendTrailers(id, fields);
  }

  consumed(id: number, n: number): void {
    this.session.consumed(id, n);
  }

  reset(id: number, code: H2Error): void {
    this.session.reset(id, code);
  }

  release(stream: H2UpstreamStream): void {
    if (!stream.opened) {
      if (this.reserved > 0) this.reserved--;
    } else if (stream.id !== 0 && this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    this.afterStreamEnd();
    this.owner.freed(this);
  }

  retry(stream: H2UpstreamStream): boolean {
    return this.owner.retry(stream, this.server);
  }

  /** Idle (no stream): closed after idleMs, or at once when the server said GOAWAY or the pool retires it. */
  private afterStreamEnd(): void {
    if (this.closed || this.load > 0) return;
    if (this.session.goawayReceived || this.retiring) return this.close();
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.load === 0) this.close();
    }, this.idleMs);
    this.idleTimer.unref?.();
  }
}
