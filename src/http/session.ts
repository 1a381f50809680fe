/**
 * One HTTP client connection. Requests are read one at a time (pipelined
 * ones wait in the buffer, answered in order); each is balanced on its own
 * to a server, sent over a pooled or new connection, and its body and the
 * response stream through as they arrive with backpressure both ways. plb
 * answers malformed requests, unavailable and failing servers itself
 * (replies.ts) and closes the client after any framing error.
 */
import { concatBytes } from "../net/bytes.ts";
import { clientIp, clientPort, proxyHeaderFor } from "../net/client-address.ts";
import { localConnectFailure } from "../net/fd-limit.ts";
import { now } from "../net/clock.ts";
import { connect, type PendingConnect } from "../net/connect.ts";
import { flush, LOST, NO_QUEUE, QUEUED, type QueuedWriter, send, SENT } from "../net/outbox.ts";
import { Pipe, type PipeOwner } from "../net/pipe.ts";
import { earliest, type Sweepable } from "../net/sweep.ts";
import type { ConnectFailure, Sock, SocketEvents } from "../net/types.ts";
import type { Server } from "../servers/server.ts";
import type { ServiceConfig } from "../config/types.ts";
import type { BackendHandle, ServiceHandle } from "../protocol.ts";
import { logEnabled, logger } from "../log.ts";
import { events } from "../events.ts";
import { causeOf, HttpTrace, type RequestFacts } from "./trace.ts";
import { hashKey, HOLD_LIMIT, retryable } from "./_private.ts";
import { BodyTracker } from "./body.ts";
import { type ClientForwarding, forwardedRequestHead, forwardingFor } from "./forward.ts";
import { announcedIdleMs } from "./keep-alive.ts";
import { parseRequestHead } from "./head.ts";
import { type ResponseClient, ResponseReader } from "./response.ts";
import type { HttpBackendRuntime, HttpRuntime } from "./runtime.ts";
import { RequestRouter } from "./routing.ts";
import { type HeadEdit, NO_EDIT } from "../routes/rewrite.ts";
import { BODY_NONE, type RequestHead } from "./types.ts";
import { Upstream, type UpstreamOwner } from "./upstream.ts";

const log = logger("http");

const enum Phase {
  /** Waiting for (the rest of) a request head. */
  Head,
  /** A request is being handled: connecting, sending, or awaiting the response. */
  Exchange,
  /** Closing after a last reply; nothing more is read. */
  Closing,
}

export class HttpSession implements SocketEvents, QueuedWriter, Sweepable, UpstreamOwner, PipeOwner, ResponseClient {
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
  private readonly clientAddress: string;
  /** The forwarding fields (X-Forwarded-For…), made once for the client's address. */
  private readonly forwarding: ClientForwarding;
  private readonly clientPort: number;
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

  // The current exchange.
  private req: RequestHead | undefined;
  private reqOut: Uint8Array | undefined;
  private reqBody: BodyTracker | undefined;
  private server: Server | undefined;
  private tried: Set<Server> | undefined;
  private pending: PendingConnect | undefined;
  private up: Upstream | undefined;
  private retried = false;
  /** Responses completed on this client connection. */
  private served = 0;
  private res: ResponseReader | undefined;
  private upPaused = false;
  /** Close the client once the current response is complete. */
  private closeAfter = false;
  /** Server connections of the current backend carry a PROXY header for this client: not shared. */
  private private = false;
  /** This client's own idle server connection (private mode). */
  private ownUp: Upstream | undefined;
  /** After a 101: the byte pipe between client and server. */
  private tunnel: Pipe | undefined;
  private tunnelServer: Server | undefined;

  /** What the lifecycle events are told (bytes, times). */
  private readonly trace = new HttpTrace();

  /** The configuration and runtime of the current request (a reload applies from the next one). */
  private cfg: ServiceConfig;
  private rt: HttpRuntime;
  /** The backend of the current request, and what its sessions share (idle server connections). */
  private backend: BackendHandle | undefined;
  private brt: HttpBackendRuntime | undefined;
  /** Routes this connection's requests (made at the first request of a service with routes or request_id). */
  private router: RequestRouter | undefined;
  /** What the current request's route changes in the response head. */
  private resEdit: HeadEdit = NO_EDIT;
  /** The current request's X-Request-Id ("" without request_id). */
  private requestId = "";

  constructor(
    readonly socket: Sock,
    readonly service: ServiceHandle,
  ) {
    this.cfg = service.cfg;
    this.rt = service.shared as HttpRuntime;
    // undefined for a connection reset before plb saw it
    this.clientAddress = clientIp(socket);
    this.forwarding = forwardingFor(this.clientAddress);
    // Reading it costs a getpeername(2): only when someone will be told.
    this.clientPort = events.sessionEnd.active || events.request.active ? clientPort(socket) : 0;
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
    if (this.phase === Phase.Exchange && this.up && this.reqBody && !this.reqBody.done && this.inbuf === undefined) {
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
    if (r === SENT && this.upPaused && this.up) {
      this.upPaused = false;
      this.up.socket.resume();
    }
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
    this.pending?.cancel();
    if (this.up) {
      this.up.abort();
      this.releaseServer();
    }
    this.reply(this.res?.started ? 0 : 400);
  }

  onClose(): void {
    if (this.gone) return;
    this.pending?.cancel();
    if (this.up) {
      this.up.abort();
      this.releaseServer();
    }
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

  private pauseClient(): void {
    if (this.clientPaused) return;
    this.clientPaused = true;
    this.pausedAt = now();
    this.socket.pause();
  }

  private resumeClient(): void {
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
    this.req = head;
    this.trace.request(r.consumed);
    this.closeAfter = !head.keepAlive;
    this.tried = undefined;
    this.retried = false;
    const svc = this.service;
    const routed = svc.cfg.routes.length > 0 || this.cfg.http.request_id ? (this.router ??= new RequestRouter(this.clientAddress, this.rt.proto)).route(svc, head, this.cfg.http.request_id) : undefined;
    this.requestId = routed?.requestId ?? "";
    this.resEdit = routed?.response ?? NO_EDIT;
    if (routed?.answer !== undefined) return this.answer(routed.answer.bytes, routed.answer.status, routed.answer.close);
    const backend = routed === undefined ? svc.backend : routed.backend;
    if (backend === undefined) {
      if (logEnabled("info")) log.info(`service "${svc.name}": 404 for ${this.clientAddress}: no route takes ${head.method} ${head.target}`);
      return this.reply(404);
    }
    this.reqBody = head.body.kind === "none" ? NO_BODY : new BodyTracker(head.body, false, maxBody);
    this.reqOut = forwardedRequestHead(buf, head, this.forwarding, this.rt.proto, this.cfg.http, routed?.request);
    this.phase = Phase.Exchange;
    this.useBackend(backend);
    this.pickServer();
  }

  /**
   * A route answers the request itself (respond, redirect): the answer goes
   * out and the connection reads on, or closes (`close`: a request body
   * plb did not read, or a client that asked to).
   */
  private answer(bytes: Uint8Array, status: number, close: boolean): void {
    this.trace.replied(bytes);
    if (events.request.active) this.trace.publish(this.facts(undefined), status, "done");
    this.served++;
    if (close) {
      this.phase = Phase.Closing;
      if (send(this, bytes) === LOST) return this.abortAll();
      return this.closeClient();
    }
    if (send(this, bytes) === LOST) return this.abortAll();
    this.next();
  }

  /** Forward request body bytes to the upstream, keeping any bytes past the body. */
  private requestBody(buf: Uint8Array): void {
    const body = this.reqBody!;
    const step = body.take(buf, 0, buf.length);
    if (step.kind === "error") {
      // The server has part of a request: that connection is spoiled.
      if (logEnabled("info")) log.info(`service "${this.service.name}": ${step.status} for ${this.clientAddress}: ${step.reason}`);
      this.up?.abort();
      this.releaseServer();
      return this.reply(this.res?.started ? 0 : step.status);
    }
    if (step.consumed > 0) {
      this.trace.body(step.consumed);
      const chunk = step.consumed === buf.length ? buf : buf.subarray(0, step.consumed);
      const sent = send(this.up!, chunk);
      if (sent === QUEUED) this.pauseClient();
      else if (sent === LOST) return this.upstreamClosed();
    }
    if (step.consumed < buf.length) this.hold(buf.subarray(step.consumed));
    if (step.kind === "done") this.maybeComplete();
  }

  // ---------------------------------------------------------------- choosing and connecting

  /** The request goes to `backend`. */
  private useBackend(backend: BackendHandle): void {
    this.backend = backend;
    this.brt = backend.shared as HttpBackendRuntime;
    const mode = backend.cfg.client_address;
    this.private = mode === "proxy-v1" || mode === "proxy-v2";
  }

  private pickServer(): void {
    const b = this.backend!;
    const server = b.pool.balancer.pick({
      client: b.usesClient ? this.clientAddress : undefined,
      key: b.hashes === undefined ? undefined : hashKey(this.req!, b.hashes, b.cfg.http.hash_header),
      tried: this.tried,
    }) as Server | undefined;
    if (server === undefined || server.address === undefined) {
      if (logEnabled("info")) log.info(`service "${this.service.name}": no server of "${b.name}" available for ${this.clientAddress}: 503`);
      return this.reply(503);
    }
    this.server = server;
    const own = this.ownUp;
    this.ownUp = undefined;
    if (own && !own.closed && own.server === server) return this.attach(own);
    own?.close();
    // Idle pooled connections may have been closed by their server just now.
    // A request plb can retry may take one; others only once this client
    // connection has had an answer (HAProxy's http-reuse safe): should the
    // server close it unanswered, the client sees its own keep-alive
    // connection close and may send the request again itself.
    const reuse = !this.private && (this.served > 0 || retryable(this.req!));
    const idle = reuse ? this.brt!.pool.take(server, now()) : undefined;
    if (idle) return this.attach(idle);
    this.trace.connecting();
    this.pending = connect(server.address, server.port, b.cfg.timeout_connect, this);
  }

  connected(sock: Sock): void {
    this.pending = undefined;
    const server = this.server!;
    this.trace.connected(this.service.name, this.backend!.name, server.key, "connected");
    this.backend!.pool.report(server, "connected");
    const up = new Upstream(sock, server);
    if (this.gone || this.phase !== Phase.Exchange) return up.close();
    const header = proxyHeaderFor(this.backend!.cfg.client_address, this.socket);
    if (header) send(up, header); // such a connection speaks for this client only: never pooled
    this.attach(up);
  }

  failed(reason: ConnectFailure, detail: string): void {
    this.pending = undefined;
    this.trace.connected(this.service.name, this.backend!.name, this.server!.key, reason);
    if (localConnectFailure(reason, this.service.admission)) return this.reply(503);
    this.backend!.pool.report(this.server!, reason, detail);
    if (this.gone || this.phase !== Phase.Exchange) return;
    (this.tried ??= new Set()).add(this.server!);
    this.pickServer();
  }

  /** Start the exchange on `up`: send the head and what is held of the body. */
  private attach(up: Upstream): void {
    this.up = up;
    up.owner = this;
    up.uses++;
    this.backend!.pool.connectionStart(up.server);
    const req = this.req!;
    this.res = new ResponseReader(
      req.method,
      this.rt.limits,
      this,
      req.versionMinor === 0 && req.keepAlive,
      req.upgrade !== undefined,
      this.resEdit,
    );
    const sent = send(up, this.reqOut!);
    if (sent === LOST) return this.upstreamClosed();
    if (sent === QUEUED) this.pauseClient();
    const held = this.inbuf;
    if (held !== undefined && !this.reqBody!.done) {
      this.inbuf = undefined;
      this.requestBody(held);
    } else if (this.reqBody!.done) this.maybeComplete();
    // The client's FIN came while connecting and its body is still short.
    if (this.clientEnded && this.reqBody && !this.reqBody.done && this.inbuf === undefined) return this.truncated();
    // Paused while connecting (held bytes over the limit): read on unless
    // the server is the one holding us back now.
    if (this.up === up && up.queue.length === 0 && this.inbuf === undefined) this.resumeClient();
  }

  // ---------------------------------------------------------------- server side

  /** ResponseClient: this connection ends after the current response. */
  get closesAfterResponse(): boolean {
    return this.closeAfter || (this.clientEnded && this.inbuf === undefined);
  }

  upstreamData(buf: Uint8Array): void {
    const res = this.res!;
    const out = res.feed(buf);
    if (out.error) {
      if (logEnabled("info")) log.info(`service "${this.service.name}": invalid response from ${this.server}: ${out.error}`);
      this.backend!.pool.report(this.server!, "reset", `invalid response: ${out.error}`);
      this.up!.abort();
      this.releaseServer();
      return this.reply(res.started ? 0 : 502);
    }
    if (out.tunnel) return this.startTunnel(out.parts, out.tunnel.rest);
    // One write per chunk from the server: a head and the body bytes that
    // came with it go out together (one syscall, one packet).
    const parts = out.parts;
    const chunk = parts.length === 1 ? parts[0] : parts.length > 1 ? concatBytes(parts) : undefined;
    if (chunk !== undefined) {
      this.trace.sent(chunk.length, !res.started);
      res.started = true;
      const sent = send(this, chunk);
      if (sent === LOST) return this.abortAll();
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
    if (r === SENT) this.resumeClient();
  }

  upstreamClosed(err?: Error): void {
    const res = this.res!;
    const up = this.up!;
    if (res.closeDelimited && !res.done && !err) {
      // The body ended with the connection, as announced.
      res.finishByClose();
      this.closeAfter = true;
      return this.maybeComplete();
    }
    this.releaseServer();
    if (res.started) return this.abortAll(); // mid-response: nothing sane to add
    // No response at all. On a reused connection that is the keep-alive
    // race (the server closed it as the request went out), not a failure of
    // the server: a request plb may repeat goes once more on a fresh
    // connection; any other closes the client unanswered, as the server's
    // own keep-alive close would have (it came after an earlier answer).
    if (up.uses > 1) {
      if (!this.retried && retryable(this.req!)) {
        this.retried = true;
        this.server = up.server;
        this.trace.connecting();
        this.pending = connect(up.server.address!, up.server.port, this.backend!.cfg.timeout_connect, this);
        return;
      }
      if (logEnabled("info")) log.info(`service "${this.service.name}": ${up.server} closed a reused connection before answering ${this.req!.method}; closing ${this.clientAddress} unanswered so it may retry`);
      return this.reply(0);
    }
    this.backend!.pool.report(up.server, "reset", err ? `connection reset: ${err.message}` : "closed before answering");
    this.reply(502);
  }

  // ---------------------------------------------------------------- upgrade

  /** 101 Switching Protocols: from now on both sockets are one byte pipe. */
  private startTunnel(head: Uint8Array[], rest: Uint8Array | undefined): void {
    const up = this.up!;
    if (events.request.active) this.trace.publish(this.facts(up.server.key), 101, "done");
    this.res!.started = true;
    up.owner = undefined;
    this.up = undefined;
    this.tunnelServer = up.server;
    const clientQueue = this.queue;
    this.queue = NO_QUEUE;
    const pipe = (this.tunnel = new Pipe(this.socket, up.socket, this));
    pipe.a.queue = clientQueue; // what waits for the client goes first
    pipe.b.queue = up.queue;
    for (const h of head) pipe.b.onData(h); // the 101 head, as if the server sent it now
    if (rest) pipe.b.onData(rest);
    const held = this.inbuf;
    this.inbuf = undefined;
    if (held) pipe.a.onData(held);
    if (this.clientEnded) pipe.a.onEnd();
    this.clientPaused = this.upPaused = false;
    this.socket.resume();
    up.socket.resume();
  }

  pipeClosed(): void {
    if (this.tunnelServer) this.backend!.pool.connectionEnd(this.tunnelServer);
    this.tunnelServer = undefined;
    this.finish();
  }

  // ---------------------------------------------------------------- completion

  /** Both directions done: release the server connection and go on. */
  private maybeComplete(): void {
    const res = this.res;
    if (!res?.done) return;
    const up = this.up!;
    const head = res.head!;
    if (!this.reqBody!.done) {
      // Answered before the request body ended: the server connection is out
      // of sync, and so is the client's (we stop reading its body).
      up.abort();
      this.closeAfter = true;
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
    if (events.request.active) this.trace.publish(this.facts(up.server.key), head.status, "done");
    this.served++;
    this.releaseServer();
    this.next();
  }

  /** After a response: close, or read the next (maybe already held) request. */
  private next(): void {
    this.req = this.reqBody = this.reqOut = this.res = undefined;
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

  /** Forget the current server connection (it is pooled, closed or aborted). */
  private releaseServer(): void {
    if (this.up) {
      if (this.up.owner === this) this.up.owner = undefined;
      this.backend!.pool.connectionEnd(this.up.server);
      this.up = undefined;
    }
    this.upPaused = false;
  }

  /** Answer `status` (0: nothing) and close the client. */
  private reply(status: number): void {
    this.pending?.cancel();
    const answered = this.phase !== Phase.Closing;
    this.phase = Phase.Closing;
    const body = status !== 0 ? this.rt.reply(status) : undefined;
    if (body) this.trace.replied(body);
    if (answered && events.request.active) this.trace.publish(this.facts(this.server?.key), status || (this.res?.head?.status ?? 0), causeOf(status, this.res?.started ?? false));
    if (body && send(this, body) === LOST) return this.abortAll();
    this.closeClient();
  }

  /** What a request event names of this connection and its current request (one object, reused: read at once). */
  private facts(server: string | undefined): RequestFacts {
    const f = FACTS;
    f.service = this.service.name;
    f.client = this.clientAddress;
    f.clientPort = this.clientPort;
    f.backend = server === undefined ? undefined : this.backend?.name;
    f.requestId = this.requestId;
    f.server = server;
    f.req = this.req;
    f.held = this.inbuf?.length ?? 0;
    f.headBytes = this.res?.headBytes ?? 0;
    f.retries = (this.tried?.size ?? 0) + (this.retried ? 1 : 0);
    return f;
  }

  /** End the client connection once everything queued for it is written. */
  private closeClient(): void {
    this.phase = Phase.Closing;
    if (this.queue.length > 0) return; // onDrain finishes the job
    this.socket.end();
    this.finish();
  }

  private abortAll(): void {
    this.pending?.cancel();
    if (this.up) {
      this.up.abort();
      this.releaseServer();
    }
    this.socket.terminate();
    this.finish();
  }

  private finish(): void {
    if (this.gone) return;
    this.gone = true;
    this.ownUp?.close();
    this.ownUp = undefined;
    this.phase = Phase.Closing;
    this.service.untrack(this);
    if (events.sessionEnd.active) {
      const t = this.trace;
      events.sessionEnd.publish({
        service: this.service.name,
        protocol: "http",
        client: this.clientAddress,
        clientPort: this.clientPort,
        backend: this.tunnelServer?.backend,
        server: this.tunnelServer?.key,
        start: t.started,
        durationMs: now() - t.started,
        bytesIn: t.bytesIn + (this.tunnel?.a.bytesIn ?? 0),
        bytesOut: t.bytesOut + (this.tunnel?.b.bytesIn ?? 0),
        cause: t.endCause ?? (this.clientEnded ? "client_closed" : "client_reset"),
        tried: this.served,
        handshake: undefined,
        handshakeDetail: "",
      });
    }
  }

  // ---------------------------------------------------------------- timeouts

  sweep(now: number): void {
    const cfg = this.cfg;
    const t = this.tunnel;
    if (t) {
      if (now - t.a.last > cfg.timeout_client || now - t.b.last > this.backend!.cfg.timeout_server) {
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
    const up = this.up;
    const awaitingClient = this.reqBody !== undefined && !this.reqBody.done && !this.clientPaused;
    const slow = awaitingClient && this.bodyDue !== 0 && now > this.bodyDue;
    if (awaitingClient && (slow || now - this.last > cfg.timeout_client)) {
      // The client stalled or trickles in the middle of its body: its fault, not the server's.
      if (logEnabled("info")) log.info(`service "${this.service.name}": 408 for ${this.clientAddress}: request body ${slow ? `slower than ${cfg.http.min_body_rate} bytes/s` : `idle for ${cfg.timeout_client} ms`}`);
      this.pending?.cancel();
      if (up) {
        up.abort();
        this.releaseServer();
      }
      return this.reply(this.res?.started ? 0 : 408);
    }
    const timeoutServer = up?.server && this.backend !== undefined ? this.backend.cfg.timeout_server : Infinity;
    if (up && !awaitingClient && now - up.last > timeoutServer) {
      const started = this.res?.started ?? false;
      if (!started) this.backend!.pool.report(up.server, "timeout", `no response within ${timeoutServer} ms`);
      up.abort();
      this.releaseServer();
      return this.reply(started ? 0 : 504);
    }
    if (now - this.last > cfg.timeout_client && this.queue.length > 0) this.abortAll();
  }

  retiredSince(): number {
    const server = this.tunnelServer ?? this.up?.server;
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

const FACTS: { -readonly [K in keyof RequestFacts]: RequestFacts[K] } = { service: "", client: "", clientPort: 0, backend: undefined, server: undefined, requestId: "", req: undefined, held: 0, headBytes: 0, retries: 0 };
