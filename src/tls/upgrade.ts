/**
 * Server-side TLS on an accepted plain socket (STARTTLS): the one place
 * that calls Bun's `upgradeTLS`. Measured on Bun 1.4.5 (tests/e2e/smtp/
 * starttls.test.ts pins what plb relies on):
 *
 * - `upgradeTLS` returns [raw, tls]: two new socket objects. The TLS one
 *   gets `open` at once (before any handshake byte), then `handshake(ok,
 *   error)` once the handshake is over, then the decrypted `data`.
 * - The accepted socket's handler table (the listener's) still receives the
 *   raw (encrypted) bytes and the close, on the returned raw object, whose
 *   `data` is a copy of the accepted socket's at the time of the call: the
 *   socket is handed to DISCARD before the call, or the TLS records would
 *   be taken for plain input.
 * - Bytes already read from the socket before the call are not seen by the
 *   TLS layer: a caller that read the client's first TLS bytes too early
 *   breaks the handshake. For STARTTLS that is what RFC 3207 wants: the
 *   client sends its ClientHello only after the 220, and whatever came with
 *   the STARTTLS line is discarded by the caller, never relayed.
 * - BoringSSL as Bun runs it sends TLS 1.3 session tickets with the first
 *   bytes the server writes, not right after the client's Finished as
 *   OpenSSL does. A client that speaks first and leaves Nagle on (Python's
 *   smtplib) holds its first command until that Finished is acknowledged:
 *   one delayed ACK, about 40 ms, once per session (Bun's own TLS listener
 *   does the same; TLS 1.2 and TCP_NODELAY clients do not wait).
 * - One certificate per upgrade: `SNICallback` is not called, an array of
 *   options throws ("TLSOptions must be an object"), and the per-name
 *   certificates a listener gets (addServerName) have no listener here. The
 *   client's SNI name can be read afterwards (`getServername()`).
 * - `handshake` reports `ok` with an `authorizationError` when no client
 *   certificate was asked for ("unable to get issuer certificate"): that
 *   error only concerns the client's certificate, not the handshake.
 */
import type { SocketHandler, TLSOptions } from "bun";
import { DISCARD, handOver, relayHandlers } from "../net/handlers.ts";
import type { Sock, SocketEvents } from "../net/types.ts";

/** Events of an upgraded socket: a socket's, plus the end of the handshake. */
export interface TlsSocketEvents extends SocketEvents {
  /** The handshake is over: `ok` false when it failed (the socket closes). */
  onHandshake(ok: boolean, error: Error | undefined): void;
}

/** What a server side needs to start TLS: Bun's TLS options (certificate, key, versions, …). */
export type ServerTls = TLSOptions;

/** relayHandlers' dispatch, plus the handshake's outcome. */
const tlsHandlers: SocketHandler<TlsSocketEvents> = {
  ...(relayHandlers as unknown as SocketHandler<TlsSocketEvents>),
  open() {},
  handshake(s, ok, err) {
    s.data.onHandshake(ok, ok ? undefined : (err ?? new Error("TLS handshake failed")));
  },
};

/**
 * Start the server side of TLS on the accepted plain socket `sock`; its
 * events go to `events` from now on, and the raw socket's to `raw` (dropped
 * unless a test looks). Returns the TLS socket (write and close through it only).
 */
export function startServerTls(sock: Sock, tls: ServerTls, events: TlsSocketEvents, raw: SocketEvents = DISCARD): Sock {
  handOver(sock, raw);
  const [, secure] = sock.upgradeTLS<TlsSocketEvents>({ tls, data: events, socket: tlsHandlers });
  return secure as unknown as Sock;
}
