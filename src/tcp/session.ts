/**
 * One tcp client connection: pick a server, connect (failing over to the
 * next server the balancer gives, each at most once), then pipe bytes both
 * ways. The client stays paused until a server is connected, so nothing is
 * buffered while connecting.
 */
import type { Sweepable } from "../net/sweep.ts";
import { connect } from "../net/connect.ts";
import { Pipe, type PipeOwner } from "../net/pipe.ts";
import type { ConnectFailure, Sock, SocketEvents } from "../net/types.ts";
import type { Server } from "../servers/state.ts";
import type { Service } from "../service.ts";
import { logEnabled, logger } from "../log.ts";

const log = logger("tcp");

export class TcpSession implements SocketEvents, PipeOwner, Sweepable {
  private server: Server | undefined;
  private tried: Set<Server> | undefined;
  private cancel: (() => void) | undefined;
  private pipe: Pipe | undefined;
  private gone = false;

  constructor(
    private readonly client: Sock,
    private readonly service: Service,
  ) {
    service.sessions.add(this);
    this.next();
  }

  /** Try the next server, or give up and close the client. */
  private next(): void {
    const svc = this.service;
    const server = svc.pool.balancer.pick({ client: svc.clientKey(this.client), tried: this.tried }) as Server | undefined;
    if (server === undefined || server.address === undefined) {
      if (logEnabled("info")) log.info(`service "${svc.name}": no server available for ${this.client.remoteAddress}, closing`);
      this.client.end();
      this.finish();
      return;
    }
    this.server = server;
    this.cancel = connect(server.address, server.port, svc.cfg.timeout_connect, this);
  }

  connected(sock: Sock): void {
    this.cancel = undefined;
    const server = this.server!;
    const pool = this.service.pool;
    pool.report(server, "connected");
    if (this.gone) {
      sock.terminate();
      return;
    }
    pool.connectionStart(server);
    const clientDone = this.pipe?.a.readDone ?? false;
    this.pipe = new Pipe(this.client, sock, this);
    if (clientDone) {
      // The client's FIN reached the previous server: pass it on again.
      this.pipe.a.readDone = true;
      this.pipe.b.passFin();
    } else this.client.resume();
  }

  /**
   * The server reset the connection before any byte went either way (it died
   * with us still in its accept queue): nothing was delivered, so fail over
   * as if the connect had failed.
   */
  resetBeforeData(_pipe: Pipe, err: Error): boolean {
    if (this.gone || this.pipe!.a.closed) return false;
    const server = this.server!;
    const pool = this.service.pool;
    pool.connectionEnd(server);
    pool.report(server, "reset", `connection reset before any data (${(err as { code?: string }).code ?? err.message})`);
    this.client.pause();
    this.client.data = this;
    (this.tried ??= new Set()).add(server);
    this.next();
    return true;
  }

  failed(reason: ConnectFailure, detail: string): void {
    this.cancel = undefined;
    const server = this.server!;
    this.service.pool.report(server, reason, detail);
    if (this.gone) return;
    (this.tried ??= new Set()).add(server);
    this.next();
  }

  pipeClosed(): void {
    this.service.pool.connectionEnd(this.server!);
    this.finish();
  }

  sweep(now: number): void {
    const p = this.pipe;
    if (p === undefined) return;
    const cfg = this.service.cfg;
    if (now - p.a.last > cfg.timeout_client || now - p.b.last > cfg.timeout_server) {
      if (logEnabled("debug")) log.debug(`idle timeout: closing ${this.client.remoteAddress} ⇄ ${this.server}`);
      p.abort();
    }
  }

  /** Close now (shutdown deadline). */
  abort(): void {
    if (this.pipe) this.pipe.abort();
    else {
      this.client.terminate();
      this.onClose();
    }
  }

  private finish(): void {
    this.gone = true;
    this.service.sessions.delete(this);
  }

  // Client events before the pipe exists (the client is paused: only a
  // reset or close can arrive). Afterwards the pipe's endpoints get them.
  onData(): void {}
  onDrain(): void {}
  onEnd(): void {
    this.onClose();
  }
  onClose(): void {
    if (this.gone) return;
    this.cancel?.();
    this.finish();
  }
}
