/**
 * The only code that moves bytes between two sockets.
 *
 * Each side is an `Endpoint` with its own write queue (Bun keeps none). When a
 * write is short, the rest is queued and the *other* side stops reading until
 * `drain` empties the queue, so at most one chunk (≤ 512 KiB) waits per
 * direction, whatever the speeds. A FIN is passed on with `shutdown()` once
 * the queue is flushed; a closed side makes the other flush and close. When
 * both sides are closed the pipe tells its owner once.
 */
import type { Sock, SocketEvents } from "./types.ts";
import { now } from "./clock.ts";
import { handOver } from "./handlers.ts";
import { flush as flushQueue, LOST, NO_QUEUE, QUEUED, type QueuedWriter, send, SENT } from "./outbox.ts";

export interface PipeOwner {
  /** Both sockets are closed; called exactly once. */
  pipeClosed(pipe: Pipe, err?: Error): void;
  /**
   * Side `b` was reset before a single byte went either way (a server that
   * died with the connection still in its accept queue). Return true to keep
   * side `a` open and take it over (fail over to another server); the pipe
   * then never calls `pipeClosed`.
   */
  resetBeforeData?(pipe: Pipe, err: Error): boolean;
}

const FIN_PENDING = 1;
const WRITE_DONE = 2;
const READ_DONE = 4;
const CLOSED = 8;
const PAUSED = 16;

export class Endpoint implements SocketEvents, QueuedWriter {
  socket: Sock;
  peer!: Endpoint;
  pipe: Pipe;
  /** Bytes waiting for this socket to become writable, oldest first. */
  queue: Uint8Array[] = NO_QUEUE;
  /**
   * Five booleans in one number (an idle connection holds two endpoints;
   * each boolean field costs 8 bytes). Read and written through the
   * accessors below.
   */
  private flags = 0;
  /** Coarse time of the last byte read from or accepted by this socket. */
  last: number;
  /** Bytes read from this socket. */
  bytesIn = 0;

  constructor(socket: Sock, pipe: Pipe) {
    this.socket = socket;
    this.pipe = pipe;
    this.last = now();
  }

  private flag(bit: number): boolean {
    return (this.flags & bit) !== 0;
  }
  private setFlag(bit: number, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit;
  }
  /** Peer's EOF must be passed on (shutdown) once the queue is empty. */
  get finPending(): boolean { return this.flag(FIN_PENDING); } // prettier-ignore
  set finPending(on: boolean) { this.setFlag(FIN_PENDING, on); } // prettier-ignore
  /** We stopped writing to this socket (shutdown sent, or it is closed). */
  get writeDone(): boolean { return this.flag(WRITE_DONE); } // prettier-ignore
  set writeDone(on: boolean) { this.setFlag(WRITE_DONE, on); } // prettier-ignore
  /** The socket sent FIN or is closed: nothing more will be read. */
  get readDone(): boolean { return this.flag(READ_DONE); } // prettier-ignore
  set readDone(on: boolean) { this.setFlag(READ_DONE, on); } // prettier-ignore
  get closed(): boolean { return this.flag(CLOSED); } // prettier-ignore
  set closed(on: boolean) { this.setFlag(CLOSED, on); } // prettier-ignore
  /** We paused reading (backpressure); resume only then. */
  get paused(): boolean { return this.flag(PAUSED); } // prettier-ignore
  set paused(on: boolean) { this.setFlag(PAUSED, on); } // prettier-ignore

  onData(buf: Uint8Array): void {
    this.last = now();
    this.bytesIn += buf.length;
    const to = this.peer;
    if (to.writeDone) return; // the peer is gone: nothing to deliver to
    const r = send(to, buf);
    if (r === QUEUED) this.pauseReading();
    else if (r === LOST) to.lost();
  }

  onDrain(): void {
    if (this.flush()) this.peer.resumeReading();
  }

  onEnd(): void {
    if (this.readDone) return;
    this.pipe.endedFirst ??= this;
    this.readDone = true;
    this.peer.passFin();
    if (this.writeDone) this.close();
  }

  onClose(err?: Error): void {
    if (this.closed) return;
    const pipe = this.pipe;
    if (err && this === pipe.b && this.bytesIn === 0 && this.peer.bytesIn === 0 && pipe.owner.resetBeforeData?.(pipe, err)) {
      this.closed = true;
      return;
    }
    this.closed = true;
    this.pipe.endedFirst ??= this;
    this.readDone = true;
    this.writeDone = true;
    this.queue = NO_QUEUE;
    const peer = this.peer;
    if (err && !peer.closed) {
      // The other side of a reset tunnel cannot be completed: drop it too.
      peer.close();
    } else {
      // Deliver what we already read, then the peer closes as well.
      peer.passFin();
      if (!peer.readDone) {
        peer.pauseReading();
        peer.readDone = true;
      }
      if (peer.writeDone) peer.close();
    }
    this.pipe.sideClosed(this, err);
  }

  /** Write queued bytes; true when the queue is empty. */
  flush(): boolean {
    const r = flushQueue(this);
    if (r === LOST) this.lost();
    if (r !== SENT) return false;
    if (this.finPending) this.shutdownNow();
    return true;
  }

  /** Stop reading this socket until the peer's queue drains. */
  pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.readDone) this.socket.resume();
  }

  /** The peer finished sending: pass the FIN on after the queue. */
  passFin(): void {
    if (this.writeDone) return;
    if (this.queue.length > 0) this.finPending = true;
    else this.shutdownNow();
  }

  private shutdownNow(): void {
    this.finPending = false;
    this.writeDone = true;
    if (this.readDone) this.close();
    else this.socket.shutdown();
  }

  /** A write failed: the socket is unusable. */
  private lost(): void {
    this.writeDone = true;
    this.queue = NO_QUEUE;
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.socket.end(); // fires onClose synchronously in most cases
    if (!this.closed) this.onClose();
  }

  abort(): void {
    if (this.closed) return;
    this.socket.terminate();
    if (!this.closed) this.onClose();
  }
}

/** Two endpoints relaying to each other. */
export class Pipe {
  readonly a: Endpoint;
  readonly b: Endpoint;
  owner: PipeOwner;
  private open = 2;

  constructor(a: Sock, b: Sock, owner: PipeOwner) {
    this.owner = owner;
    this.a = new Endpoint(a, this);
    this.b = new Endpoint(b, this);
    this.a.peer = this.b;
    this.b.peer = this.a;
    handOver(a, this.a);
    handOver(b, this.b);
  }

  /** The error that closed side `b` (the server), if it was reset. */
  serverError: Error | undefined;
  /** Side `a` (the client) was reset. */
  clientReset = false;
  /** The side that ended (FIN or close) first: who finished the session. */
  endedFirst: Endpoint | undefined;

  sideClosed(side: Endpoint, err?: Error): void {
    if (err && side === this.b) this.serverError ??= err;
    else if (err) this.clientReset = true;
    if (--this.open === 0) this.owner.pipeClosed(this, err);
  }

  /** Close both sides now (idle timeout, shutdown). */
  abort(): void {
    this.a.abort();
    this.b.abort();
  }
}
