/**
 * Listening sockets. Accepted sockets are half-open capable and read at once
 * (a protocol that is not ready buffers or pauses them itself: pausing every
 * new socket costs extra epoll_ctl calls per connection); their events go to
 * the `SocketEvents` object that `accept` returns.
 *
 * A listener can stop accepting for a while (`pause`) without giving up its
 * port: Bun has no pause, and closing the socket would reset the clients in
 * its queue and, after the privilege drop, lose a port below 1024 for good.
 * So each listener keeps a second descriptor for its socket (dup). `pause`
 * stops Bun's listener — its descriptor closes, the socket stays listening
 * through the kept one and the kernel queues new clients (up to the
 * backlog) — and `resume` hands the kept descriptor back to Bun
 * (`Bun.listen({ fd })`), keeping a fresh dup of it for the next pause.
 * Pausing from inside an accept stops Bun's accept loop right there.
 *
 * TLS (src/tls/listener.ts): every Bun listener made for the socket (start,
 * resume, new settings) is given the certificates per name, and every
 * accepted socket is asked `refusal` before a protocol sees it (Bun opens
 * sockets whose handshake failed, and ones without a required client
 * certificate).
 */
import type { SocketHandler, TCPSocketListener, TCPSocketListenOptions } from "bun";
import type { ListenAddress } from "../config/types.ts";
import { PlbError } from "../errors.ts";
import { logEnabled, logger } from "../log.ts";
import type { ListenTls } from "../tls/listener.ts";
import * as libc from "../process/libc.ts";
import { setBacklog } from "./backlog.ts";
import { DISCARD, handOver, relayHandlers } from "./handlers.ts";
import type { Sock, SocketEvents } from "./types.ts";

const log = logger("listen");

export interface Listener {
  readonly address: ListenAddress;
  /** Port actually bound (differs from address.port when that is 0). */
  readonly port: number;
  /** Not accepting for now (clients wait in the kernel's queue). */
  readonly paused: boolean;
  /** Stop accepting until `resume`; the port stays bound and clients queue. */
  pause(): void;
  resume(): void;
  /**
   * Hand new clients to `accept`, with `settings` (a reload): a new TLS
   * certificate or backlog takes effect on the same socket, which stays
   * bound throughout (no client in its queue is lost).
   */
  retarget(accept: AcceptFn, settings: ListenSettings): void;
  /** Stop accepting for good; open connections are not touched. */
  stop(): void;
}

export interface ListenSettings {
  /** Terminate TLS (src/tls/: certificates by name, profile, ALPN, client certificates). */
  readonly tls?: ListenTls;
  /** listen(2) queue length (Bun always asks for 512). */
  readonly backlog?: number;
  /** SO_REUSEPORT (workers: each binds its own socket to the same address; Linux spreads new connections). */
  readonly reusePort?: boolean;
}

export type AcceptFn = (socket: Sock) => SocketEvents;

function listenError(address: ListenAddress, err: unknown): PlbError {
  const e = err as { code?: string; message?: string };
  const reason =
    e.code === "EADDRINUSE"
      ? "address already in use"
      : e.code === "EACCES"
        ? "permission denied (ports below 1024 need root)"
        : e.code === "EADDRNOTAVAIL"
          ? "address not available on this host"
          : (e.message ?? String(err));
  return new PlbError("LISTEN_FAILED", `cannot listen on ${address.text}: ${reason}`, { cause: err });
}

/** A kept descriptor for the socket behind `fd`, or -1 (no libc here, or none left). */
function keep(fd: unknown): number {
  if (typeof fd !== "number" || fd < 0) return -1;
  try {
    return libc.dup(fd);
  } catch {
    return -1;
  }
}

function sameTls(a: ListenSettings["tls"], b: ListenSettings["tls"]): boolean {
  return a === b || (a !== undefined && b !== undefined && a.fingerprint === b.fingerprint);
}

export function listen(address: ListenAddress, acceptFirst: AcceptFn, settingsFirst: ListenSettings = {}): Listener {
  let accept = acceptFirst;
  let settings = settingsFirst;
  const handlers: SocketHandler<SocketEvents> = {
    ...relayHandlers,
    open(s) {
      handOver(s as Sock, DISCARD); // until the protocol's receiver exists
      // TLS: Bun opens sockets whose handshake failed too; nothing of them reaches a protocol.
      const why = settings.tls?.refusal(s);
      if (why !== undefined) {
        if (logEnabled("debug")) log.debug(`${address.text}: ${s.remoteAddress} closed: ${why}`);
        (s as Sock).terminate();
        return;
      }
      const events = accept(s as Sock);
      handOver(s as Sock, events);
      events.onOpen?.();
    },
  };
  const options = (s: ListenSettings) => {
    const tls = s.tls ? { tls: s.tls.options } : {};
    return { allowHalfOpen: true, socket: handlers, ...tls };
  };
  let common = options(settings);
  let server: TCPSocketListener<SocketEvents>;
  try {
    server = Bun.listen<SocketEvents>({
      hostname: address.host,
      port: address.port,
      // "::" must accept IPv4 too (dual-stack), whatever the sysctl says.
      ipv6Only: false,
      reusePort: settings.reusePort === true,
      ...common,
    } as unknown as TCPSocketListenOptions<SocketEvents>);
  } catch (err) {
    throw listenError(address, err);
  }
  try {
    settings.tls?.attach(server);
  } catch (err) {
    server.stop(true);
    throw new PlbError("LISTEN_FAILED", `cannot listen on ${address.text}: the certificates per name (SNI) cannot be given to Bun's listener: ${(err as Error).message}`, { cause: err });
  }
  const port = server.port;
  const backlog = () => {
    if (settings.backlog !== undefined) setBacklog({ hostname: address.host, port, fd: (server as { fd?: unknown }).fd }, settings.backlog);
  };
  backlog();
  let kept = keep((server as { fd?: unknown }).fd);
  let stopped = false;
  let paused = false;
  /** Bun listens on the socket anew (resume, new TLS settings): keep a fresh descriptor, set the backlog again. */
  const adopted = () => {
    kept = keep((server as { fd?: unknown }).fd);
    try {
      settings.tls?.attach(server);
    } catch (err) {
      log.error(`${address.text}: the certificates per name (SNI) cannot be given to Bun's listener: ${(err as Error).message}; clients get the default certificate`);
    }
    try {
      backlog();
    } catch (err) {
      log.warn((err as Error).message);
    }
  };

  return {
    address,
    port,
    get paused() {
      return paused;
    },
    pause() {
      if (stopped || paused) return;
      if (kept < 0) kept = keep((server as { fd?: unknown }).fd);
      paused = true;
      server.stop(false);
      if (kept < 0) log.warn(`${address.text}: no descriptor to keep the socket listening while paused; it is closed until accepting resumes`);
    },
    resume() {
      if (stopped || !paused) return;
      try {
        server =
          kept >= 0
            ? Bun.listen<SocketEvents>({ fd: kept, ...common } as unknown as unknown as TCPSocketListenOptions<SocketEvents>)
            : Bun.listen<SocketEvents>({ hostname: address.host, port, ipv6Only: false, reusePort: settings.reusePort === true, ...common } as unknown as TCPSocketListenOptions<SocketEvents>);
      } catch (err) {
        log.error(`${address.text}: cannot accept again: ${listenError(address, err).message}; retrying on the next resume`);
        return;
      }
      paused = false;
      adopted();
    },
    retarget(to, next) {
      accept = to;
      const tlsChanged = !sameTls(settings.tls, next.tls);
      const backlogChanged = settings.backlog !== next.backlog;
      settings = next;
      if (stopped || !tlsChanged) {
        if (backlogChanged && !stopped && !paused) backlog();
        return;
      }
      common = options(next);
      if (paused) return; // resume listens with the new options
      // A second listener on the same socket first (the kept descriptor),
      // then the old one goes: the socket never stops listening.
      if (kept < 0) kept = keep((server as { fd?: unknown }).fd);
      if (kept < 0) {
        log.warn(`${address.text}: cannot take the new TLS settings without closing the socket (no descriptor to keep); they apply after a restart`);
        return;
      }
      let next2: TCPSocketListener<SocketEvents>;
      try {
        next2 = Bun.listen<SocketEvents>({ fd: kept, ...common } as unknown as TCPSocketListenOptions<SocketEvents>);
      } catch (err) {
        log.error(`${address.text}: cannot take the new TLS settings: ${listenError(address, err).message}; the old ones stay`);
        return;
      }
      server.stop(false);
      server = next2;
      adopted();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (!paused) server.stop(false);
      if (kept >= 0) {
        try {
          libc.close(kept);
        } catch {
          // already gone
        }
        kept = -1;
      }
    },
  };
}
