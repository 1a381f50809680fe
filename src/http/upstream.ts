/**
 * One connection from plb to a server, carrying one exchange at a time for
 * the session that holds it, or idle in the service's pool between
 * exchanges. Events go to the current owner; an idle connection that hears
 * anything from its server (data or close) is dropped.
 */
import { handOver } from "../net/handlers.ts";
import { now } from "../net/clock.ts";
import { NO_QUEUE, type QueuedWriter } from "../net/outbox.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import type { Poolable } from "./idle-pool.ts";
import type { Server } from "../servers/server.ts";

/** What a session implements to hear from the upstream it holds. */
export interface UpstreamOwner {
  upstreamData(buf: Uint8Array): void;
  upstreamDrain(): void;
  /** The server sent FIN or the connection closed (err on reset). */
  upstreamClosed(err?: Error): void;
}

export class Upstream implements SocketEvents, QueuedWriter, Poolable {
  queue: Uint8Array[] = NO_QUEUE;
  last = now();
  idleUntil = 0;
  closed = false;
  /** Exchanges carried so far (0: fresh from connect). */
  uses = 0;
  owner: UpstreamOwner | undefined;
  /** Told when an idle connection closes, to leave the pool. */
  onIdleClose: ((u: Upstream) => void) | undefined;

  constructor(
    readonly socket: Sock,
    readonly server: Server,
  ) {
    handOver(socket, this);
  }

  onData(buf: Uint8Array): void {
    this.last = now();
    if (this.owner) this.owner.upstreamData(buf);
    else this.close(); // a server must not speak on an idle connection
  }

  onDrain(): void {
    this.owner?.upstreamDrain();
  }

  onEnd(): void {
    // Half-close from a server ends this connection's usefulness.
    this.onClose();
  }

  onClose(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = NO_QUEUE;
    this.socket.end();
    const owner = this.owner;
    this.owner = undefined;
    if (owner) owner.upstreamClosed(err);
    else this.onIdleClose?.(this);
  }

  close(): void {
    if (this.closed) return;
    this.owner = undefined;
    this.onClose();
  }

  /** Close at once with a reset (the exchange was abandoned midway). */
  abort(): void {
    if (this.closed) return;
    this.owner = undefined;
    this.closed = true;
    this.socket.terminate();
    this.onIdleClose?.(this);
  }
}
