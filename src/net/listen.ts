/**
 * Listening sockets. Accepted sockets are half-open capable and read at once
 * (a protocol that is not ready buffers or pauses them itself: pausing every
 * new socket costs extra epoll_ctl calls per connection); their events go to
 * the `SocketEvents` object that `accept` returns.
 */
import type { SocketHandler, TCPSocketListener, TCPSocketListenOptions } from "bun";
import type { ListenAddress } from "../config/types.ts";
import { PlbError } from "../errors.ts";
import { relayHandlers } from "./handlers.ts";
import type { Sock, SocketEvents } from "./types.ts";

export interface Listener {
  readonly address: ListenAddress;
  /** Port actually bound (differs from address.port when that is 0). */
  readonly port: number;
  /** Stop accepting; open connections are not touched. */
  stop(): void;
}

export type AcceptFn = (socket: Sock) => SocketEvents;

/** Receives the events of a socket that has no receiver yet (or any more). */
const IGNORED: SocketEvents = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };

/** ALPN: plb speaks HTTP/1.1 only (wire format: length-prefixed names). */
const ALPN_HTTP11 = new Uint8Array([8, ...new TextEncoder().encode("http/1.1")]);

export function listen(address: ListenAddress, accept: AcceptFn, tls?: { cert: string; key: string }): Listener {
  const handlers: SocketHandler<SocketEvents> = {
    ...relayHandlers,
    open(s) {
      s.data = IGNORED; // until the protocol's receiver exists
      const events = accept(s as Sock);
      s.data = events;
      events.onOpen?.();
    },
  };
  let server: TCPSocketListener<SocketEvents>;
  try {
    server = Bun.listen<SocketEvents>({
      hostname: address.host,
      port: address.port,
      allowHalfOpen: true,
      socket: handlers,
      // "::" must accept IPv4 too (dual-stack), whatever the sysctl says.
      ipv6Only: false,
      ...(tls ? { tls: { cert: tls.cert, key: tls.key, ALPNProtocols: ALPN_HTTP11 } } : {}),
    } as TCPSocketListenOptions<SocketEvents>);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const reason =
      e.code === "EADDRINUSE"
        ? "address already in use"
        : e.code === "EACCES"
          ? "permission denied (ports below 1024 need root)"
          : e.code === "EADDRNOTAVAIL"
            ? "address not available on this host"
            : (e.message ?? String(err));
    throw new PlbError("LISTEN_FAILED", `cannot listen on ${address.text}: ${reason}`, { cause: err });
  }
  let stopped = false;
  return {
    address,
    port: server.port,
    stop() {
      if (stopped) return;
      stopped = true;
      server.stop(false);
    },
  };
}
