/**
 * After a 101 Switching Protocols: the client connection and its server
 * connection as one byte pipe (net/pipe.ts) until both sides close, with
 * the idle timeouts of both sides. Made only for an upgrade.
 */
import { Pipe, type PipeOwner } from "../net/pipe.ts";
import type { Sock } from "../net/types.ts";
import type { BackendHandle } from "../protocol.ts";
import type { Server } from "../servers/server.ts";
import type { Upstream } from "./upstream.ts";

/** The client connection a tunnel belongs to. */
export interface TunnelOwner {
  /** Both sides are closed. */
  tunnelClosed(): void;
}

export class HttpTunnel implements PipeOwner {
  private readonly pipe: Pipe;
  /** The server at the other end, until the tunnel closes (its sessions count it till then). */
  server: Server | undefined;
  /** The server at the other end, for the session's end event (kept after the close). */
  readonly to: Server;

  constructor(
    client: Sock,
    /** What still waits to be written to the client: it goes first. */
    clientQueue: Uint8Array[],
    up: Upstream,
    private readonly backend: BackendHandle,
    private readonly owner: TunnelOwner,
  ) {
    this.server = this.to = up.server;
    const pipe = (this.pipe = new Pipe(client, up.socket, this));
    pipe.a.queue = clientQueue;
    pipe.b.queue = up.queue;
  }

  /** Start relaying: `head` (the 101) and `rest` to the client, `held` to the server, then the client's FIN if it came. */
  start(head: Uint8Array[], rest: Uint8Array | undefined, held: Uint8Array | undefined, clientEnded: boolean): void {
    const pipe = this.pipe;
    for (const h of head) pipe.b.onData(h); // the 101 head, as if the server sent it now
    if (rest) pipe.b.onData(rest);
    if (held) pipe.a.onData(held);
    if (clientEnded) pipe.a.onEnd();
  }

  /** Bytes from the client, and from the server, since the tunnel began. */
  get bytesIn(): number {
    return this.pipe.a.bytesIn;
  }
  get bytesOut(): number {
    return this.pipe.b.bytesIn;
  }

  /** A side has been silent too long (`now` is the coarse clock): true when that is so. */
  idle(now: number, timeoutClient: number): boolean {
    const p = this.pipe;
    return now - p.a.last > timeoutClient || now - p.b.last > this.backend.cfg.timeout_server;
  }

  abort(): void {
    this.pipe.abort();
  }

  pipeClosed(): void {
    if (this.server) this.backend.pool.connectionEnd(this.server);
    this.server = undefined;
    this.owner.tunnelClosed();
  }
}
