/**
 * The connections an http check keeps open between two checks of a server
 * (`health.reuse`, on by default as Envoy's `reuse_connection`): one idle
 * connection per server, taken by the next check and given back when its
 * answer was complete and the server keeps the connection. A check then
 * costs a write and a read instead of a connect and a close: about half
 * the CPU (bench/checks.ts). The owner of these sockets: they are closed
 * when their server leaves the pool, when the checks stop (reload,
 * removal, shutdown) and when the server closes or sends anything while
 * idle.
 */
import { handOver } from "../net/handlers.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import type { Server } from "../servers/server.ts";

interface Idle {
  readonly sock: Sock;
  /** The address it was connected to (a server's address can change with DNS). */
  readonly address: string;
}

export class CheckConnections {
  private readonly idle = new Map<Server, Idle>();
  private released = false;
  /** Servers that left the pool: a check of theirs still running ends its connection. */
  private readonly gone = new WeakSet<Server>();

  /** The server's idle connection, now the caller's; undefined when there is none (or it went to another address). */
  take(server: Server): Sock | undefined {
    const kept = this.idle.get(server);
    if (kept === undefined) return undefined;
    this.idle.delete(server);
    if (kept.address === server.address) return kept.sock;
    kept.sock.end();
    return undefined;
  }

  /** Keep `sock` for the server's next check (the caller lets go of it); closes it when checks have stopped. */
  keep(server: Server, sock: Sock): void {
    const address = server.address;
    if (this.released || this.gone.has(server) || address === undefined || this.idle.has(server)) return void sock.end();
    const entry: Idle = { sock, address };
    const drop = () => {
      if (this.idle.get(server) === entry) this.idle.delete(server);
      sock.end();
    };
    const watcher: SocketEvents = { onData: drop, onDrain() {}, onEnd: drop, onClose: drop };
    handOver(sock, watcher);
    this.idle.set(server, entry);
  }

  /** Close the kept connection of `server`, or of every server (and keep none from now on). */
  release(server?: Server): void {
    if (server === undefined) this.released = true;
    else this.gone.add(server);
    for (const [s, kept] of this.idle) {
      if (server !== undefined && s !== server) continue;
      this.idle.delete(s);
      kept.sock.end();
    }
  }

  /** Idle connections kept (for tests). */
  get size(): number {
    return this.idle.size;
  }
}
