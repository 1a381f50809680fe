/**
 * What an http exchange (exchange.ts) asks of whatever carried its request:
 * an HTTP/1 client connection (session.ts) today, an HTTP/2 stream next.
 * The carrier owns the client socket, reads and frames the request and its
 * body, and takes back the response with backpressure and the end of the
 * exchange.
 *
 * Response bytes are still HTTP/1 on the wire (the response reader rewrites
 * the server's head for an HTTP/1 client): an HTTP/2 carrier will take the
 * head as fields instead.
 */
import type { SendResult } from "../net/outbox.ts";
import type { Sock } from "../net/types.ts";
import type { BackendHandle } from "../protocol.ts";
import type { ResponseClient } from "./response.ts";
import type { HttpTrace } from "./trace.ts";
import type { Upstream } from "./upstream.ts";

/** What an exchange asks of whatever carried its request. */
export interface ExchangeCarrier extends ResponseClient {
  /** The client socket (its addresses go in a PROXY header). */
  readonly socket: Sock;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** The connection's trace: request bytes and times for the events. */
  readonly trace: HttpTrace;
  /** Responses completed on this carrier before the current one. */
  readonly served: number;
  /** Client bytes held that are not part of the current request (for the event of a malformed one). */
  readonly heldBytes: number;
  /** Response bytes for the client, in order (the head first). QUEUED: call `clientDrained` when it is written. */
  respond(chunk: Uint8Array): SendResult;
  /** The route answers itself with `bytes` (a whole response); `close`: then close the client. */
  answered(bytes: Uint8Array, status: number, close: boolean): void;
  /** The request head went out on a server connection: forward the request body held so far, then read on. */
  attached(up: Upstream): void;
  /** The server takes no more request body for now / again. */
  pauseClient(): void;
  resumeClient(): void;
  /** The response is complete; `close`: the client connection must close after it. */
  completed(close: boolean): void;
  /** The exchange cannot go on: answer `status` (0: nothing more) and close the client. */
  failed(status: number): void;
  /** The client connection is beyond saving (the response broke off midway): close it at once. */
  lost(): void;
  /** 101 Switching Protocols: `head` (the 101 head) and `rest` go to the client, and from now on client and `up` are one byte pipe. */
  upgraded(up: Upstream, backend: BackendHandle, head: Uint8Array[], rest: Uint8Array | undefined): void;
}

/** What the exchange reads of the request body (its framing is the carrier's). */
export interface RequestBodyState {
  readonly done: boolean;
}
