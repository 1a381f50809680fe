/**
 * One HTTP/2 request stream as an exchange carrier (../carrier.ts): its
 * request, translated into one HTTP/1.1 request head (translate.ts), goes
 * through the same exchange as an HTTP/1 request (route, backend, server
 * connection, retries, timeouts, events); the exchange's HTTP/1 response
 * comes back as HEADERS, DATA and trailers (response-out.ts).
 *
 * Flow control is the backpressure both ways:
 * - Request body: DATA is passed to the server as it comes (chunk-framed
 *   when the request had no content-length) and the stream's receive
 *   window is opened again only for bytes the server took, so a slow server
 *   slows the client, and plb holds at most one window per stream.
 * - Response: what the client's window or the socket's queue does not take
 *   waits here, and the server connection stays paused until it is sent.
 */
import { now } from "../../net/clock.ts";
import { LOST, QUEUED, type SendResult, SENT } from "../../net/outbox.ts";
import type { Sock } from "../../net/types.ts";
import type { ServiceConfig } from "../../config/types.ts";
import type { BackendHandle, ServiceHandle } from "../../protocol.ts";
import { logEnabled, logger } from "../../log.ts";
import { events } from "../../events.ts";
import { causeOf, HttpTrace } from "../trace.ts";
import type { ExchangeCarrier, RequestBodyState } from "../carrier.ts";
import { HttpExchange } from "../exchange.ts";
import type { HttpRuntime } from "../runtime.ts";
import type { Upstream } from "../upstream.ts";
import type { H2Session } from "./session.ts";
import { chunkFrame, lastChunk } from "./dechunk.ts";
import { H2ResponseOut, type ResponseSink } from "./response-out.ts";
import { h1RequestFrom } from "./translate.ts";
import { H2Error, type HeaderList } from "./types.ts";

const log = logger("h2");

/** What a stream needs of its connection (connection.ts). */
export interface StreamHost {
  readonly socket: Sock;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** Streams completed on the connection so far. */
  readonly served: number;
  readonly session: H2Session;
  /** True when the socket's queue is not empty; then `stream.socketDrained()` follows once it is. */
  socketBusy(stream: H2Stream): boolean;
  /** The stream is over (`completed`: its response was sent whole). */
  streamDone(stream: H2Stream, completed: boolean): void;
}

export class H2Stream implements ExchangeCarrier, RequestBodyState, ResponseSink {
  readonly trace = new HttpTrace();
  private readonly exchange: HttpExchange;
  /** The request body is complete (END_STREAM seen, and passed on). */
  done = false;
  /** END_STREAM came from the client. */
  private clientEnded = false;
  /** The request body is sent chunk-framed (no content-length). */
  private chunked = false;
  /** Body bytes received before the server connection was ready, or while it was paused. */
  private held: Uint8Array[] = [];
  /** Bytes taken off the receive window not yet given back (the server has not taken them). */
  private unconsumed = 0;
  private paused = false;
  private forwarding = false;
  private out: H2ResponseOut | undefined;
  /** Response DATA the window or the socket did not take yet; `endPending`: END_STREAM goes after it. */
  private pending: Uint8Array[] = [];
  private endPending = false;
  private trailersPending: HeaderList | undefined;
  /** The exchange waits to be told that the client took what was queued (its server is paused). */
  private exchangeWaits = false;
  /** END_STREAM (or RST_STREAM) went out: the response side is over. */
  private ended = false;
  private over = false;
  /** Last client activity on this stream: its body's idle timeout, and the wait for its window. */
  private last = now();
  /** Request body bytes received (max_body). */
  private received = 0;
  private cfg: ServiceConfig;

  constructor(
    readonly id: number,
    private readonly conn: StreamHost,
    private readonly service: ServiceHandle,
  ) {
    this.cfg = service.cfg;
    this.trace.version = "HTTP/2.0";
    this.exchange = new HttpExchange(service, this);
  }

  // ---------------------------------------------------------------- what the exchange reads of its carrier

  get socket(): Sock {
    return this.conn.socket;
  }
  get clientAddress(): string {
    return this.conn.clientAddress;
  }
  get clientPort(): number {
    return this.conn.clientPort;
  }
  get served(): number {
    return this.conn.served;
  }
  readonly heldBytes = 0;
  readonly closesAfterResponse = false;

  // ---------------------------------------------------------------- the request

  begin(fields: HeaderList, endStream: boolean): void {
    const rt = this.service.shared as HttpRuntime;
    this.cfg = this.service.cfg;
    this.clientEnded = endStream;
    const r = h1RequestFrom(fields, endStream, rt.limits);
    if (r.kind === "error") {
      if (logEnabled("info")) log.info(`service "${this.service.name}": stream ${this.id} of ${this.clientAddress} refused: ${r.reason}`);
      if (r.status !== undefined) return this.failed(r.status);
      return this.resetStream(H2Error.PROTOCOL_ERROR);
    }
    const maxBody = this.cfg.http.max_body;
    if (maxBody > 0 && r.head.body.kind === "length" && r.head.body.length > maxBody) return this.failed(413);
    this.chunked = r.chunked;
    this.trace.request(r.raw.length);
    if (!this.exchange.begin(r.head, r.raw)) return;
    this.out = new H2ResponseOut(r.head.method, rt.limits);
    this.forwarding = true;
    this.done = endStream;
    this.exchange.forward(this);
  }

  /** DATA from the client. */
  data(data: Uint8Array, endStream: boolean): void {
    this.last = now();
    if (endStream) this.clientEnded = true;
    if (!this.forwarding) {
      // Answered already (or refused): the body goes nowhere.
      this.conn.session.consumed(this.id, data.length);
      return;
    }
    this.unconsumed += data.length;
    this.received += data.length;
    const maxBody = this.cfg.http.max_body;
    if (maxBody > 0 && this.received > maxBody && !this.exchange.started) {
      this.exchange.abandon();
      return this.failed(413);
    }
    if (data.length > 0) this.held.push(this.chunked ? chunkFrame(data) : data);
    if (endStream && this.chunked) this.held.push(LAST_CHUNK);
    this.pushBody();
  }

  /** Trailers from the client: they end the request body (chunked trailers; dropped when it had a content-length). */
  trailers(fields: HeaderList): void {
    this.last = now();
    this.clientEnded = true;
    if (!this.forwarding) return;
    if (this.chunked) {
      const last = lastChunk(fields);
      if (last.kind === "error") {
        if (logEnabled("info")) log.info(`service "${this.service.name}": stream ${this.id} of ${this.clientAddress}: trailers refused: ${last.reason}`);
        return this.resetStream(H2Error.PROTOCOL_ERROR);
      }
      this.held.push(last.bytes);
    }
    this.pushBody();
  }

  /** Pass held body bytes to the server while it takes them; give the window back for what it took. */
  private pushBody(): void {
    const x = this.exchange;
    if (x.up === undefined || this.paused) return;
    const held = this.held;
    while (held.length > 0 && !this.paused) {
      const chunk = held.shift()!;
      this.trace.body(chunk.length);
      if (!x.requestBody(chunk)) return;
    }
    if (this.unconsumed > 0 && !this.paused && held.length === 0) {
      const n = this.unconsumed;
      this.unconsumed = 0;
      this.conn.session.consumed(this.id, n);
    }
    if (held.length === 0 && this.clientEnded && !this.done) {
      this.done = true;
      x.bodyEnded();
    }
  }

  attached(_up: Upstream): void {
    if (this.done) return this.exchange.bodyEnded();
    this.pushBody();
  }

  pauseClient(): void {
    this.paused = true;
  }

  resumeClient(): void {
    if (!this.paused) return;
    this.paused = false;
    this.pushBody();
  }

  // ---------------------------------------------------------------- the response

  respond(chunk: Uint8Array): SendResult {
    if (this.over) return LOST;
    const err = this.out!.feed(chunk, this);
    if (err !== undefined) {
      if (logEnabled("info")) log.info(`service "${this.service.name}": stream ${this.id}: response not translatable: ${err}`);
      return LOST;
    }
    return this.blocked() ? QUEUED : SENT;
  }

  /** ResponseSink: a head (interim or final). */
  head(fields: HeaderList, end: boolean): void {
    this.conn.session.respond(this.id, fields, end);
    if (end) this.ended = true;
  }

  /** ResponseSink: body bytes (`end`: the last). */
  body(data: Uint8Array, end: boolean): void {
    if (this.pending.length > 0) {
      if (data.length > 0) this.pending.push(data);
      if (end) this.endPending = true;
      return;
    }
    const n = data.length === 0 && !end ? 0 : this.conn.session.sendData(this.id, data, end);
    if (n < data.length) {
      this.last = now(); // the client's timeout_client to open its window starts now
      this.pending.push(n === 0 ? data : data.subarray(n));
      if (end) this.endPending = true;
    } else if (end) this.ended = true;
  }

  /** ResponseSink: trailers end the response. */
  trailersOut(fields: HeaderList): void {
    if (this.pending.length > 0) {
      this.trailersPending = fields;
      return;
    }
    this.conn.session.sendTrailers(this.id, fields);
    this.ended = true;
  }

  /** Response DATA or its end waits for the client to open its window. */
  get waitsForClient(): boolean {
    return this.pending.length > 0 || this.trailersPending !== undefined || (this.endPending && !this.ended);
  }

  /** Response bytes are held back (the client's window, or the socket's queue). */
  private blocked(): boolean {
    if (this.pending.length > 0 || this.conn.socketBusy(this)) {
      this.exchangeWaits = true;
      return true;
    }
    return false;
  }

  /** The client opened a window: send what waits. */
  windowOpened(): void {
    if (this.pending.length === 0) return;
    const session = this.conn.session;
    while (this.pending.length > 0) {
      const data = this.pending[0];
      const last = this.pending.length === 1 && this.endPending && this.trailersPending === undefined;
      const n = session.sendData(this.id, data, last);
      if (n > 0) this.last = now(); // progress: the client's timeout_client starts again
      if (n < data.length) {
        this.pending[0] = data.subarray(n);
        return;
      }
      this.pending.shift();
      if (last) this.ended = true;
    }
    if (this.trailersPending !== undefined) {
      session.sendTrailers(this.id, this.trailersPending);
      this.trailersPending = undefined;
      this.ended = true;
    } else if (this.endPending && !this.ended) {
      session.sendData(this.id, EMPTY, true);
      this.ended = true;
    }
    this.endPending = false;
    if (this.ended && this.over) return this.conn.streamDone(this, true);
    this.socketDrained();
  }

  /** The socket took its queue: the exchange's server may send on. */
  socketDrained(): void {
    if (!this.exchangeWaits || this.blocked()) return;
    this.exchangeWaits = false;
    this.exchange.clientDrained();
  }

  answered(bytes: Uint8Array, status: number, _close: boolean): void {
    this.trace.replied(bytes);
    if (events.request.active) this.exchange.publish(undefined, status, "done");
    this.forwarding = false;
    this.answerWith(bytes);
    this.complete(true);
  }

  completed(_close: boolean): void {
    // A close-delimited response ends with its server connection: end the stream here.
    if (!this.ended && this.pending.length === 0 && this.trailersPending === undefined) {
      this.conn.session.sendData(this.id, EMPTY, true);
      this.ended = true;
    } else if (!this.ended) this.endPending = true;
    this.complete(true);
  }

  failed(status: number): void {
    const x = this.exchange;
    x.cancelConnect();
    if (events.request.active && !this.over) x.publish(x.lastServer, status || (x.res?.head?.status ?? 0), causeOf(status, x.started));
    if (status !== 0 && !x.started && !this.ended) {
      const reply = (this.service.shared as HttpRuntime).reply(status);
      this.trace.replied(reply);
      this.forwarding = false;
      this.answerWith(reply);
      return this.complete(false);
    }
    // Nothing was answered on a reused server connection that closed: the client may retry (REFUSED_STREAM says no processing took place).
    this.resetStream(status === 0 && !x.started ? H2Error.REFUSED_STREAM : H2Error.INTERNAL_ERROR);
  }

  lost(): void {
    this.resetStream(H2Error.INTERNAL_ERROR);
  }

  upgraded(up: Upstream, _backend: BackendHandle): void {
    // HTTP/2 requests carry no Upgrade (translate.ts refuses it): a 101 is a broken server.
    up.close();
    this.resetStream(H2Error.PROTOCOL_ERROR);
  }

  /** A whole HTTP/1 answer of plb's own (a route's, an error page) as HEADERS and DATA. */
  private answerWith(bytes: Uint8Array): void {
    const out = new H2ResponseOut(this.exchange.req?.method ?? "GET", (this.service.shared as HttpRuntime).limits);
    out.feed(bytes, this);
    if (!this.ended && this.pending.length === 0) {
      this.conn.session.sendData(this.id, EMPTY, true);
      this.ended = true;
    }
  }

  /** The exchange is over: tell the connection once the last DATA is out. */
  private complete(served: boolean): void {
    if (this.over) return;
    this.over = true;
    this.exchange.reset();
    this.exchange.close();
    // The response is complete but the client is still sending: tell it to stop (RFC 9113 §8.1).
    if (!this.clientEnded && this.ended) this.conn.session.reset(this.id, H2Error.NO_ERROR);
    if (this.ended || this.pending.length === 0) this.conn.streamDone(this, served);
  }

  /** Reset the stream (plb's side): the exchange lets go of its server. */
  private resetStream(code: H2Error): void {
    if (this.over) return;
    this.ended = true;
    this.abandon();
    this.conn.session.reset(this.id, code);
    this.conn.streamDone(this, false);
  }

  /** The client reset the stream, or the session did for a stream error. */
  resetByPeer(code: H2Error): void {
    if (this.over) return;
    if (events.request.active) this.exchange.publish(this.exchange.lastServer, 0, "client_closed");
    this.ended = true;
    this.abandon();
    if (logEnabled("debug")) log.debug(`service "${this.service.name}": stream ${this.id} of ${this.clientAddress} reset (${code})`);
  }

  /** The stream is over unfinished (reset, or its connection is gone): the exchange lets go of its server. */
  abandon(): void {
    if (this.over) return;
    this.over = true;
    this.exchange.abandon();
    this.exchange.reset();
    this.exchange.close();
  }

  // ---------------------------------------------------------------- timeouts

  /** The client opened no window for `ms`: the response is given up, the stream reset. */
  private windowTimedOut(ms: number): void {
    if (logEnabled("info")) log.info(`service "${this.service.name}": stream ${this.id} of ${this.clientAddress}: window closed for ${ms} ms with response bytes waiting`);
    this.pending = [];
    this.endPending = false;
    this.trailersPending = undefined;
    if (!this.over) {
      this.exchange.abandon();
      return this.failed(0);
    }
    // The exchange completed already: only its last bytes waited here.
    this.conn.session.reset(this.id, H2Error.INTERNAL_ERROR);
    this.conn.streamDone(this, false);
  }

  sweep(t: number, cfg: ServiceConfig): void {
    if (this.pending.length > 0 || (this.exchangeWaits && !this.over)) {
      // The client holds the response back (its window, or the socket's queue, which the connection bounds): plb
      // paused the server, whose silence is then no fault of its own. The client has timeout_client to open its window
      // (also once the whole response is here and only its last bytes wait).
      if (this.pending.length > 0 && t - this.last > cfg.timeout_client) this.windowTimedOut(cfg.timeout_client);
      return;
    }
    if (this.over) return;
    const awaitingClient = this.forwarding && !this.clientEnded && !this.paused;
    if (awaitingClient && t - this.last > cfg.timeout_client) {
      if (logEnabled("info")) log.info(`service "${this.service.name}": 408 for ${this.clientAddress} (stream ${this.id}): request body idle for ${cfg.timeout_client} ms`);
      this.exchange.abandon();
      return this.failed(this.exchange.started ? 0 : 408);
    }
    if (!awaitingClient) this.exchange.serverLate(t);
  }
}

const EMPTY = new Uint8Array(0);
const LAST_CHUNK = (lastChunk() as { bytes: Uint8Array }).bytes;
