/**
 * One HTTP/1 client connection: reads request heads one at a time
 * (pipelined ones wait in the buffer, answered in order), frames and paces
 * each request body (min_body_rate), keeps the connection alive between
 * requests, turns into a byte tunnel after a 101, and closes. Each request
 * goes to the connection's exchange (exchange.ts: route, backend, server
 * connection, response), which hands back response bytes with
 * backpressure and the end of the exchange. plb answers malformed requests
 * and failed exchanges itself (replies.ts) and closes the client after any
 * framing error.
 */
import { clientIp, clientPort } from "../net/client-address.ts";
import { now } from "../net/clock.ts";
import { flush, LOST, NO_QUEUE, type QueuedWriter, type SendResult, send, SENT } from "../net/outbox.ts";
import { earliest, type Sweepable } from "../net/sweep.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import type { ServiceConfig } from "../config/types.ts";
import type { BackendHandle, ServiceHandle } from "../protocol.ts";
import { logEnabled, logger } from "../log.ts";
import { events } from "../events.ts";
import { causeOf, HttpTrace } from "./trace.ts";
import { HOLD_LIMIT } from "./_private.ts";
import { BodyTracker } from "./body.ts";
import type { ExchangeCarrier } from "./carrier.ts";
import { HttpExchange } from "./exchange.ts";
import { parseRequestHead } from "./head.ts";
import type { HttpRuntime } from "./runtime.ts";
import { BODY_NONE } from "./types.ts";
import { HttpTunnel, type TunnelOwner } from "./tunnel.ts";
import { handOver } from "../net/handlers.ts";
import { H2Connection } from "./h2/connection.ts";
import { prefaceMatch } from "./h2/preface.ts";
import type { Upstream } from "./upstream.ts";

const log = logger("http");

const enum Phase {
  /** Waiting for (the rest of) a request head. */
  Head,
  /** A request is being handled: connecting, sending, or awaiting the response. */
  Exchange,
  /** Closing after a last reply; nothing more is read. */
  Closing,
}

export class HttpSession implements SocketEvents, QueuedWriter, Sweepable, TunnelOwner, ExchangeCarrier {
  queue: Uint8Array[] = NO_QUEUE;
  last = now();
  sweepPrev: Sweepable | null = null;
  sweepNext: Sweepable | null = null;

  private phase = Phase.Head;
  /** Client bytes not consumed yet (a partial head, body bytes while connecting, pipelined requests). */
  private inbuf: Uint8Array | undefined;
  /** The growable buffer behind `inbuf` when pieces were joined. */
  private store: Uint8Array | undefined;
  private scanFrom = 0;
  readonly clientAddress: string;
  readonly clientPort: number;
  private clientPaused = false;
  /**
   * Start of the current head's deadline (timeout_http_request): its first
   * byte, or the end of the previous response on a kept-alive connection;
   * 0 while none runs.
   */
  private headSince = 0;
  /** The request body is too slow (min_body_rate) after this time; 0 while none runs. */
  private bodyDue = 0;
  /** When plb paused the client: time paused does not count against its body. */
  private pausedAt = 0;
  private clientEnded = false;
  private gone = false;

  /** The current request's body framing (NO_BODY without one). */
  private reqBody: BodyTracker | undefined;
  /** Responses completed on this client connection. */
  served = 0;
  /** Close the client once the current response is complete. */
  private closeAfter = false;
  /** The exchange of each request in turn (one object for the connection). */
  private readonly exchange: HttpExchange;
  /** After a 101: the byte pipe between client and server. */
  private tunnel: HttpTunnel | undefined;

  /** What the lifecycle events are told (bytes, times). */
  readonly trace = new HttpTrace();
  /** h2c: the first bytes may be the HTTP/2 preface of a prior-knowledge client. */
  private sniffH2: boolean;

  /** The configuration and runtime of the current request (a reload applies from the next one). */
  private cfg: ServiceConfig;
  private rt: HttpRuntime;

  constructor(
    readonly socket: Sock,
    readonly service: ServiceHandle,
  ) {
    this.cfg = service.cfg;
    this.rt = service.shared as HttpRuntime;
    // undefined for a connection reset before plb saw it
    this.clientAddress = clientIp(socket);
    // Reading it costs a getpeername(2): only when someone will be told.
    this.clientPort = events.sessionEnd.active || events.request.active ? clientPort(socket) : 0;
    this.exchange = new HttpExchange(service, this);
    this.sniffH2 = this.cfg.http.h2c === true && this.cfg.tls === undefined;
    service.track(this);
    if (events.sessionStart.active) events.sessionStart.publish({ service: service.name, protocol: "http", client: this.clientAddress });
  }

  // ---------------------------------------------------------------- client side

  onData(buf: Uint8Array): void {
    const t = (this.last = now());
    this.trace.bytesIn += buf.length;
    if (this.phase === Phase.Closing) return;
    if (this.phase === Phase.Head) {
      if (this.headSince === 0) this.headSince = t;
    } else if (this.reqBody !== undefined && !this.reqBody.done) this.bodyArrived(buf.length, t);
    if (this.phase === Phase.Exchange && this.exchange.up && this.reqBody && !this.reqBody.done && this.inbuf === undefined) {
      this.requestBody(buf);
      return;
    }
    this.hold(buf);
    if (this.phase === Phase.Head) this.readHead();
  }

  onDrain(): void {
    const r = flush(this);
    if (r === LOST) return this.abortAll();
    if (r === SENT && this.phase === Phase.Closing) return this.closeClient();
    if (r === SENT) this.exchange.clientDrained();
  }

  onEnd(): void {
    this.clientEnded = true;
    if (this.phase === Phase.Exchange) {
      // The answers to what the client sent still go back to it, but a
      // request body cut short by the FIN can never complete.
      if (this.reqBody && !this.reqBody.done && this.inbuf === undefined) this.truncated();
      return;
    }
    this.closeClient(); // nothing pending, or a head cut short: close quietly, as nginx does
  }

  /** The client stopped sending in the middle of a request body. */
  private truncated(): void {
    if (logEnabled("info")) log.info(`service "${this.service.name}": ${this.clientAddress} ended its request body early`);
    this.exchange.abandon();
    this.reply(this.exchange.started ? 0 : 400);
  }

  onClose(): void {
    if (this.gone) return;
    this.exchange.abandon();
    this.finish();
  }

  /**
   * Keep client bytes not consumed yet. A head trickling in small pieces
   * grows one buffer geometrically (amortised O(n), not a copy per piece);
   * the buffer is only written past the bytes `inbuf` shows, and only while
   * `inbuf` still starts at its beginning (nothing of it was handed out).
   */
  private hold(buf: Uint8Array): void {
    const cur = this.inbuf;
    const store = this.store;
    if (cur === undefined) this.inbuf = buf;
    else if (store && cur.buffer === store.buffer && cur.byteOffset === store.byteOffset && cur.length + buf.length <= store.length) {
      store.set(buf, cur.length);
      this.inbuf = store.subarray(0, cur.length + buf.length);
    } else {
      const grown = new Uint8Array(Math.max(4096, 2 * (cur.length + buf.length)));
      grown.set(cur);
      grown.set(buf, cur.length);
      this.store = grown;
      this.inbuf = grown.subarray(0, cur.length + buf.length);
    }
    if (this.inbuf.length > HOLD_LIMIT && this.phase !== Phase.Head) this.pauseClient();
  }

  /** ExchangeCarrier: stop reading the client (the server takes no more for now). */
  pauseClient(): void {
    if (this.clientPaused) return;
    this.clientPaused = true;
    this.pausedAt = now();
    this.socket.pause();
  }

  /** ExchangeCarrier: read the client again. */
  resumeClient(): void {
    if (!this.clientPaused) return;
    this.clientPaused = false;
    if (this.bodyDue !== 0) this.bodyDue += now() - this.pausedAt;
    this.socket.resume();
  }

  /**
   * `n` body bytes came at `t`: the body may take timeout_http_request from
   * its first byte, plus a second per min_body_rate bytes (Apache's
   * mod_reqtimeout MinRate), so a trickle cannot hold a server for ever.
   */
  private bodyArrived(n: number, t: number): void {
    const http = this.cfg.http;
    if (http.min_body_rate === 0) return;
    if (this.bodyDue === 0) this.bodyDue = t + http.timeout_http_request;
    this.bodyDue += (n * 1000) / http.min_body_rate;
  }

  /** Parse the held bytes as a request head. */
  private readHead(): void {
    const buf = this.inbuf;
    if (buf === undefined) return;
    // A request follows the configuration in force when it arrives.
    this.cfg = this.service.cfg;
    this.rt = this.service.shared as HttpRuntime;
    if (this.sniffH2) {
      const m = prefaceMatch(buf);
      if (m === "more") return;
      this.sniffH2 = false;
      if (m === "yes") return this.becomeH2(buf);
    }
    const r = parseRequestHead(buf, this.rt.limits, this.scanFrom);
    if (r.kind === "more") {
      this.scanFrom = r.scanFrom;
      return;
    }
    if (r.kind === "error") {
      if (logEnabled("info")) log.info(`service "${this.service.name}": ${r.status} for ${this.clientAddress}: ${r.reason} (byte ${r.pos})`);
      return this.reply(r.status);
    }
    const head = r.head;
    this.scanFrom = 0;
    this.headSince = this.bodyDue = 0;
    this.inbuf = r.consumed < buf.length ? buf.subarray(r.consumed) : undefined;
    if (head.method === "CONNECT") return this.reply(501);
    const maxBody = this.cfg.http.max_body || Infinity;
    if (head.body.kind === "length" && head.body.length > maxBody) return this.reply(413);
    this.trace.request(r.consumed);
    this.closeAfter = !head.keepAlive;
    if (!this.exchange.begin(head, buf)) return; // answered by its route, or no route takes it
    const body = (this.reqBody = head.body.kind === "none" ? NO_BODY : new BodyTracker(head.body, false, maxBody));
    this.phase = Phase.Exchange;
    this.exchange.forward(body);
  }

  /**
   * ExchangeCarrier: a route answers the request itself (respond, redirect):
   * the answer goes out and the connection reads on, or closes (`close`: a
   * request body plb did not read, or a client that asked to).
   */
  answered(bytes: Uint8Array, status: number, close: boolean): void {
    this.trace.replied(bytes);
    if (events.request.active) this.exchange.publish(undefined, status, "done");
    this.served++;
    if (close) {
      this.phase = Phase.Closing;
      if (send(this, bytes) === LOST) return this.abortAll();
      return this.closeClient();
    }
    if (send(this, bytes) === LOST) return this.abortAll();
    this.next();
  }

  /** Forward request body bytes to the exchange, keeping any bytes past the body. */
  private requestBody(buf: Uint8Array): void {
    const body = this.reqBody!;
    const step = body.take(buf, 0, buf.length);
    if (step.kind === "error") {
      // The server has part of a request: that connection is spoiled.
      if (logEnabled("info")) log.info(`service "${this.service.name}": ${step.status} for ${this.clientAddress}: ${step.reason}`);
      const started = this.exchange.started;
      this.exchange.abandon();
      return this.reply(started ? 0 : step.status);
    }
    if (step.consumed > 0) {
      this.trace.body(step.consumed);
      if (!this.exchange.requestBody(step.consumed === buf.length ? buf : buf.subarray(0, step.consumed))) return;
    }
    if (step.consumed < buf.length) this.hold(buf.subarray(step.consumed));
    if (step.kind === "done") this.exchange.bodyEnded();
  }

  /** ExchangeCarrier: the request head went out on `up`: forward the body held so far. */
  attached(up: Upstream): void {
    const held = this.inbuf;
    if (held !== undefined && !this.reqBody!.done) {
      this.inbuf = undefined;
      this.requestBody(held);
    } else if (this.reqBody!.done) this.exchange.bodyEnded();
    // The client's FIN came while connecting and its body is still short.
    if (this.clientEnded && this.reqBody && !this.reqBody.done && this.inbuf === undefined) return this.truncated();
    // Paused while connecting (held bytes over the limit): read on unless
    // the server is the one holding us back now.
    if (this.exchange.up === up && up.queue.length === 0 && this.inbuf === undefined) this.resumeClient();
  }

  // ---------------------------------------------------------------- the response (ExchangeCarrier)

  /** The client connection ends after the current response. */
  get closesAfterResponse(): boolean {
    return this.closeAfter || (this.clientEnded && this.inbuf === undefined);
  }

  get heldBytes(): number {
    return this.inbuf?.length ?? 0;
  }

  respond(chunk: Uint8Array): SendResult {
    return send(this, chunk);
  }

  completed(close: boolean): void {
    if (close) this.closeAfter = true;
    this.served++;
    this.next();
  }

  failed(status: number): void {
    this.reply(status);
  }

  lost(): void {
    this.abortAll();
  }

  // ---------------------------------------------------------------- upgrade

  /** h2c with prior knowledge: the connection is HTTP/2 from its first byte; an H2Connection takes it over. */
  private becomeH2(buf: Uint8Array): void {
    this.gone = true;
    this.phase = Phase.Closing;
    this.inbuf = undefined;
    this.service.untrack(this);
    const h2 = new H2Connection(this.socket, this.service, buf);
    handOver(this.socket, h2);
    h2.onOpen();
  }

  /** 101 Switching Protocols: from now on both sockets are one byte pipe. */
  upgraded(up: Upstream, backend: BackendHandle, head: Uint8Array[], rest: Uint8Array | undefined): void {
    const tunnel = (this.tunnel = new HttpTunnel(this.socket, this.queue, up, backend, this));
    this.queue = NO_QUEUE;
    const held = this.inbuf;
    this.inbuf = undefined;
    tunnel.start(head, rest, held, this.clientEnded);
    this.clientPaused = false;
    this.socket.resume();
    up.socket.resume();
  }

  tunnelClosed(): void {
    this.finish();
  }

  // ---------------------------------------------------------------- completion

  /** After a response: close, or read the next (maybe already held) request. */
  private next(): void {
    this.reqBody = undefined;
    this.exchange.reset();
    // After the client's FIN, requests it pipelined before it are still answered.
    if (this.closeAfter || (this.clientEnded && this.inbuf === undefined)) return this.closeClient();
    this.phase = Phase.Head;
    this.cfg = this.service.cfg;
    this.rt = this.service.shared as HttpRuntime;
    this.headSince = now(); // a kept-alive connection's next head is due from here
    this.resumeClient();
    if (this.inbuf === undefined) return;
    this.readHead();
    if (this.clientEnded && this.phase === Phase.Head) this.closeClient(); // what is left is not a whole request
  }

  /** Answer `status` (0: nothing) and close the client. */
  private reply(status: number): void {
    const x = this.exchange;
    x.cancelConnect();
    const answered = this.phase !== Phase.Closing;
    this.phase = Phase.Closing;
    const body = status !== 0 ? this.rt.reply(status) : undefined;
    if (body) this.trace.replied(body);
    if (answered && events.request.active) x.publish(x.lastServer, status || (x.res?.head?.status ?? 0), causeOf(status, x.started));
    if (body && send(this, body) === LOST) return this.abortAll();
    this.closeClient();
  }

  /** End the client connection once everything queued for it is written. */
  private closeClient(): void {
    this.phase = Phase.Closing;
    if (this.queue.length > 0) return; // onDrain finishes the job
    this.socket.end();
    this.finish();
  }

  private abortAll(): void {
    this.exchange.abandon();
    this.socket.terminate();
    this.finish();
  }

  private finish(): void {
    if (this.gone) return;
    this.gone = true;
    this.exchange.close();
    this.phase = Phase.Closing;
    this.service.untrack(this);
    if (events.sessionEnd.active) {
      const tunnel = this.tunnel;
      this.trace.publishEnd(this.service.name, this.clientAddress, this.clientPort, tunnel?.to, tunnel?.bytesIn ?? 0, tunnel?.bytesOut ?? 0, this.clientEnded, this.served);
    }
  }

  // ---------------------------------------------------------------- timeouts

  sweep(now: number): void {
    const cfg = this.cfg;
    const t = this.tunnel;
    if (t) {
      if (t.idle(now, cfg.timeout_client)) {
        this.trace.endCause = "timeout";
        t.abort();
      }
      return;
    }
    if (this.phase === Phase.Head) {
      const late = this.headSince !== 0 && now - this.headSince > cfg.http.timeout_http_request;
      if (late || now - this.last > cfg.timeout_client) {
        this.trace.endCause = "timeout";
        if (this.inbuf === undefined) return this.closeClient(); // an idle connection: close quietly
        if (logEnabled("info")) log.info(`service "${this.service.name}": 408 for ${this.clientAddress}: request head not complete ${late ? `within ${cfg.http.timeout_http_request} ms` : `(idle for ${cfg.timeout_client} ms)`}`);
        this.reply(408);
      }
      return;
    }
    if (this.phase !== Phase.Exchange) return;
    const awaitingClient = this.reqBody !== undefined && !this.reqBody.done && !this.clientPaused;
    const slow = awaitingClient && this.bodyDue !== 0 && now > this.bodyDue;
    if (awaitingClient && (slow || now - this.last > cfg.timeout_client)) {
      // The client stalled or trickles in the middle of its body: its fault, not the server's.
      if (logEnabled("info")) log.info(`service "${this.service.name}": 408 for ${this.clientAddress}: request body ${slow ? `slower than ${cfg.http.min_body_rate} bytes/s` : `idle for ${cfg.timeout_client} ms`}`);
      const started = this.exchange.started;
      this.exchange.abandon();
      return this.reply(started ? 0 : 408);
    }
    if (!awaitingClient && this.exchange.serverLate(now)) return;
    if (now - this.last > cfg.timeout_client && this.queue.length > 0) this.abortAll();
  }

  retiredSince(): number {
    const server = this.tunnel?.server ?? this.exchange.upServer;
    return earliest(this.service.removedAt, server?.removedAt ?? 0);
  }

  drain(): void {
    if (this.tunnel) return;
    this.closeAfter = true;
    if (this.phase === Phase.Head && this.inbuf === undefined) this.closeClient();
  }

  abort(): void {
    this.trace.endCause ??= "shutdown";
    if (this.tunnel) this.tunnel.abort();
    else this.abortAll();
  }
}

/** The tracker of every request without a body (done from the start: never changes). */
const NO_BODY = new BodyTracker(BODY_NONE, false);
