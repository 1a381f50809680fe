/**
 * The smtp check: connect (with the service's PROXY header), require a 220
 * greeting, with `ehlo` (active checks) say EHLO and require a 250, then
 * QUIT, read the 221, close — so servers log a clean session rather than
 * "lost connection after CONNECT". A 421 greeting fails it. Takes its
 * settings as arguments, not from a service.
 */
import { hostname } from "node:os";
import { handOver } from "../net/handlers.ts";
import { connect } from "../net/connect.ts";
import type { ServerTls } from "../tls/client.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import type { Probe, ProbeResult } from "../scheduler.ts";
import type { BackendHandle } from "../protocol.ts";
import { ReplyReader } from "./reply.ts";

export interface SmtpCheckOptions {
  /** TLS to the server (the backend's server_tls), or undefined. */
  readonly tls?: ServerTls;
  readonly connectMs: number;
  /** ms for the rest of the check once connected (legacy: timeout_smtp_greeting), or for the whole check with `whole`. */
  readonly timeoutMs: number;
  /** The timeout counts from the start of the connect (active checks). */
  readonly whole: boolean;
  /** Say EHLO between the greeting and QUIT. */
  readonly ehlo: boolean;
  /** The PROXY header (or XCLIENT-less nothing) to send first. */
  readonly preamble: () => Uint8Array | undefined;
}

const EHLO_NAME = /^[A-Za-z0-9.-]+$/.test(hostname()) ? hostname() : "localhost";

class SmtpProbe implements SocketEvents {
  private readonly replies = new ReplyReader();
  private greeted = false;
  /** EHLO sent, its reply awaited. */
  private helloSent = false;
  private result: ProbeResult | undefined;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly sock: Sock,
    private readonly resolve: (r: ProbeResult) => void,
    timeoutMs: number,
    private readonly ehlo: boolean,
  ) {
    handOver(sock, this);
    this.timer = setTimeout(() => {
      // A server that never greeted, or never answered EHLO, may still be listening: end its session cleanly
      // (one that has QUIT already just did not answer it).
      if (!this.greeted || this.helloSent) this.sock.write("QUIT\r\n");
      this.end({ outcome: "timeout", detail: this.greeted ? `no answer to ${this.helloSent ? "EHLO" : "QUIT"} within ${timeoutMs} ms` : `no greeting within ${timeoutMs} ms` });
    }, timeoutMs);
  }

  private end(r: ProbeResult): void {
    if (this.result) return;
    this.result = r;
    clearTimeout(this.timer);
    this.sock.end();
    this.resolve(r);
  }

  onData(data: Uint8Array): void {
    this.replies.push(data);
    for (let r = this.replies.next(); r.kind !== "more" && !this.result; r = this.replies.next()) {
      if (r.kind === "error") {
        this.sock.write("QUIT\r\n"); // polite even to a server that speaks something else
        return this.end({ outcome: "bad-greeting", detail: `not an SMTP reply (${r.reason})`, reason: "protocol" });
      }
      const text = `${r.code} ${r.lines[0] ?? ""}`.trim();
      if (this.helloSent) {
        this.helloSent = false;
        this.sock.write("QUIT\r\n");
        if (r.code !== 250) return this.end({ outcome: "bad-greeting", detail: `EHLO answered ${text}`, code: r.code, reason: "status" });
        continue;
      }
      if (this.greeted) return this.end(r.code === 221 ? { outcome: "connected", detail: "", code: 220 } : { outcome: "bad-greeting", detail: `QUIT answered ${text}`, code: r.code, reason: "status" });
      if (r.code !== 220) {
        this.sock.write("QUIT\r\n");
        return this.end({ outcome: "bad-greeting", detail: `greeting ${text}`, code: r.code, reason: "status" });
      }
      this.greeted = true;
      if (this.ehlo) {
        this.helloSent = true;
        this.sock.write(`EHLO ${EHLO_NAME}\r\n`);
      } else this.sock.write("QUIT\r\n");
    }
  }
  onDrain(): void {}
  onEnd(): void {
    // A server may close right after 221 or without it: greeted (and its EHLO answered) is what counts.
    if (this.helloSent) this.end({ outcome: "reset", detail: "closed before answering EHLO" });
    else this.end(this.greeted ? { outcome: "connected", detail: "", code: 220 } : { outcome: "bad-greeting", detail: "closed before greeting", reason: "reset" });
  }
  onClose(): void {
    this.onEnd();
  }
}

export function smtpCheck(opts: SmtpCheckOptions): Probe {
  return (server) =>
    new Promise<ProbeResult>((resolve) => {
      const t0 = performance.now();
      connect(server.address!, server.port, opts.whole ? Math.min(opts.connectMs, opts.timeoutMs) : opts.connectMs, {
        connected(sock) {
          new SmtpProbe(sock, resolve, opts.whole ? Math.max(1, Math.round(opts.timeoutMs - (performance.now() - t0))) : opts.timeoutMs, opts.ehlo);
          const pre = opts.preamble();
          if (pre) sock.write(pre);
        },
        failed(outcome, detail) {
          resolve({ outcome, detail });
        },
      }, opts.tls, server.tlsName);
    });
}
