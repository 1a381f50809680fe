/**
 * The tcp check: a connect within the connect time, then close; or, with
 * `send` / `expect` (health), write `send` and wait for `expect` in what
 * the server sends, within the check's time. Takes its settings as
 * arguments, not from a service.
 */
import type { ClientAddressMode } from "../config/types.ts";
import { appendBytes, indexOfBytes } from "../net/bytes.ts";
import { DISCARD, handOver } from "../net/handlers.ts";
import { proxyHeaderForProbe } from "../net/client-address.ts";
import { connect } from "../net/connect.ts";
import type { ServerTls } from "../tls/client.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import type { Probe, ProbeResult } from "../scheduler.ts";

export interface TcpCheckOptions {
  /** TLS to the server (the backend's server_tls), or undefined. */
  readonly tls?: ServerTls;
  readonly connectMs: number;
  /** ms for the whole check, connect included (with `expect`). */
  readonly timeoutMs: number;
  readonly clientAddress: ClientAddressMode;
  readonly send?: string;
  readonly expect?: string;
}

/** Longest reply searched for `expect`. */
const MAX_REPLY = 64 * 1024;

class Expecting implements SocketEvents {
  private buf: Uint8Array | undefined;
  private done = false;
  private readonly timer: ReturnType<typeof setTimeout>;
  constructor(
    private readonly sock: Sock,
    private readonly needle: Uint8Array,
    private readonly text: string,
    private readonly resolve: (r: ProbeResult) => void,
    remainingMs: number,
    timeoutMs: number,
  ) {
    handOver(sock, this);
    this.timer = setTimeout(() => this.finish({ outcome: "timeout", detail: `no ${JSON.stringify(text)} within ${timeoutMs} ms${this.got()}`, reason: this.buf ? "body" : "timeout" }), remainingMs);
  }
  /** What came instead, shortened, for messages. */
  private got(): string {
    if (this.buf === undefined) return "";
    const text = new TextDecoder().decode(this.buf.subarray(0, 40));
    return ` (got ${JSON.stringify(text)}${this.buf.length > 40 ? "…" : ""})`;
  }
  private finish(r: ProbeResult): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.sock.end();
    this.resolve(r);
  }
  onData(data: Uint8Array): void {
    this.buf = appendBytes(this.buf, data);
    if (indexOfBytes(this.buf, this.needle, Math.max(0, this.buf.length - data.length - this.needle.length)) >= 0) this.finish({ outcome: "connected", detail: `got ${JSON.stringify(this.text)}` });
    else if (this.buf.length > MAX_REPLY) this.finish({ outcome: "reset", detail: `no ${JSON.stringify(this.text)} in the first ${MAX_REPLY} bytes`, reason: "body" });
  }
  onDrain(): void {}
  onEnd(): void {
    this.finish({ outcome: "reset", detail: `closed without ${JSON.stringify(this.text)}${this.got()}`, reason: this.buf ? "body" : "reset" });
  }
  onClose(): void {
    this.onEnd();
  }
}

export function tcpCheck(opts: TcpCheckOptions): Probe {
  const pre = proxyHeaderForProbe(opts.clientAddress);
  const needle = opts.expect === undefined ? undefined : new TextEncoder().encode(opts.expect);
  return (server) =>
    new Promise<ProbeResult>((resolve) => {
      const t0 = performance.now();
      connect(server.address!, server.port, Math.min(opts.connectMs, opts.timeoutMs), {
        connected(sock) {
          if (needle) new Expecting(sock, needle, opts.expect!, resolve, Math.max(1, opts.timeoutMs - (performance.now() - t0)), opts.timeoutMs);
          else handOver(sock, DISCARD);
          if (pre) sock.write(pre); // a server that expects the header must not log a bad one
          if (opts.send !== undefined) sock.write(opts.send);
          if (needle) return;
          sock.end();
          resolve({ outcome: "connected", detail: opts.send === undefined ? "" : `sent ${JSON.stringify(opts.send)}` });
        },
        failed(outcome, detail) {
          resolve({ outcome, detail });
        },
      }, opts.tls, server.tlsName);
    });
}
