/**
 * The one connect-and-fail-over path, for every protocol: pick a server from
 * a backend's balancer (never one already tried for this client), connect
 * with the backend's timeout_connect, run the protocol's handshake if it has
 * one, report each outcome to the backend's servers (servers/state: the
 * only place that counts failures) and publish the connect event; on a
 * failure go on with the next server the balancer gives, each at most once.
 * The owner hears of a ready server socket, or that there is none.
 *
 * The base class of the relay session (tcp, smtp; one attempt per client)
 * and of the http exchange (one per client connection, restarted for each
 * request: nothing is allocated per request).
 */
import { connect, type ConnectCallbacks, type PendingConnect } from "../net/connect.ts";
import { localConnectFailure } from "../net/fd-limit.ts";
import type { ConnectFailure, Sock } from "../net/types.ts";
import type { HandshakeResult } from "../relay/handshake.ts";
import type { Outcome, Server } from "../servers/server.ts";
import type { BackendHandle, ServiceHandle } from "../protocol.ts";
import { events } from "../events.ts";

/**
 * The path itself, as the base class of its owner (a relay session, an http
 * exchange): one object per client connection rather than two, since idle
 * connections are many. The owner implements `reuse`, `serverReady` and
 * `noServer`, and may run a handshake.
 */
export abstract class ServerAttempt implements ConnectCallbacks {
  /** The backend of the current attempt (set by `start`). */
  backend!: BackendHandle;
  /** The server picked last (connecting, connected, or the last one that failed; a restart keeps it until the next pick). */
  server: Server | undefined;
  /** Servers that failed for this client: the balancer skips them. */
  tried: Set<Server> | undefined;
  /** ms of the last connect that succeeded since `start`; -1 for none (or not timed). */
  connectMs = -1;
  /** Time connects even when nobody listens to connect events (http: a request listener wants connect_ms). */
  protected timed = false;

  private pending: PendingConnect | undefined;
  /** performance.now() at the start of the current connect, 0 when it is not timed. */
  private connectAt = 0;
  /** The balancer's inputs: the client's key (source hashing) and the request's (path, header). */
  private pickClient: string | undefined;
  private pickKey: string | undefined;
  /** The owner went away: a late connect or handshake is reported and the socket closed. */
  private cancelled = false;

  constructor(readonly service: ServiceHandle) {}

  /**
   * `server` was picked: true when the owner already has a connection to it
   * (http: an idle pooled one) and no connect is needed.
   */
  protected abstract reuse(server: Server): boolean;
  /**
   * A server is connected (and handshaken) and was reported as such: the
   * socket is the owner's now (hand its events over). `toClient` is what
   * the handshake says the client gets first (the smtp greeting).
   */
  protected abstract serverReady(sock: Sock, server: Server, toClient: Uint8Array | undefined): void;
  /** Nothing to connect to: no server left (`local` false), or plb itself is out of descriptors (`local` true). */
  protected abstract noServer(local: boolean): void;
  /**
   * Run the protocol's handshake on a fresh server socket (its events are
   * the handshake's), then call `handshaken` once; false when there is none.
   */
  protected handshake(_sock: Sock, _server: Server): boolean {
    return false;
  }

  /** Look for a server of `backend` afresh (a new request: nothing tried yet). */
  start(backend: BackendHandle, client: string | undefined, key: string | undefined): void {
    this.backend = backend;
    this.pickClient = client;
    this.pickKey = key;
    this.tried = undefined;
    this.connectMs = -1;
    this.cancelled = false;
    this.next();
  }

  /** Try the next server, or tell the owner there is none. */
  private next(): void {
    const server = this.backend.pool.balancer.pick({ client: this.pickClient, key: this.pickKey, tried: this.tried }) as Server | undefined;
    if (server === undefined || server.address === undefined) return this.noServer(false);
    this.server = server;
    if (this.reuse(server)) return;
    this.connectTo(server);
  }

  /** Connect to `server` itself (http: once more after a reused connection closed unanswered). */
  protected connectTo(server: Server): void {
    this.server = server;
    this.connectAt = this.timed || events.connect.active ? performance.now() : 0;
    this.pending = this.open(server);
  }

  /** Start the connect to `server` (http: an h2 backend gives a stream of its connection pool instead). */
  protected open(server: Server): PendingConnect {
    return connect(server.address!, server.port, this.backend.cfg.timeout_connect, this, this.backend.tls, server.tlsName);
  }

  /** Count `server` as failed for this client (reported already) and go on with the next one. */
  protected failOver(server: Server): void {
    (this.tried ??= new Set()).add(server);
    this.next();
  }

  /** The owner is gone (or gave up on this request): no callback runs any more. */
  protected cancel(): void {
    this.cancelled = true;
    this.pending?.cancel();
    this.pending = undefined;
  }

  /** Servers tried: those that failed, and the current one unless it did. */
  get triedCount(): number {
    const t = this.tried;
    return (t?.size ?? 0) + (this.server && !t?.has(this.server) ? 1 : 0);
  }

  /** Tell connect listeners (and the owner's timing) how the connect to the current server went. */
  private outcome(outcome: Outcome): void {
    if (this.connectAt === 0) return;
    const ms = performance.now() - this.connectAt;
    this.connectAt = 0;
    if (outcome === "connected") this.connectMs = ms;
    if (events.connect.active) events.connect.publish({ service: this.service.name, backend: this.backend.name, server: this.server!.key, outcome, ms });
  }

  /** ConnectCallbacks (net/connect.ts). */
  connected(sock: Sock): void {
    this.pending = undefined;
    this.outcome("connected");
    const server = this.server!;
    if (this.cancelled) {
      this.backend.pool.report(server, "connected");
      sock.terminate();
      return;
    }
    if (!this.handshake(sock, server)) this.ready(sock, server, undefined);
  }

  /** The handshake on `sock` to `server` is over. */
  protected handshaken(sock: Sock, server: Server, r: HandshakeResult): void {
    if (!r.ok) {
      this.backend.pool.report(server, r.outcome, r.detail);
      if (this.cancelled) return;
      return this.failOver(server);
    }
    if (this.cancelled) {
      this.backend.pool.report(server, "connected");
      sock.terminate();
      return;
    }
    this.ready(sock, server, r.toClient);
  }

  private ready(sock: Sock, server: Server, toClient: Uint8Array | undefined): void {
    this.backend.pool.report(server, "connected");
    this.serverReady(sock, server, toClient);
  }

  /** ConnectCallbacks (net/connect.ts). */
  failed(reason: ConnectFailure, detail: string): void {
    this.pending = undefined;
    this.outcome(reason);
    // Out of file descriptors looks like "refused": plb's fault, not the server's.
    if (localConnectFailure(reason, this.service.admission)) {
      if (!this.cancelled) this.noServer(true);
      return;
    }
    const server = this.server!;
    this.backend.pool.report(server, reason, detail);
    if (this.cancelled) return;
    this.failOver(server);
  }
}
