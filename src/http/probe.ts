/**
 * The http check: connect, send `GET <path>` and judge the answer (status
 * classes or codes, and a body substring: expect.ts) within the check's
 * time. Used for the probes of down servers (health_path) and for active
 * checks (`health`); takes its settings as arguments, not from a service.
 * With a body to look for, the request is HTTP/1.0 (as HAProxy's httpchk),
 * so the body ends at the close or its Content-Length, never chunked.
 */
import type { HttpExpect } from "../config/health.ts";
import { MAX_CHECK_BODY } from "../config/health.ts";
import type { ClientAddressMode } from "../config/types.ts";
import { handOver } from "../net/handlers.ts";
import { appendBytes } from "../net/bytes.ts";
import { proxyHeaderForProbe } from "../net/client-address.ts";
import { connect } from "../net/connect.ts";
import type { ServerTls } from "../tls/client.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import type { Probe, ProbeResult } from "../scheduler.ts";
import { judge } from "./expect.ts";
import { parseResponseHead } from "./head.ts";
import { DEFAULT_LIMITS, type ResponseHead } from "./types.ts";

export interface HttpCheckOptions {
  /** TLS to the server (the backend's server_tls), or undefined. */
  readonly tls?: ServerTls;
  readonly path: string;
  /** Host field value; default the server's host:port. */
  readonly host: string | undefined;
  readonly expect: HttpExpect;
  /** ms to connect (at most `timeoutMs`). */
  readonly connectMs: number;
  /** ms for the whole check, connect included. */
  readonly timeoutMs: number;
  readonly clientAddress: ClientAddressMode;
}

class HttpCheck implements SocketEvents {
  private buf: Uint8Array | undefined;
  private scanFrom = 0;
  private head: ResponseHead | undefined;
  private bodyFrom = 0;
  private done = false;
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly needle: Uint8Array | undefined;

  constructor(
    private readonly sock: Sock,
    private readonly opts: HttpCheckOptions,
    private readonly resolve: (r: ProbeResult) => void,
    remainingMs: number,
  ) {
    handOver(sock, this);
    this.needle = opts.expect.body === undefined ? undefined : new TextEncoder().encode(opts.expect.body);
    this.timer = setTimeout(() => this.fail("timeout", `no answer within ${opts.timeoutMs} ms`), remainingMs);
  }

  private finish(r: ProbeResult): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.sock.end();
    this.resolve(r);
  }

  private fail(outcome: ProbeResult["outcome"], what: string, reason?: ProbeResult["reason"]): void {
    this.finish({ outcome, detail: `GET ${this.opts.path}: ${what}`, code: this.head?.status, reason });
  }

  onData(data: Uint8Array): void {
    if (this.done) return;
    this.buf = appendBytes(this.buf, data);
    while (this.head === undefined) {
      const r = parseResponseHead(this.buf, DEFAULT_LIMITS, this.scanFrom, "GET");
      if (r.kind === "more") {
        this.scanFrom = r.scanFrom;
        return;
      }
      if (r.kind === "error") return this.fail("reset", `invalid answer: ${r.reason}`, "protocol");
      if (r.head.status < 200) {
        // 1xx: the final answer comes next
        this.buf = this.buf.subarray(r.consumed);
        this.scanFrom = 0;
        continue;
      }
      this.head = r.head;
      this.bodyFrom = r.consumed;
    }
    this.verdict(false);
  }

  /** Judge what came so far (`closed`: nothing more will). */
  private verdict(closed: boolean): void {
    const head = this.head!;
    const body = this.buf!.subarray(this.bodyFrom);
    const length = head.body.kind === "length" ? head.body.length : head.body.kind === "none" ? 0 : Infinity;
    const complete = closed || body.length >= Math.min(length, MAX_CHECK_BODY);
    const v = judge(this.opts.expect, head.status, body.subarray(0, Math.min(length, MAX_CHECK_BODY)), complete, this.needle);
    if (v === undefined) return;
    const said = `GET ${this.opts.path} → ${head.status}`;
    if (v.ok) this.finish({ outcome: "connected", detail: said, code: head.status });
    else this.finish({ outcome: "reset", detail: v.reason === "status" ? said : `${said}, ${v.why}`, code: head.status, reason: v.reason });
  }

  onDrain(): void {}
  onEnd(): void {
    if (this.head !== undefined) this.verdict(true);
    else this.fail("reset", "connection closed before an answer");
  }
  onClose(): void {
    this.onEnd();
  }
}

export function httpCheck(opts: HttpCheckOptions): Probe {
  const version = opts.expect.body === undefined ? "HTTP/1.1" : "HTTP/1.0";
  const pre = proxyHeaderForProbe(opts.clientAddress);
  return (server) =>
    new Promise<ProbeResult>((resolve) => {
      const t0 = performance.now();
      connect(server.address!, server.port, Math.min(opts.connectMs, opts.timeoutMs), {
        connected(sock) {
          const check = new HttpCheck(sock, opts, resolve, Math.max(1, opts.timeoutMs - (performance.now() - t0)));
          if (pre) sock.write(pre);
          const host = opts.host ?? (server.host.includes(":") ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`);
          if (sock.write(`GET ${opts.path} ${version}\r\nHost: ${host}\r\nUser-Agent: plb-health-check\r\nConnection: close\r\n\r\n`) < 0) {
            check.onEnd();
          }
        },
        failed(outcome, detail) {
          resolve({ outcome, detail });
        },
      }, opts.tls, server.tlsName);
    });
}
