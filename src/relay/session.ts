/**
 * One relayed client connection (tcp, and smtp after its greeting check):
 * pick a server, connect (failing over to the next server the balancer
 * gives, each at most once), run the protocol's handshake if it has one,
 * then pipe bytes both ways. Bytes the client sends meanwhile are kept (the
 * client is paused past 64 KiB) and replayed to the server that answers.
 */
import { clientIp, clientPort } from "../net/client-address.ts";
import { handOver } from "../net/handlers.ts";
import { earliest, type Sweepable } from "../net/sweep.ts";
import { connect, type PendingConnect } from "../net/connect.ts";
import { localConnectFailure } from "../net/fd-limit.ts";
import { Pipe, type PipeOwner } from "../net/pipe.ts";
import type { ConnectFailure, Sock, SocketEvents } from "../net/types.ts";
import type { Handshake, HandshakeResult } from "./handshake.ts";
import type { Outcome, Server } from "../servers/server.ts";
import type { ServiceConfig } from "../config/types.ts";
import type { BackendHandle, ServiceHandle } from "../protocol.ts";
import { logEnabled, logger } from "../log.ts";
import { type EndCause, events } from "../events.ts";
import { now } from "../net/clock.ts";

const log = logger("relay");

/** Early client bytes held while connecting before the client is paused. */
const EARLY_LIMIT = 64 << 10;

export interface RelayOptions {
  /** Runs on each fresh server connection before relaying (smtp greeting, PROXY header). */
  readonly handshake?: Handshake;
  /** Sent to the client when no server is available (smtp: a 421 reply). */
  readonly noServer?: Uint8Array;
}

export class RelaySession implements SocketEvents, PipeOwner, Sweepable {
  private server: Server | undefined;
  private tried: Set<Server> | undefined;
  private pending: PendingConnect | undefined;
  private pipe: Pipe | undefined;
  /** Client bytes read before the pipe exists, in order. */
  private early: Uint8Array[] | undefined;
  private earlyBytes = 0;
  private earlyPaused = false;
  private clientFin = false;
  private gone = false;
  sweepPrev: Sweepable | null = null;
  sweepNext: Sweepable | null = null;
  /** The configuration this session started with (a reload applies to new sessions). */
  private readonly cfg: ServiceConfig;
  /** The backend it started with, and what its protocol set up for it (the handshake, the no-server reply). */
  private readonly backend: BackendHandle;
  private readonly opts: RelayOptions;
  /** What the lifecycle events need (only when someone listened at the accept: an idle session is smaller without). */
  private readonly obs: Observed | undefined;

  constructor(
    private readonly client: Sock,
    readonly service: ServiceHandle,
  ) {
    this.cfg = service.cfg;
    // A tcp or smtp service always has one (only http services may route without a default).
    this.backend = service.backend!;
    this.opts = (this.backend.shared as RelayOptions | undefined) ?? {};
    // The client's port costs a getpeername(2): read only when someone will be told
    // (a closed socket no longer has it).
    this.obs = events.sessionEnd.active || events.sessionStart.active || events.connect.active ? new Observed(client) : undefined;
    service.track(this);
    if (events.sessionStart.active) events.sessionStart.publish({ service: service.name, protocol: service.cfg.protocol, client: clientIp(client) });
  }

  onOpen(): void {
    this.next();
  }

  /** Try the next server, or give up and close the client. */
  private next(): void {
    const svc = this.service;
    const backend = this.backend;
    const server = backend.pool.balancer.pick({ client: backend.clientKey(this.client), tried: this.tried }) as Server | undefined;
    if (server === undefined || server.address === undefined) {
      if (logEnabled("info")) log.info(`service "${svc.name}": no server available for ${clientIp(this.client)}, closing`);
      // The cause first: end() may close the socket (and call onClose) at once.
      this.ended("no_server");
      if (this.opts.noServer) {
        const n = this.client.write(this.opts.noServer);
        if (this.obs) this.obs.replied = n;
      }
      this.client.end();
      this.finish();
      return;
    }
    this.server = server;
    if (this.obs && events.connect.active) this.obs.connectAt = performance.now();
    this.pending = connect(server.address, server.port, backend.cfg.timeout_connect, this);
  }

  /** Tell connect listeners how the attempt to the current server went. */
  private connectOutcome(outcome: Outcome): void {
    const obs = this.obs;
    if (obs === undefined || obs.connectAt === 0 || !events.connect.active) return;
    events.connect.publish({ service: this.service.name, backend: this.backend.name, server: this.server!.key, outcome, ms: performance.now() - obs.connectAt });
    obs.connectAt = 0;
  }

  connected(sock: Sock): void {
    this.pending = undefined;
    this.connectOutcome("connected");
    const server = this.server!;
    if (this.gone) {
      this.backend.pool.report(server, "connected");
      sock.terminate();
      return;
    }
    const handshake = this.opts.handshake;
    if (handshake) handshake.run(sock, { client: this.client, server }, (r) => this.handshaken(sock, r));
    else this.relay(sock, undefined);
  }

  private handshaken(sock: Sock, r: HandshakeResult): void {
    const server = this.server!;
    if (this.obs) this.obs.handshake = r;
    if (!r.ok) {
      this.backend.pool.report(server, r.outcome, r.detail);
      if (this.gone) return;
      (this.tried ??= new Set()).add(server);
      return this.next();
    }
    if (this.gone) {
      this.backend.pool.report(server, "connected");
      sock.terminate();
      return;
    }
    this.relay(sock, r.toClient);
  }

  /** The server is ready: pipe the two sockets, `toClient` first. */
  private relay(sock: Sock, toClient: Uint8Array | undefined): void {
    const server = this.server!;
    const pool = this.backend.pool;
    pool.report(server, "connected");
    pool.connectionStart(server);
    const pipe = (this.pipe = new Pipe(this.client, sock, this));
    if (toClient) pipe.b.onData(toClient); // as if the server sent it now
    // Replay what the client sent meanwhile as if it arrived now.
    const early = this.early;
    this.early = undefined;
    this.earlyBytes = 0;
    if (early) for (const buf of early) pipe.a.onData(buf);
    if (this.clientFin) pipe.a.onEnd();
    else if (this.earlyPaused) {
      // resume now, or when the server's queue drains
      if (pipe.b.queue.length === 0) this.client.resume();
      else pipe.a.paused = true;
    }
    this.earlyPaused = false;
  }

  failed(reason: ConnectFailure, detail: string): void {
    this.pending = undefined;
    this.connectOutcome(reason);
    const server = this.server!;
    const svc = this.service;
    // Out of file descriptors looks like "refused": plb's fault, not the server's.
    if (localConnectFailure(reason, svc.admission)) {
      if (!this.gone) {
        this.client.end();
        this.finish();
      }
      return;
    }
    this.backend.pool.report(server, reason, detail);
    if (this.gone) return;
    (this.tried ??= new Set()).add(server);
    this.next();
  }

  /**
   * The server reset the connection before any byte went either way (it died
   * with us still in its accept queue): nothing was delivered, so fail over
   * as if the connect had failed.
   */
  resetBeforeData(_pipe: Pipe, err: Error): boolean {
    const a = this.pipe!.a;
    if (this.gone || a.closed) return false;
    const server = this.server!;
    const pool = this.backend.pool;
    pool.connectionEnd(server);
    pool.report(server, "reset", `connection reset before any data (${(err as { code?: string }).code ?? err.message})`);
    this.clientFin = a.readDone;
    handOver(this.client, this);
    this.pipe = undefined;
    (this.tried ??= new Set()).add(server);
    this.next();
    return true;
  }

  pipeClosed(pipe: Pipe): void {
    const pool = this.backend.pool;
    pool.connectionEnd(this.server!);
    // A server that resets a session in the middle has failed that client.
    const err = pipe.serverError as (Error & { code?: string }) | undefined;
    if (err) pool.report(this.server!, "reset", `connection reset during a session (${err.code ?? err.message})`);
    this.ended(err ? "server_reset" : pipe.clientReset ? "client_reset" : pipe.endedFirst === pipe.b ? "server_closed" : "client_closed", false);
    this.finish();
  }

  sweep(now: number): void {
    const p = this.pipe;
    if (p === undefined) return;
    const cfg = this.cfg;
    if (now - p.a.last > cfg.timeout_client || now - p.b.last > this.backend.cfg.timeout_server) {
      if (logEnabled("debug")) log.debug(`idle timeout: closing ${clientIp(this.client)} ⇄ ${this.server}`);
      this.ended("timeout");
      p.abort();
    }
  }

  retiredSince(): number {
    return earliest(this.service.removedAt, this.server?.removedAt ?? 0);
  }

  /** Close now (shutdown deadline). */
  abort(): void {
    this.ended("shutdown", false);
    if (this.pipe) this.pipe.abort();
    else {
      this.client.terminate();
      this.onClose();
    }
  }

  private finish(): void {
    if (this.gone) return;
    this.gone = true;
    this.service.untrack(this);
    if (events.sessionEnd.active) this.publishEnd();
  }

  /** Why it ended, for the events (`replace`: over an earlier cause). */
  private ended(cause: EndCause, replace = true): void {
    const obs = this.obs;
    if (obs && (replace || obs.cause === undefined)) obs.cause = cause;
  }

  private publishEnd(): void {
    const p = this.pipe;
    const obs = this.obs;
    if (obs === undefined) return; // nobody listened at the accept
    const hs = obs.handshake;
    events.sessionEnd.publish({
      service: this.service.name,
      protocol: this.cfg.protocol,
      client: obs.clientAddress,
      clientPort: obs.clientPort,
      backend: this.backend.name,
      server: this.server?.key,
      start: obs.started,
      durationMs: now() - obs.started,
      bytesIn: p?.a.bytesIn ?? this.earlyBytes,
      bytesOut: p?.b.bytesIn ?? obs.replied,
      cause: obs.cause ?? (this.clientFin ? "client_closed" : "client_reset"),
      tried: (this.tried?.size ?? 0) + (this.server && !this.tried?.has(this.server) ? 1 : 0),
      handshake: hs === undefined ? undefined : hs.ok ? "ok" : (hs.outcome as Exclude<Outcome, "connected">),
      handshakeDetail: hs && !hs.ok ? hs.detail : "",
    });
  }

  // Client events while no pipe exists (connecting); afterwards the pipe's
  // endpoints get them.
  onData(buf: Uint8Array): void {
    (this.early ??= []).push(buf);
    this.earlyBytes += buf.length;
    if (this.earlyBytes >= EARLY_LIMIT && !this.earlyPaused) {
      this.earlyPaused = true;
      this.client.pause();
    }
  }
  onDrain(): void {}
  onEnd(): void {
    this.clientFin = true;
  }
  onClose(): void {
    if (this.gone) return;
    this.pending?.cancel();
    this.finish();
  }
}

/** A session's facts for the lifecycle events, kept only while someone listens. */
class Observed {
  /** Coarse time of the accept. */
  readonly started = now();
  readonly clientPort: number;
  readonly clientAddress: string;
  /** When the current connect began (performance.now), while someone listens to connect events. */
  connectAt = 0;
  /** Why plb ended it, when plb did (timeout, shutdown, no server). */
  cause: EndCause | undefined;
  /** Bytes plb itself sent the client (the no-server reply). */
  replied = 0;
  /** The last handshake's result (smtp: the greeting outcome). */
  handshake: HandshakeResult | undefined;

  constructor(client: Sock) {
    this.clientPort = clientPort(client);
    this.clientAddress = clientIp(client);
  }
}
