/**
 * One HTTP exchange: a request, whatever carried it, to its route, its
 * backend, a server connection (pooled or new, through the shared
 * connect-and-fail-over path) and back as a response, with its retries,
 * server timeout and trace. The carrier (carrier.ts: an HTTP/1 client
 * connection, session.ts; later an HTTP/2 stream) reads and frames the
 * request, paces its body and owns the client socket; it gets back the
 * response bytes with backpressure, the end of the exchange, or the status
 * to answer itself.
 *
 * One exchange object per carrier, restarted for each request: nothing here
 * is allocated per request or per chunk beyond what the request needs.
 */
import { concatBytes } from "../net/bytes.ts";
import { proxyHeaderFor } from "../net/client-address.ts";
import { now } from "../net/clock.ts";
import { flush, LOST, QUEUED, send, SENT } from "../net/outbox.ts";
import type { PendingConnect } from "../net/connect.ts";
import type { Sock } from "../net/types.ts";
import { ServerAttempt } from "../backends/server-attempt.ts";
import type { Server } from "../servers/server.ts";
import type { ServiceConfig } from "../config/types.ts";
import type { ServiceHandle } from "../protocol.ts";
import { logEnabled, logger } from "../log.ts";
import { PlbError } from "../errors.ts";
import { type EndCause, events } from "../events.ts";
import type { RequestFacts } from "./trace.ts";
import type { ExchangeCarrier, RequestBodyState } from "./carrier.ts";
import { hashKey, retryable } from "./_private.ts";
import { type ClientForwarding, forwardedRequestHead, forwardingFor } from "./forward.ts";
import { announcedIdleMs } from "./keep-alive.ts";
import { ResponseReader } from "./response.ts";
import type { HttpBackendRuntime, HttpRuntime } from "./runtime.ts";
import { RequestRouter } from "./routing.ts";
import { acmeChallengeAnswer } from "./acme-challenge.ts";
import { type HeadEdit, NO_EDIT } from "../routes/rewrite.ts";
import type { RequestHead } from "./types.ts";
import { Upstream, type UpstreamOwner } from "./upstream.ts";
import { fieldLines, type FieldLines } from "./serialize.ts";
import { type ClientCertificate, clientCertFields, describeClientCert } from "../tls/client-cert.ts";
import { peerCertificate } from "../tls/peer.ts";

const log = logger("http");

/** Servers are picked, connected and failed over by the ServerAttempt it is (backends/server-attempt.ts). */
export class HttpExchange extends ServerAttempt implements UpstreamOwner {
  /** The current request. */
  req: RequestHead | undefined;
  /** The response being read from the server. */
  res: ResponseReader | undefined;
  /** The server connection of the current request. */
  up: Upstream | undefined;
  private reqOut: Uint8Array | undefined;
  private body: RequestBodyState | undefined;
  /** Sent once more on a fresh connection after a reused one closed unanswered. */
  private retried = false;
  /** The server connection is paused until the client takes what is queued for it. */
  private upPaused = false;
  /** The client's connection must close after this response (the server closed it, or the body was cut). */
  private mustClose = false;
  /** The configuration and runtime in force when the request arrived. */
  private cfg: ServiceConfig;
  private rt: HttpRuntime;
  /** What the sessions of the current request's backend (`backend`) share: idle server connections. */
  private brt: HttpBackendRuntime | undefined;
  /** Server connections of the current backend carry a PROXY header for this client: not shared. */
  private private = false;
  /** This carrier's own idle server connection (private mode): it outlives a request. */
  private ownUp: Upstream | undefined;
  /** The forwarding fields (X-Forwarded-For…), made once for the client's address. */
  private readonly forwarding: ClientForwarding;
  /** Routes the carrier's requests (made at the first request of a service with routes or request_id). */
  private router: RequestRouter | undefined;
  /** What the current request's route changes in the response head. */
  private resEdit: HeadEdit = NO_EDIT;
  /** The current request's X-Request-Id ("" without request_id). */
  private requestId = "";
  /** The connection's client certificate, once read. */
  private cert: { cert: ClientCertificate | undefined; lines: FieldLines } | undefined;

  constructor(
    service: ServiceHandle,
    private readonly carrier: ExchangeCarrier,
  ) {
    super(service);
    this.cfg = service.cfg;
    this.rt = service.shared as HttpRuntime;
    this.forwarding = forwardingFor(carrier.clientAddress);
  }

  /** The client's certificate and its request fields, read once per connection (tls.client_ca). */
  private clientCert(): { cert: ClientCertificate | undefined; lines: FieldLines } {
    if (this.cert === undefined) {
      const peer = peerCertificate(this.carrier.socket);
      const cert = peer === undefined ? undefined : describeClientCert(peer.cert, peer.verified);
      this.cert = { cert, lines: fieldLines(clientCertFields(cert)) };
    }
    return this.cert;
  }

  /** The server of the current request's connection. */
  get upServer(): Server | undefined {
    return this.up?.server;
  }

  /** Something of the response went to the client (plb can no longer answer an error). */
  get started(): boolean {
    return this.res?.started ?? false;
  }

  /** The backend's timeout_server, while a server connection is held. */
  get serverTimeout(): number {
    return this.up !== undefined && this.backend !== undefined ? this.backend.cfg.timeout_server : Infinity;
  }

  // ---------------------------------------------------------------- request

  /**
   * A request arrived (`raw`: the bytes its head came in). Route it: false
   * when that settled it (the route answered, or 404 without one), true
   * when it goes to a backend: the carrier then calls `forward`.
   */
  begin(head: RequestHead, raw: Uint8Array): boolean {
    const svc = this.service;
    const c = this.carrier;
    this.cfg = svc.cfg;
    this.rt = svc.shared as HttpRuntime;
    this.req = head;
    this.retried = false;
    this.mustClose = false;
    // A request plb answers itself (a route's answer, a 404, a 503) names no server: not the previous request's.
    this.server = undefined;
    // HTTP-01: a pending token's validation request is plb's to answer, before any route.
    const challenge = acmeChallengeAnswer(head);
    if (challenge !== undefined) {
      this.requestId = "";
      this.resEdit = NO_EDIT;
      c.answered(challenge.bytes, challenge.status, challenge.close);
      return false;
    }
    const cert = this.cfg.tls?.client_verify !== undefined ? this.clientCert() : undefined;
    const routed = svc.cfg.routes.length > 0 || this.cfg.http.request_id ? (this.router ??= new RequestRouter(c.clientAddress, this.rt.proto, cert?.cert)).route(svc, head, this.cfg.http.request_id) : undefined;
    this.requestId = routed?.requestId ?? "";
    this.resEdit = routed?.response ?? NO_EDIT;
    if (routed?.answer !== undefined) {
      c.answered(routed.answer.bytes, routed.answer.status, routed.answer.close);
      return false;
    }
    const backend = routed === undefined ? svc.backend : routed.backend;
    if (backend === undefined) {
      if (logEnabled("info")) log.info(`service "${svc.name}": 404 for ${c.clientAddress}: no route takes ${head.method} ${head.target}`);
      c.failed(404);
      return false;
    }
    this.reqOut = forwardedRequestHead(raw, head, this.forwarding, this.rt.proto, this.cfg.http, routed?.request, cert?.lines);
    this.backend = backend;
    this.brt = backend.shared as HttpBackendRuntime;
    const mode = backend.cfg.client_address;
    this.private = mode === "proxy-v1" || mode === "proxy-v2";
    return true;
  }

  /** Send the routed request to a server of its backend; `body` says when its body is complete. */
  forward(body: RequestBodyState): void {
    this.body = body;
    const b = this.backend!;
    this.timed = this.carrier.trace.timed;
    this.start(b, b.usesClient ? this.carrier.clientAddress : undefined, b.hashes === undefined ? undefined : hashKey(this.req!, b.hashes, b.cfg.http.hash_header));
  }

  /** Request body bytes for the server; false when its connection was lost (the exchange has gone on without it). */
  requestBody(chunk: Uint8Array): boolean {
    const sent = send(this.up!, chunk);
    if (sent === QUEUED) this.carrier.pauseClient();
    else if (sent === LOST) {
      this.upstreamClosed();
      return false;
    }
    return true;
  }

  /** The request body is complete: the exchange ends with the response. */
  bodyEnded(): void {
    this.maybeComplete();
  }

  /** The request is abandoned (the client went away or broke it): let go of the server side. */
  abandon(): void {
    this.cancel();
    if (this.up) {
      this.up.abort();
      this.releaseServer();
    }
  }

  /** The carrier answers the request itself: a connect still under way is given up. */
  cancelConnect(): void {
    this.cancel();
  }

  /** The carrier is closing: its own idle server connection goes too. */
  close(): void {
    this.ownUp?.close();
    this.ownUp = undefined;
  }

  /** The client took what was queued for it: the server may send on. */
  clientDrained(): void {
    if (this.upPaused && this.up) {
      this.upPaused = false;
      this.up.last = now(); // the time plb held the server back is not its silence (timeout_server)
      this.up.socket.resume();
    }
  }

  /** The sweep: the server has been silent longer than timeout_server (`now` is the coarse clock). True when that ended the exchange. */
  serverLate(now: number): boolean {
    const up = this.up;
    const timeoutServer = this.serverTimeout;
    // Paused by plb for a slow client: its silence is not the server's (timeout_client bounds the client).
    if (up === undefined || this.upPaused || now - up.last <= timeoutServer) return false;
    const started = this.started;
    if (!started) this.backend!.pool.report(up.server, "timeout", `no response within ${timeoutServer} ms`);
    up.abort();
    this.releaseServer();
    this.carrier.failed(started ? 0 : 504);
    return true;
  }

  // ---------------------------------------------------------------- choosing and connecting (ServerAttempt)

  /** A server was picked: take this carrier's own or an idle pooled connection to it, if there is one. */
  protected reuse(server: Server): boolean {
    const own = this.ownUp;
    this.ownUp = undefined;
    if (own && !own.closed && own.server === server) {
      this.attach(own);
      return true;
    }
    own?.close();
    // Idle pooled connections may have been closed by their server just now.
    // A request plb can retry may take one; others only once this client
    // connection has had an answer (HAProxy's http-reuse safe): should the
    // server close it unanswered, the client sees its own keep-alive
    // connection close and may send the request again itself.
    const reuse = !this.private && (this.carrier.served > 0 || retryable(this.req!));
    const idle = reuse ? this.brt!.pool.take(server, now()) : undefined;
    if (idle === undefined) return false;
    this.attach(idle);
    return true;
  }

  /** An h2 backend: "connecting" is getting a stream of the server's h2 connections (h2/server-pool.ts). */
  protected override open(server: Server): PendingConnect {
    const h2 = this.brt!.h2;
    return h2 === undefined ? super.open(server) : h2.open(server, this, this.backend.cfg.timeout_connect, this.backend.tls);
  }

  protected noServer(local: boolean): void {
    if (!local && logEnabled("info")) log.info(`service "${this.service.name}": no server of "${this.backend!.name}" available for ${this.carrier.clientAddress}: 503`);
    this.carrier.failed(503);
  }

  protected serverReady(sock: Sock, server: Server): void {
    const c = this.carrier;
    c.trace.connectMs = this.connectMs;
    const up = new Upstream(sock, server);
    if (this.req === undefined) return up.close();
    const header = proxyHeaderFor(this.backend!.cfg.client_address, c.socket);
    if (header) send(up, header); // such a connection speaks for this client only: never pooled
    this.attach(up);
  }

  /** Start the exchange on `up`: send the head, then the carrier sends what it holds of the body. */
  private attach(up: Upstream): void {
    this.up = up;
    up.owner = this;
    up.uses++;
    this.backend!.pool.connectionStart(up.server);
    const req = this.req!;
    const c = this.carrier;
    this.res = new ResponseReader(req.method, this.rt.limits, c, req.versionMinor === 0 && req.keepAlive, req.upgrade !== undefined, this.resEdit);
    const sent = send(up, this.reqOut!);
    if (sent === LOST) return this.upstreamClosed();
    if (sent === QUEUED) c.pauseClient();
    c.attached(up);
  }

  // ---------------------------------------------------------------- server side (UpstreamOwner)

  upstreamData(buf: Uint8Array): void {
    const res = this.res!;
    const c = this.carrier;
    const out = res.feed(buf);
    if (out.error) {
      if (logEnabled("info")) log.info(`service "${this.service.name}": invalid response from ${this.up!.server}: ${out.error}`);
      this.backend!.pool.report(this.up!.server, "reset", `invalid response: ${out.error}`);
      this.up!.abort();
      this.releaseServer();
      return c.failed(res.started ? 0 : 502);
    }
    if (out.tunnel) return this.upgrade(out.parts, out.tunnel.rest);
    // One write per chunk from the server: a head and the body bytes that
    // came with it go out together (one syscall, one packet).
    const parts = out.parts;
    const chunk = parts.length === 1 ? parts[0] : parts.length > 1 ? concatBytes(parts) : undefined;
    if (chunk !== undefined) {
      c.trace.sent(chunk.length, !res.started);
      res.started = true;
      const sent = c.respond(chunk);
      if (sent === LOST) return c.lost();
      if (sent === QUEUED && !this.upPaused) {
        this.upPaused = true;
        this.up!.socket.pause();
      }
    }
    if (res.done) {
      if (out.extra) this.up!.abort(); // bytes past the response: never reuse
      this.maybeComplete();
    }
  }

  upstreamDrain(): void {
    const r = flush(this.up!);
    if (r === LOST) return this.upstreamClosed();
    if (r === SENT) this.carrier.resumeClient();
  }

  upstreamClosed(err?: Error): void {
    const res = this.res!;
    const up = this.up!;
    const c = this.carrier;
    if (res.closeDelimited && !res.done && !err) {
      // The body ended with the connection, as announced.
      res.finishByClose();
      this.mustClose = true;
      return this.maybeComplete();
    }
    this.releaseServer();
    if (res.started) return c.lost(); // mid-response: nothing sane to add
    // No response at all. On a reused connection that is the keep-alive
    // race (the server closed it as the request went out), not a failure of
    // the server: a request plb may repeat goes once more on a fresh
    // connection; any other closes the client unanswered, as the server's
    // own keep-alive close would have (it came after an earlier answer).
    if (up.uses > 1) {
      if (!this.retried && retryable(this.req!)) {
        this.retried = true;
        this.connectTo(up.server);
        return;
      }
      if (logEnabled("info")) log.info(`service "${this.service.name}": ${up.server} closed a reused connection before answering ${this.req!.method}; closing ${c.clientAddress} unanswered so it may retry`);
      return c.failed(0);
    }
    // An h2 stream the server refused unprocessed (its GOAWAY) is no failure of the server.
    if (!(err instanceof PlbError && err.code === "STREAM_REFUSED")) this.backend!.pool.report(up.server, "reset", err ? `connection reset: ${err.message}` : "closed before answering");
    c.failed(502);
  }

  /** 101 Switching Protocols: hand the server connection to the carrier as a tunnel. */
  private upgrade(head: Uint8Array[], rest: Uint8Array | undefined): void {
    const up = this.up!;
    if (events.request.active) this.publish(up.server.key, 101, "done");
    this.res!.started = true;
    up.owner = undefined;
    this.up = undefined;
    this.upPaused = false;
    this.carrier.upgraded(up, this.backend!, head, rest);
  }

  // ---------------------------------------------------------------- completion

  /** Both directions done: release the server connection and tell the carrier. */
  private maybeComplete(): void {
    const res = this.res;
    if (!res?.done) return;
    const up = this.up!;
    const head = res.head!;
    if (!this.body!.done) {
      // Answered before the request body ended: the server connection is out
      // of sync, and so is the client's (we stop reading its body).
      up.abort();
      this.mustClose = true;
    } else if (!up.closed && head.keepAlive && !res.closeDelimited && !up.server.removed) {
      up.owner = undefined;
      if (this.private) {
        // Told the server who the client is (PROXY header): keep it for this client only.
        up.onIdleClose = () => void (this.ownUp === up && (this.ownUp = undefined));
        this.ownUp = up;
      } else {
        const pool = this.brt!.pool;
        up.onIdleClose = (u) => pool.remove(u.server, u);
        pool.put(up.server, up, now(), announcedIdleMs(head));
      }
    } else up.close(); // the server ends its connection: the client's stays open
    if (this.brt!.failOn5xx) this.backend!.pool.report(up.server, head.status >= 500 ? "reset" : "connected", `HTTP ${head.status}`);
    if (events.request.active) this.publish(up.server.key, head.status, "done");
    this.releaseServer();
    this.carrier.completed(this.mustClose);
  }

  /** The carrier is done with the current request (answered, or it goes on to the next). */
  reset(): void {
    this.req = this.body = this.reqOut = this.res = undefined;
  }

  /** Forget the current server connection (it is pooled, closed or aborted). */
  private releaseServer(): void {
    const up = this.up;
    if (up) {
      if (up.owner === this) up.owner = undefined;
      // Paused for a slow client as its response completed: a pooled connection must read again for its next user.
      if (this.upPaused && !up.closed) up.socket.resume();
      this.backend!.pool.connectionEnd(up.server);
      this.up = undefined;
    }
    this.upPaused = false;
  }

  /**
   * Tell request listeners the current request is over with `status` (0:
   * nothing answered), served by `server` (a key; undefined: plb answered);
   * call only while events.request.active.
   */
  publish(server: string | undefined, status: number, cause: EndCause): void {
    this.carrier.trace.publish(this.facts(server), status, cause);
  }

  /** The server picked last for the current request (for its event). */
  get lastServer(): string | undefined {
    return this.server?.key;
  }

  /** What a request event names of the carrier and its current request (one object, reused: read at once). */
  private facts(server: string | undefined): RequestFacts {
    const f = FACTS;
    const c = this.carrier;
    f.service = this.service.name;
    f.client = c.clientAddress;
    f.clientPort = c.clientPort;
    f.backend = server === undefined ? undefined : this.backend?.name;
    f.requestId = this.requestId;
    f.server = server;
    f.req = this.req;
    f.held = c.heldBytes;
    f.headBytes = this.res?.headBytes ?? 0;
    f.retries = (this.tried?.size ?? 0) + (this.retried ? 1 : 0);
    return f;
  }
}

const FACTS: { -readonly [K in keyof RequestFacts]: RequestFacts[K] } = { service: "", client: "", clientPort: 0, backend: undefined, server: undefined, requestId: "", req: undefined, held: 0, headBytes: 0, retries: 0 };
