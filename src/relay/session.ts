/**
 * One relayed client connection (tcp, and smtp after its greeting check):
 * a server is picked, connected and handshaken by the shared
 * connect-and-fail-over path (backends/server-attempt.ts), then bytes are
 * piped both ways; a server that resets before any byte went either way is
 * failed over like a failed connect. Bytes the client sends meanwhile are kept (the
 * client is paused past 64 KiB) and replayed to the server that answers.
 * A protocol may have the backend chosen from the client's first bytes
 * (tcp: by the TLS ClientHello's name): the session then reads, keeping
 * every byte for the server, until its `BackendReader` decides.
 */
import { clientIp, clientPort } from "../net/client-address.ts";
import { handOver } from "../net/handlers.ts";
import { earliest, type Sweepable } from "../net/sweep.ts";
import { Pipe, type PipeOwner } from "../net/pipe.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import { ServerAttempt } from "../backends/server-attempt.ts";
import type { Conversation, ConversationOwner, Converse } from "./conversation.ts";
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

/**
 * Chooses one session's backend from what the client sends first (tcp: the
 * TLS name). Made per session by the protocol; the session keeps every byte.
 */
export interface BackendReader {
  /**
   * The client sent `buf` (after the bytes of the earlier calls): the
   * backend, "refused" (not what the protocol expects), "none" (no backend
   * takes it), or undefined to wait for more.
   */
  data(buf: Uint8Array): BackendHandle | "refused" | "none" | undefined;
  /** Time (coarse clock, ms) by which it must have chosen; the client is closed after it. */
  readonly deadline: number;
}

/** A server is picked, connected, handshaken and failed over by the ServerAttempt it is (backends/server-attempt.ts). */
export class RelaySession extends ServerAttempt implements SocketEvents, PipeOwner, ConversationOwner, Sweepable {
  private pipe: Pipe | undefined;
  /** The protocol speaking for the service before the relay (smtp: STARTTLS at plb), if it does. */
  private conv: Conversation | undefined;
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
  /** What the protocol set up for the backend it started with (`backend`): the handshake, the no-server reply. */
  private opts: RelayOptions;
  /** Choosing the backend from the client's first bytes (undefined: chosen, or no choice to make). */
  private reader: BackendReader | undefined;
  /** What the lifecycle events need (only when someone listened at the accept: an idle session is smaller without). */
  private readonly obs: Observed | undefined;

  /** `choose`: the backend comes from the client's first bytes (else: the service's own, which it then has). */
  constructor(
    /** The client's socket (after a conversation that started TLS: the TLS one). */
    private client: Sock,
    service: ServiceHandle,
    choose?: (service: ServiceHandle, client: Sock) => BackendReader,
    /** Runs on the ready server before the relay (smtp with starttls). */
    private readonly converse?: Converse,
  ) {
    super(service);
    this.cfg = service.cfg;
    // Without a choice a tcp or smtp service has one; with one, none until it is made.
    this.reader = choose?.(service, client);
    this.backend = (this.reader === undefined ? service.backend : undefined)!;
    this.opts = (this.backend?.shared as RelayOptions | undefined) ?? {};
    // The client's port costs a getpeername(2): read only when someone will be told
    // (a closed socket no longer has it).
    this.obs = events.sessionEnd.active || events.sessionStart.active || events.connect.active ? new Observed(client) : undefined;
    service.track(this);
    if (events.sessionStart.active) events.sessionStart.publish({ service: service.name, protocol: service.cfg.protocol, client: clientIp(client) });
  }

  onOpen(): void {
    if (this.reader === undefined) this.begin(this.backend);
  }

  /** Connect to a server of `backend`. */
  private begin(backend: BackendHandle): void {
    this.backend = backend;
    this.opts = (backend.shared as RelayOptions | undefined) ?? {};
    this.start(backend, backend.clientKey(this.client), undefined);
  }

  /** The reader's answer to what the client sent (nothing yet: the wait ran out). */
  private chosen(r: ReturnType<BackendReader["data"]> | "timeout"): void {
    if (r === undefined) return;
    this.reader = undefined;
    if (typeof r === "object") return this.begin(r);
    if (logEnabled("debug")) log.debug(`service "${this.service.name}": ${r === "timeout" ? "no backend chosen in time" : r === "none" ? "no backend takes" : "refused"} ${clientIp(this.client)}, closing`);
    this.ended(r === "none" ? "no_server" : r);
    this.client.end();
    this.finish();
  }

  /** A relay has no idle server connections. */
  protected reuse(): boolean {
    return false;
  }

  protected override handshake(sock: Sock, server: Server): boolean {
    const handshake = this.opts.handshake;
    if (handshake === undefined) return false;
    handshake.run(sock, { client: this.client, server }, (r) => this.handshaken(sock, server, r));
    return true;
  }

  protected override handshaken(sock: Sock, server: Server, r: HandshakeResult): void {
    if (this.obs) this.obs.handshake = r;
    super.handshaken(sock, server, r);
  }

  /** No server is available (or plb is out of descriptors): close the client. */
  protected noServer(local: boolean): void {
    if (this.gone) return;
    if (local) {
      this.client.end();
      this.finish();
      return;
    }
    if (logEnabled("info")) log.info(`service "${this.service.name}": no server available for ${clientIp(this.client)}, closing`);
    // The cause first: end() may close the socket (and call onClose) at once.
    this.ended("no_server");
    if (this.opts.noServer) {
      const n = this.client.write(this.opts.noServer);
      if (this.obs) this.obs.replied = n;
    }
    this.client.end();
    this.finish();
  }

  /** The server is connected and handshaken: pipe the two sockets, `toClient` first. */
  protected serverReady(sock: Sock, server: Server, toClient: Uint8Array | undefined): void {
    this.backend.pool.connectionStart(server);
    if (this.converse !== undefined) {
      const early = this.early ?? [];
      this.early = undefined;
      if (this.earlyPaused) this.client.resume();
      this.earlyPaused = false;
      this.conv = this.converse(this.client, sock, this, { toClient, early, clientFin: this.clientFin });
      return;
    }
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

  /** The conversation is over: relay between its sockets, what it read and did not send first. */
  relay(client: Sock, server: Sock, toServer: Uint8Array | undefined, toClient: Uint8Array | undefined, clientFin: boolean): void {
    const conv = this.conv!;
    this.client = client;
    const pipe = (this.pipe = new Pipe(client, server, this));
    if (toClient) pipe.b.onData(toClient);
    if (toServer) pipe.a.onData(toServer);
    // Bytes went both ways already: a server reset now is not one "before any data" (no fail-over).
    pipe.a.bytesIn = conv.bytesFromClient;
    pipe.b.bytesIn = conv.bytesFromServer;
    if (clientFin) pipe.a.onEnd();
  }

  conversationEnded(cause: EndCause): void {
    const pool = this.backend.pool;
    pool.connectionEnd(this.server!);
    // As in a relayed session: a server that resets has failed that client.
    if (cause === "server_reset") pool.report(this.server!, "reset", "connection reset while plb spoke for the client (STARTTLS at plb)");
    this.ended(cause, false);
    this.finish();
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
    this.failOver(server);
    return true;
  }

  pipeClosed(pipe: Pipe): void {
    const pool = this.backend.pool;
    const server = this.server!;
    pool.connectionEnd(server);
    // A server that resets a session in the middle has failed that client.
    const err = pipe.serverError as (Error & { code?: string }) | undefined;
    if (err) pool.report(server, "reset", `connection reset during a session (${err.code ?? err.message})`);
    this.ended(err ? "server_reset" : pipe.clientReset ? "client_reset" : pipe.endedFirst === pipe.b ? "server_closed" : "client_closed", false);
    this.finish();
  }

  sweep(now: number): void {
    const p = this.pipe;
    const cfg = this.cfg;
    if (p === undefined) {
      if (this.reader !== undefined && now > this.reader.deadline) return this.chosen("timeout");
      const c = this.conv;
      if (c !== undefined && (now - c.clientLast > cfg.timeout_client || now - c.serverLast > this.backend.cfg.timeout_server)) {
        if (logEnabled("debug")) log.debug(`idle timeout: closing ${clientIp(this.client)} ⇄ ${this.server} (plb was speaking for the service)`);
        this.ended("timeout");
        c.abort();
      }
      return;
    }
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
    else if (this.conv) this.conv.abort();
    else {
      this.client.terminate();
      this.onClose();
    }
  }

  private finish(): void {
    if (this.gone) return;
    this.gone = true;
    this.cancel();
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
      backend: this.backend?.name,
      server: this.server?.key,
      start: obs.started,
      durationMs: now() - obs.started,
      bytesIn: p?.a.bytesIn ?? this.conv?.bytesFromClient ?? this.earlyBytes,
      bytesOut: p?.b.bytesIn ?? this.conv?.bytesFromServer ?? obs.replied,
      cause: obs.cause ?? (this.clientFin ? "client_closed" : "client_reset"),
      tried: this.triedCount,
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
    if (this.reader !== undefined) this.chosen(this.reader.data(buf));
  }
  onDrain(): void {}
  onEnd(): void {
    this.clientFin = true;
    // The client is done sending before a backend could be chosen.
    if (this.reader !== undefined) this.chosen("refused");
  }
  onClose(): void {
    if (this.gone) return;
    this.finish();
  }
}

/** A session's facts for the lifecycle events, kept only while someone listens. */
class Observed {
  /** Coarse time of the accept. */
  readonly started = now();
  readonly clientPort: number;
  readonly clientAddress: string;
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
