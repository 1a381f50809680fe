/**
 * Outgoing connections with plb's own connect timeout (Bun has none: a SYN
 * to a full backlog waits minutes). The attempt object travels as the
 * socket's data until `open`; a late `open` after the timeout is terminated.
 */
import type { Socket, SocketHandler } from "bun";
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
  constructor(
    readonly cb: ConnectCallbacks,
    readonly timeoutMs: number,
  ) {}
  cancel(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
  }
  onData(): void {}
  onDrain(): void {}
  onEnd(): void {}
  onClose(): void {}
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
  a.cb.failed("timeout", `connect timeout after ${formatMs(a.timeoutMs)}`);
}

/** A connect in progress. */
export interface PendingConnect {
  /** Give up silently (the client went away): no callback runs. */
  cancel(): void;
}

/**
 * Connect to `host:port` (an IP literal); exactly one of the callbacks runs,
 * always after this function has returned.
 */
export function connect(host: string, port: number, timeoutMs: number, cb: ConnectCallbacks): PendingConnect {
  const a = new Attempt(cb, timeoutMs);
  a.timer = setTimeout(timedOut, timeoutMs, a);
  try {
    Bun.connect<SocketEvents>({
      hostname: host,
      port,
      data: a,
      allowHalfOpen: true,
      socket: handlers,
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
