/**
 * A step between "connected to the server" and "relay bytes": the smtp
 * protocol waits for a good greeting here, and any protocol can send a
 * PROXY header first. A failed handshake counts against the server and the
 * session fails over to the next one, exactly like a failed connect.
 */
import type { Sock } from "../net/types.ts";
import type { Outcome, Server } from "../servers/server.ts";

export type HandshakeResult =
  /** Relay from now on; `toClient` is what the client must get first (the greeting). */
  | { readonly ok: true; readonly toClient?: Uint8Array }
  | { readonly ok: false; readonly outcome: Outcome; readonly detail: string };

export interface HandshakeContext {
  readonly client: Sock;
  readonly server: Server;
}

export interface Handshake {
  /**
   * Run on a freshly connected server socket (its events are the
   * handshake's until `done`); call `done` exactly once, after closing the
   * socket if the result is a failure.
   */
  run(sock: Sock, ctx: HandshakeContext, done: (r: HandshakeResult) => void): void;
}
