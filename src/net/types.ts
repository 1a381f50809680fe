/**
 * The socket surface plb uses. Only files in src/net/ touch Bun's socket
 * API; everything else sees `Sock` and implements `SocketEvents`.
 */
import type { Socket } from "bun";

/** A connected TCP socket whose `data` is the object receiving its events. */
export type Sock = Socket<SocketEvents> & {
  /** Present at runtime, missing from bun-types: stop / restart reading. */
  pause(): void;
  resume(): void;
};

/**
 * Events of one socket, delivered to the object stored in `socket.data`.
 * Protocol modules implement this; a plain tunnel uses net/pipe's Endpoint.
 */
export interface SocketEvents {
  /**
   * An accepted socket's events now reach this object: start work here, not
   * in a constructor (a socket closed at once must find its receiver).
   */
  onOpen?(): void;
  onData(buf: Uint8Array): void;
  /** The socket can take more bytes after a short write. */
  onDrain(): void;
  /** The peer sent FIN; the socket can still be written (allowHalfOpen). */
  onEnd(): void;
  /** The socket is gone (closed by either side, reset, or error). */
  onClose(err?: Error): void;
}

/** Why a connect attempt failed, as servers/state counts it. */
/** "tls": the TLS handshake failed (a certificate that does not verify, a server without TLS). */
export type ConnectFailure = "refused" | "timeout" | "unreachable" | "reset" | "tls";
