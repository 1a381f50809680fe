/**
 * An optional step between "the server is ready" and "relay bytes" in which
 * a protocol speaks for the service (smtp: STARTTLS at plb, answered by plb
 * itself, with the client side upgraded to TLS). The conversation owns both
 * sockets until it hands them back to be relayed, or closes them.
 */
import type { EndCause } from "../events.ts";
import type { Sock } from "../net/types.ts";

/** The relay session, as a conversation sees it. */
export interface ConversationOwner {
  /**
   * Relay from now on between `client` (possibly a new socket: the TLS one)
   * and `server`. `toServer`: client bytes read but not yet sent; `toClient`:
   * server bytes read but not yet sent; `clientFin`: the client already sent
   * its FIN.
   */
  relay(client: Sock, server: Sock, toServer: Uint8Array | undefined, toClient: Uint8Array | undefined, clientFin: boolean): void;
  /** The conversation closed both sockets: the session is over. */
  conversationEnded(cause: EndCause): void;
}

export interface Conversation {
  /** Coarse time of the last byte read from or written to each side (idle timeouts). */
  readonly clientLast: number;
  readonly serverLast: number;
  /** Bytes read from each side (the client's after TLS: decrypted). */
  readonly bytesFromClient: number;
  readonly bytesFromServer: number;
  /** Close both sides now (idle timeout, shutdown); calls `conversationEnded`. */
  abort(): void;
}

export interface ConversationStart {
  /** What the server's handshake says the client gets first (the smtp greeting). */
  readonly toClient: Uint8Array | undefined;
  /** Client bytes read while the server was being connected, in order. */
  readonly early: readonly Uint8Array[];
  /** The client sent its FIN meanwhile. */
  readonly clientFin: boolean;
}

/** Starts a conversation on a connected, handshaken server socket; takes over both sockets' events. */
export type Converse = (client: Sock, server: Sock, owner: ConversationOwner, start: ConversationStart) => Conversation;
