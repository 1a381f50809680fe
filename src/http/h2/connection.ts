/**
 * One HTTP/2 client connection (TLS with ALPN h2, or prior-knowledge h2c):
 * the socket, its write queue and timeouts around a pure `H2Session`
 * (session.ts: frames, HPACK, stream states, flow control, limits, flood
 * defenses), and a `H2Stream` per request stream, each one exchange through
 * the service's routes and backends (stream.ts).
 *
 * Backpressure: the session writes its frames through `write`; while the
 * socket's queue is not empty, streams hold their response DATA and pause
 * their servers, and are told when it drains. A client that reads nothing
 * stops plb reading it once the queue passes QUEUE_LIMIT (so acknowledgements
 * of a PING or SETTINGS flood cannot grow it without bound).
 */
import { clientIp, clientPort } from "../../net/client-address.ts";
import { now } from "../../net/clock.ts";
import { concatBytes } from "../../net/bytes.ts";
import { flush, LOST, NO_QUEUE, type QueuedWriter, QUEUED, send, SENT } from "../../net/outbox.ts";
import type { Sweepable } from "../../net/sweep.ts";
import type { Sock, SocketEvents } from "../../net/types.ts";
import type { ServiceConfig } from "../../config/types.ts";
import type { ServiceHandle } from "../../protocol.ts";
import { logEnabled, logger } from "../../log.ts";
import { events } from "../../events.ts";
import { HttpTrace } from "../trace.ts";
import { createDecoder, createEncoder } from "./hpack/index.ts";
import { H2Session } from "./session.ts";
import { H2Stream, type StreamHost } from "./stream.ts";
import { H2Error, type H2Handler, type H2Limits, type HeaderList } from "./types.ts";

const log = logger("h2");

/** Queued bytes for the client past which plb stops reading it until it reads. */
const QUEUE_LIMIT = 256 * 1024;
/** Time the client has to acknowledge plb's SETTINGS (RFC 9113 §6.5.3: SETTINGS_TIMEOUT). */
const SETTINGS_ACK_MS = 10_000;
/** Frames of one event up to this many bytes are joined into one write; larger output goes frame by frame. */
const JOIN_LIMIT = 64 * 1024;
/**
 * After the last frame (GOAWAY) is written: plb sends FIN and reads and
 * discards what the client still sends for this long before it closes. A
 * close with the client's bytes unread makes the kernel reset the
 * connection, and the reset throws away the GOAWAY not yet read.
 */
const LINGER_MS = 2000;

/** The limits of each configuration's connections: one object per configuration, not per connection. */
const limitsByConfig = new WeakMap<ServiceConfig, H2Limits>();

/** The limits of a service's h2 connections, from its settings (one place). */
export function h2LimitsFor(cfg: ServiceConfig): H2Limits {
  let l = limitsByConfig.get(cfg);
  if (l === undefined) limitsByConfig.set(cfg, (l = limitsOf(cfg)));
  return l;
}

function limitsOf(cfg: ServiceConfig): H2Limits {
  const h = cfg.http;
  return {
    maxConcurrentStreams: h.h2_max_concurrent_streams,
    // The §6.5.2 size of the largest head HTTP/1 would take: its bytes plus 32 per field.
    maxHeaderListSize: h.max_header_size + 32 * h.max_headers,
    maxFrameSize: h.h2_max_frame_size,
    initialWindowSize: h.h2_initial_window_size,
    connectionWindowSize: Math.max(4 * h.h2_initial_window_size, 1 << 20),
    headerTableSize: 4096,
  };
}

/** The frames of one turn go out after it (a function of the module, not a closure per connection). */
/** No frames waiting (shared, never pushed to: an idle connection holds no array of its own). */
const NO_FRAMES: Uint8Array[] = [];
const flushLater = (c: H2Connection): void => c.flushOut();

export class H2Connection implements SocketEvents, QueuedWriter, Sweepable, H2Handler, StreamHost {
  queue: Uint8Array[] = NO_QUEUE;
  last = now();
  sweepPrev: Sweepable | null = null;
  sweepNext: Sweepable | null = null;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** Bytes and end of the whole connection (each stream has its own trace). */
  readonly trace = new HttpTrace();
  /** Streams that completed (the exchange's reuse rule: a later request may take a pooled connection). */
  served = 0;
  readonly session: H2Session;
  private readonly streams = new Map<number, H2Stream>();
  /** Streams whose response waits for the socket's queue to drain (made when one first waits). */
  private waiting: Set<H2Stream> | undefined;
  private queued = 0;
  /** Frames made in the current event, written together after it (flushOut). */
  private out = NO_FRAMES;
  private outBytes = 0;
  private flushing = false;
  /**
   * When the client last took something from us (the socket drained, a window
   * opened, a new stream), or a wait for it began (our queue started): the
   * clock of timeout_client while responses wait for the client. Its input
   * does not reset it: a client that sends but never reads is idle.
   */
  private credit = now();
  private readPaused = false;
  private gone = false;
  /** GOAWAY sent (stop, reload, idle, or an error): close once the streams in flight are done. */
  private goingAway = false;
  /** When the FIN went out after the last frame (closing: input is discarded until the client closes or LINGER_MS pass). */
  private lingerSince: number | undefined;
  /** The configuration at the connection's start (each stream takes the service's current one). */
  private cfg: ServiceConfig;

  constructor(
    readonly socket: Sock,
    readonly service: ServiceHandle,
    /** h2c: bytes already read (the preface and maybe more); dropped once read. */
    private initial?: Uint8Array,
  ) {
    this.cfg = service.cfg;
    this.clientAddress = clientIp(socket);
    this.clientPort = events.sessionEnd.active || events.request.active ? clientPort(socket) : 0;
    this.session = new H2Session(this, h2LimitsFor(this.cfg), createDecoder(4096), createEncoder());
    service.track(this);
    // h2c: the HTTP/1 session that read the preface announced the connection.
    if (initial === undefined && events.sessionStart.active) events.sessionStart.publish({ service: service.name, protocol: "http", client: this.clientAddress });
  }

  onOpen(): void {
    this.session.start(now());
    const first = this.initial;
    if (first === undefined) return;
    this.initial = undefined; // the connection does not keep its first read (maybe a view of a large buffer) for its lifetime
    this.onData(first);
  }

  // ---------------------------------------------------------------- the socket

  onData(buf: Uint8Array): void {
    const t = (this.last = now());
    this.trace.bytesIn += buf.length;
    if (this.gone || this.lingerSince !== undefined) return;
    this.session.feed(buf, t);
    this.closeIfDone();
  }

  onDrain(): void {
    this.credit = now();
    const r = flush(this);
    if (r === LOST) return this.abortAll();
    if (this.queue.length > 0) return;
    this.queued = 0;
    this.session.flushed();
    if (this.readPaused && !this.gone) {
      this.readPaused = false;
      this.socket.resume();
    }
    this.wakeWaiting();
    this.closeIfDone();
  }

  onEnd(): void {
    if (this.lingerSince !== undefined) {
      // Our GOAWAY went out and the client has finished too.
      this.socket.end();
      return this.finish();
    }
    // An h2 client that half-closes sends nothing more: no stream can get its request through now.
    this.abortAll();
  }

  onClose(): void {
    if (this.gone) return;
    for (const s of this.streams.values()) s.abandon();
    this.streams.clear();
    this.finish();
  }

  /** H2Handler: the session's frames, in order. */
  write(bytes: Uint8Array): void {
    if (this.gone) return;
    this.trace.bytesOut += bytes.length;
    // Frames made in one turn of the event loop (every response that came in it) go out in one write (one TLS record, one syscall), after it.
    if (this.out === NO_FRAMES) this.out = [];
    this.out.push(bytes);
    this.outBytes += bytes.length;
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(flushLater, this);
    }
  }

  /** Write the frames made since the last flush: joined when small, else one by one. */
  flushOut(): void {
    this.flushing = false;
    const parts = this.out;
    if (parts.length === 0 || this.gone) return;
    const total = this.outBytes;
    this.out = NO_FRAMES;
    this.outBytes = 0;
    let r: number = SENT;
    if (parts.length === 1 || total > JOIN_LIMIT) {
      for (const p of parts) if ((r = send(this, p)) === LOST) break;
    } else r = send(this, concatBytes(parts));
    if (r === LOST) return this.abortAll();
    if (r === QUEUED) {
      if (this.queued === 0) this.credit = now();
      this.queued += total;
      if (this.queued > QUEUE_LIMIT && !this.readPaused) {
        this.readPaused = true;
        this.socket.pause();
      }
    } else if (this.queue.length === 0) {
      this.session.flushed();
      this.wakeWaiting();
    }
  }

  /** Streams that held their response for the socket may go on. */
  private wakeWaiting(): void {
    if (this.waiting === undefined || this.waiting.size === 0) return;
    const ready = [...this.waiting];
    this.waiting.clear();
    for (const s of ready) s.socketDrained();
  }

  /** The socket takes no more for now: `stream` is told when it does (its response waits). */
  socketBusy(stream: H2Stream): boolean {
    if (this.queue.length === 0 && this.outBytes <= JOIN_LIMIT) return false;
    (this.waiting ??= new Set()).add(stream);
    return true;
  }

  // ---------------------------------------------------------------- the session's events (H2Handler)

  onRequest(streamId: number, fields: HeaderList, endStream: boolean): void {
    this.credit = now();
    const s = new H2Stream(streamId, this, this.service);
    this.streams.set(streamId, s);
    s.begin(fields, endStream);
  }

  onStreamData(streamId: number, data: Uint8Array, endStream: boolean): void {
    const s = this.streams.get(streamId);
    if (s === undefined) return this.session.consumed(streamId, data.length); // answered already: discard, keep the window open
    s.data(data, endStream);
  }

  onTrailers(streamId: number, fields: HeaderList): void {
    this.streams.get(streamId)?.trailers(fields);
  }

  onStreamReset(streamId: number, code: H2Error): void {
    const s = this.streams.get(streamId);
    if (s === undefined) return;
    this.streams.delete(streamId);
    this.waiting?.delete(s);
    s.resetByPeer(code);
  }

  onWindow(streamId: number): void {
    this.credit = now();
    if (streamId !== 0) return this.streams.get(streamId)?.windowOpened();
    for (const s of this.streams.values()) s.windowOpened();
  }

  onGoaway(): void {
    // The client will open no more streams: finish those in flight, then close.
    this.goingAway = true;
    this.closeIfDone();
  }

  onConnectionError(code: H2Error, reason: string): void {
    this.closeOnError(code, reason, "refused");
  }

  /** After a GOAWAY for an error: the streams are dropped, the connection closes once its queue is written. */
  private closeOnError(code: H2Error, reason: string, cause: "refused" | "timeout"): void {
    if (logEnabled("info")) log.info(`service "${this.service.name}": HTTP/2 connection error ${code} from ${this.clientAddress}: ${reason}`);
    this.trace.endCause = cause;
    for (const s of this.streams.values()) s.abandon();
    this.streams.clear();
    this.goingAway = true;
    this.closeIfDone();
  }

  // ---------------------------------------------------------------- streams

  /** A stream is over (its response sent, or reset). */
  streamDone(s: H2Stream, completed: boolean): void {
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
    this.waiting?.delete(s);
    if (completed) this.served++;
    this.closeIfDone();
  }

  /** After GOAWAY: close once no stream is left and the queue is written. */
  private closeIfDone(): void {
    if (this.gone || this.lingerSince !== undefined || !(this.goingAway || this.session.closed) || this.streams.size > 0) return;
    this.flushOut(); // the GOAWAY and last frames first
    if (this.queue.length > 0) return; // onDrain comes back here
    // FIN now, close when the client does (onClose) or after LINGER_MS (sweep).
    this.lingerSince = now();
    this.socket.shutdown();
  }

  private abortAll(): void {
    if (this.gone) return;
    for (const s of this.streams.values()) s.abandon();
    this.streams.clear();
    this.socket.terminate();
    this.finish();
  }

  private finish(): void {
    if (this.gone) return;
    this.gone = true;
    this.service.untrack(this);
    if (events.sessionEnd.active) this.trace.publishEnd(this.service.name, this.clientAddress, this.clientPort, undefined, 0, 0, true, this.served);
  }

  // ---------------------------------------------------------------- timeouts, stop and reload (Sweepable)

  sweep(t: number): void {
    if (this.gone) return;
    if (this.lingerSince !== undefined) {
      if (t - this.lingerSince <= LINGER_MS) return;
      this.socket.end();
      return this.finish();
    }
    const cfg = this.service.cfg;
    const pending = this.session.settingsAckPendingSince;
    if (pending !== undefined && t - pending > SETTINGS_ACK_MS) {
      this.session.goaway(H2Error.SETTINGS_TIMEOUT, "SETTINGS not acknowledged");
      return this.onConnectionError(H2Error.SETTINGS_TIMEOUT, `SETTINGS not acknowledged within ${SETTINGS_ACK_MS} ms`);
    }
    // A header block left unfinished (HEADERS without END_HEADERS): as an HTTP/1 head, bounded by timeout_http_request.
    // The connection cannot go on without the rest of it (HPACK state, no other frame may come between).
    const block = this.session.headerBlockSince;
    if (block !== undefined && t - block > cfg.http.timeout_http_request) {
      this.session.goaway(H2Error.PROTOCOL_ERROR, "header block not completed in time");
      return this.closeOnError(H2Error.PROTOCOL_ERROR, `header block not completed within ${cfg.http.timeout_http_request} ms`, "timeout");
    }
    // A socket queue the client has not read for timeout_client (however much it sends): reset.
    if (this.queue.length > 0 && t - this.credit > cfg.timeout_client) {
      if (logEnabled("info")) log.info(`service "${this.service.name}": HTTP/2 client ${this.clientAddress} read nothing for ${cfg.timeout_client} ms: reset`);
      this.trace.endCause = "timeout";
      return this.abortAll();
    }
    if (this.streams.size === 0) {
      if (t - this.last > cfg.timeout_client) {
        this.trace.endCause = "timeout";
        this.goAway();
      }
      return;
    }
    // Each stream first: one whose window stays closed is reset on its own (the others go on).
    for (const s of [...this.streams.values()]) s.sweep(t, cfg);
    // Then the connection: output waits for a client that takes nothing (it reads nothing, or opens no window), however much it sends.
    if (t - this.credit > cfg.timeout_client && this.waitsForClient()) {
      if (logEnabled("info")) log.info(`service "${this.service.name}": HTTP/2 client ${this.clientAddress} took nothing for ${cfg.timeout_client} ms: closed`);
      this.trace.endCause = "timeout";
      this.session.goaway(H2Error.NO_ERROR, "timeout_client");
      for (const s of this.streams.values()) s.abandon();
      this.streams.clear();
      this.waiting = undefined;
      this.goingAway = true;
      return this.closeIfDone();
    }
  }

  /** Some stream's response waits for the client's window. */
  private waitsForClient(): boolean {
    for (const s of this.streams.values()) if (s.waitsForClient) return true;
    return false;
  }

  /** GOAWAY(NO_ERROR): streams in flight finish, no new one starts. */
  private goAway(): void {
    if (!this.goingAway) this.session.goaway(H2Error.NO_ERROR);
    this.goingAway = true;
    this.closeIfDone();
  }

  drain(): void {
    this.goAway();
  }

  retiredSince(): number {
    return this.service.removedAt;
  }

  abort(): void {
    this.trace.endCause ??= "shutdown";
    this.abortAll();
  }
}
