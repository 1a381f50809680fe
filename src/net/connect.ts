/**
 * Outgoing connections with plb's own connect timeout (Bun has none: a SYN
 * to a full backlog waits minutes). The attempt object travels as the
 * socket's data until `open`; a late `open` after the timeout is terminated.
 *
 * With TLS (a backend's `server_tls`, tls/client.ts) the attempt stays the
 * socket's data until the handshake is over: the timeout covers connect and
 * handshake, a certificate that does not verify fails the connect with
 * outcome "tls" and its cause (never a plain connection instead), a kept
 * session is offered in `open` and the new one taken at the server's first
 * bytes. For an h2 backend only h2 is offered by ALPN, and a server that
 * does not choose it fails the connect with outcome "tls".
 */
import type { Socket, SocketHandler } from "bun";
import { describeTlsFailure, isVerifyError, type ServerTls } from "../tls/client.ts";
import { relayHandlers } from "./handlers.ts";
import type { ConnectFailure, Sock, SocketEvents } from "./types.ts";

export interface ConnectCallbacks {
  /** Connected: set `socket.data` to the events receiver before returning. */
  connected(socket: Sock): void;
  failed(reason: ConnectFailure, detail: string): void;
}

/**
 * A pending connect. It is the socket's data until `open`, so it takes the
 * socket's events too: a late socket that is terminated fires `close`.
 */
class Attempt implements SocketEvents, PendingConnect {
  done = false;
  /** Inside the Bun.connect call. */
  starting = true;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** TLS: the socket once open, while its handshake runs. */
  sock: Socket<SocketEvents> | undefined;
  /** TLS: the SNI name ("" none) and the key its session is kept under. */
  name = "";
  sessionKey = "";
  constructor(
    readonly cb: ConnectCallbacks,
    readonly timeoutMs: number,
    readonly tls: ServerTls | undefined,
    /** Offer only h2 by ALPN, and fail the connect when the server does not choose it. */
    readonly h2 = false,
  ) {}
  cancel(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.sock?.terminate();
  }
  onData(): void {}
  onDrain(): void {}
  onEnd(): void {}
  /** TLS: closed during the handshake (without a `handshake` event). */
  onClose(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.cb.failed("tls", "TLS: handshake failed: the server closed the connection");
  }
}

/** Map a connect error to the outcome servers/state counts. */
export function classifyConnectError(err: Error | undefined): ConnectFailure {
  const code = (err as { code?: string } | undefined)?.code ?? "";
  if (code === "ENETUNREACH" || code === "EHOSTUNREACH" || code === "EADDRNOTAVAIL" || code === "ENOENT") return "unreachable";
  if (code === "ETIMEDOUT") return "timeout";
  if (code === "ECONNRESET" || code === "EPIPE") return "reset";
  return "refused";
}

const handlers: SocketHandler<SocketEvents> = {
  ...(relayHandlers as SocketHandler<SocketEvents>),
  open(s) {
    const a = s.data as Attempt;
    if (a.done) {
      s.terminate(); // connected after we gave up
      return;
    }
    a.done = true;
    clearTimeout(a.timer);
    a.cb.connected(s as unknown as Sock);
  },
  connectError(s, err) {
    const a = s.data as Attempt;
    if (a.done) return;
    a.done = true;
    clearTimeout(a.timer);
    // Bun may fail inside Bun.connect itself (no descriptor left): callbacks
    // never run before connect() has returned.
    if (a.starting) queueMicrotask(() => a.cb.failed(classifyConnectError(err), describeConnectError(err)));
    else a.cb.failed(classifyConnectError(err), describeConnectError(err));
  },
};

/** TLS sockets whose session is taken at the server's first bytes (a TLS 1.3 ticket comes after the handshake). */
const awaitingSession = new Map<Socket<SocketEvents>, Attempt>();

const tlsHandlers: SocketHandler<SocketEvents> = {
  ...handlers,
  open(s) {
    const a = s.data as Attempt;
    if (a.done) {
      s.terminate();
      return;
    }
    a.sock = s;
    a.tls!.resume(s, a.sessionKey);
  },
  handshake(s, ok, err) {
    const a = s.data;
    if (!(a instanceof Attempt)) return; // renegotiation or the like: the owner's now
    a.sock = undefined;
    if (a.done) {
      s.terminate();
      return;
    }
    // verify = false: a certificate that does not verify is taken, a failed handshake is not.
    if (!ok && (a.tls!.verify || !isVerifyError(err ?? undefined))) {
      a.done = true;
      clearTimeout(a.timer);
      s.end();
      a.cb.failed("tls", describeTlsFailure(err ?? undefined, a.name));
      return;
    }
    a.done = true;
    clearTimeout(a.timer);
    const refusal = a.h2 ? a.tls!.h2Refusal(s) : undefined;
    if (refusal !== undefined) {
      s.end();
      a.cb.failed("tls", refusal);
      return;
    }
    awaitingSession.set(s, a);
    a.cb.connected(s as unknown as Sock);
  },
  data(s, buf) {
    if (awaitingSession.size !== 0) {
      const a = awaitingSession.get(s);
      if (a !== undefined) {
        awaitingSession.delete(s);
        a.tls!.keep(s, a.sessionKey);
      }
    }
    s.data.onData(buf);
  },
  close(s, err) {
    if (awaitingSession.size !== 0) awaitingSession.delete(s);
    s.data.onClose(err);
  },
};

const DESCRIPTIONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENETUNREACH: "network unreachable",
  EHOSTUNREACH: "host unreachable",
  EADDRNOTAVAIL: "address not available",
  ETIMEDOUT: "connect timed out",
  ECONNRESET: "connection reset",
};

/** A short human cause for logs ("connection refused"). */
export function describeConnectError(err: Error | undefined): string {
  const code = (err as { code?: string } | undefined)?.code ?? "";
  return DESCRIPTIONS[code] ?? (code ? `connect failed (${code})` : (err?.message ?? "connect failed"));
}


function timedOut(a: Attempt): void {
  if (a.done) return;
  a.done = true;
  const sock = a.sock;
  if (sock !== undefined) {
    a.sock = undefined;
    sock.terminate();
    a.cb.failed("timeout", `TLS handshake not done within timeout_connect (${formatMs(a.timeoutMs)})`);
  } else a.cb.failed("timeout", `connect timeout after ${formatMs(a.timeoutMs)}`);
}

/** A connect in progress. */
export interface PendingConnect {
  /** Give up silently (the client went away): no callback runs. */
  cancel(): void;
}

/**
 * Connect to `host:port` (an IP literal), with TLS when `tls` is given (the
 * callback `connected` then runs after a handshake that verified); exactly
 * one of the callbacks runs, always after this function has returned.
 */
export function connect(host: string, port: number, timeoutMs: number, cb: ConnectCallbacks, tls?: ServerTls, serverHost = host, h2 = false): PendingConnect {
  const a = new Attempt(cb, timeoutMs, tls, h2);
  a.timer = setTimeout(timedOut, timeoutMs, a);
  try {
    if (tls !== undefined) {
      a.name = tls.serverName(serverHost);
      a.sessionKey = `${host}:${port}|${a.name}`;
    }
    Bun.connect<SocketEvents>({
      hostname: host,
      port,
      data: a,
      allowHalfOpen: true,
      socket: tls === undefined ? handlers : tlsHandlers,
      tls: tls?.connectOptions(a.name, h2),
    }); // failures arrive through connectError (no unhandled rejection then)
    a.starting = false;
  } catch (err) {
    a.done = true;
    clearTimeout(a.timer);
    queueMicrotask(() => cb.failed(classifyConnectError(err as Error), describeConnectError(err as Error)));
  }
  return a;
}

export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : ms > 1000 ? `${(ms / 1000).toFixed(1)}s` : `${ms}ms`;
}
