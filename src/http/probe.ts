/**
 * The http check: connect, send `GET <path>` and judge the answer (status
 * classes or codes, and a body substring: expect.ts) within the check's
 * time. Used for the probes of down servers (health_path) and for active
 * checks (`health`); takes its settings as arguments, not from a service.
 * With a body to look for, the request is HTTP/1.0 (as HAProxy's httpchk),
 * so the body ends at the close or its Content-Length, never chunked.
 * Without one, and with `reuse`, the connection stays open for the next
 * check of the server when the answer allows it (check-connections.ts); a
 * kept connection the server closed meanwhile costs a fresh connect within
 * the same check, never a failure.
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
import type { Server } from "../servers/server.ts";
import { CheckConnections } from "./check-connections.ts";
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
  /** Keep the connection for the next check when the answer allows it (no body to look for). */
  readonly reuse?: boolean;
}

/** How a check ends, for the function that started it. */
interface CheckEnd {
  /** The verdict; `sock` still open when the connection may serve the next check. */
  done(r: ProbeResult, sock: Sock | undefined): void;
  /** A kept connection was closed by the server before any byte of an answer: try a fresh one. */
  stale(): void;
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
    private readonly end: CheckEnd,
    remainingMs: number,
    /** The connection served an earlier check. */
    private readonly reused: boolean,
  ) {
    handOver(sock, this);
    this.needle = opts.expect.body === undefined ? undefined : new TextEncoder().encode(opts.expect.body);
    this.timer = setTimeout(() => this.fail("timeout", `no answer within ${opts.timeoutMs} ms`), remainingMs);
  }

  private finish(r: ProbeResult, keep = false): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (!keep) this.sock.end();
    this.end.done(r, keep ? this.sock : undefined);
  }

  /** The whole answer came, nothing after it, and the server keeps the connection. */
  private reusable(): boolean {
    const head = this.head!;
    if (!this.opts.reuse || !head.keepAlive) return false;
    const length = head.body.kind === "length" ? head.body.length : head.body.kind === "none" ? 0 : -1;
    return length >= 0 && this.buf!.length === this.bodyFrom + length;
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
    if (v.ok) this.finish({ outcome: "connected", detail: said, code: head.status }, !closed && this.reusable());
    else this.finish({ outcome: "reset", detail: v.reason === "status" ? said : `${said}, ${v.why}`, code: head.status, reason: v.reason });
  }

  onDrain(): void {}
  onEnd(): void {
    if (this.head !== undefined) this.verdict(true);
    else if (this.reused && this.buf === undefined && !this.done) {
      this.done = true;
      clearTimeout(this.timer);
      this.sock.end();
      this.end.stale();
    } else this.fail("reset", "connection closed before an answer");
  }
  onClose(): void {
    this.onEnd();
  }
}

export function httpCheck(opts: HttpCheckOptions): Probe {
  const version = opts.expect.body === undefined ? "HTTP/1.1" : "HTTP/1.0";
  const reuse = opts.reuse === true && opts.expect.body === undefined;
  const close = reuse ? "" : "Connection: close\r\n";
  const kept = reuse ? new CheckConnections() : undefined;
  const pre = proxyHeaderForProbe(opts.clientAddress);
  // the request of each server, as bytes: the same for every check of it
  const requests = new WeakMap<Server, Uint8Array>();
  const request = (server: Server) => {
    let bytes = requests.get(server);
    if (bytes === undefined) {
      const host = opts.host ?? (server.host.includes(":") ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`);
      bytes = Buffer.from(`GET ${opts.path} ${version}\r\nHost: ${host}\r\nUser-Agent: plb-health-check\r\n${close}\r\n`, "latin1");
      requests.set(server, bytes);
    }
    return bytes;
  };
  const probe: Probe = (server) =>
    new Promise<ProbeResult>((resolve) => {
      const t0 = performance.now();
      const remaining = () => Math.max(1, opts.timeoutMs - (performance.now() - t0));
      const start = (sock: Sock, reused: boolean) => {
        const check = new HttpCheck(sock, opts, end, remaining(), reused);
        if (pre && !reused) sock.write(pre);
        if (sock.write(request(server)) < 0) check.onEnd();
      };
      const fresh = () =>
        connect(server.address!, server.port, Math.min(opts.connectMs, remaining()), {
          connected: (sock) => start(sock, false),
          failed: (outcome, detail) => resolve({ outcome, detail }),
        }, opts.tls, server.tlsName);
      const end: CheckEnd = {
        done(r, sock) {
          if (sock) kept!.keep(server, sock);
          resolve(r);
        },
        stale: fresh,
      };
      const idle = kept?.take(server);
      if (idle) start(idle, true);
      else fresh();
    });
  if (kept) probe.release = (server) => kept.release(server);
  return probe;
}
