/**
 * The smtp probe: connect (with the service's PROXY header), require a 220
 * greeting, say QUIT, read the 221, close — so servers log a clean session
 * rather than "lost connection after CONNECT". A 421 greeting keeps the
 * server down.
 */
import { handOver } from "../net/handlers.ts";
import { connect } from "../net/connect.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import type { Probe, ProbeResult } from "../scheduler.ts";
import type { ServiceHandle } from "../protocol.ts";
import { ReplyReader } from "./reply.ts";

class SmtpProbe implements SocketEvents {
  private readonly replies = new ReplyReader();
  private greeted = false;
  private result: ProbeResult | undefined;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly sock: Sock,
    private readonly resolve: (r: ProbeResult) => void,
    timeoutMs: number,
  ) {
    handOver(sock, this);
    this.timer = setTimeout(() => {
      this.sock.write("QUIT\r\n"); // a silent server may still be listening: end its session cleanly
      this.end({ outcome: "timeout", detail: `no greeting within ${timeoutMs} ms` });
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
        return this.end({ outcome: "bad-greeting", detail: `not an SMTP reply (${r.reason})` });
      }
      const text = `${r.code} ${r.lines[0] ?? ""}`.trim();
      if (this.greeted) return this.end(r.code === 221 ? { outcome: "connected", detail: "" } : { outcome: "bad-greeting", detail: `QUIT answered ${text}` });
      this.sock.write("QUIT\r\n");
      if (r.code !== 220) return this.end({ outcome: "bad-greeting", detail: `greeting ${text}` });
      this.greeted = true;
    }
  }
  onDrain(): void {}
  onEnd(): void {
    // A server may close right after 221 or without it: greeted is what counts.
    this.end(this.greeted ? { outcome: "connected", detail: "" } : { outcome: "bad-greeting", detail: "closed before greeting" });
  }
  onClose(): void {
    this.onEnd();
  }
}

export function smtpProbe(service: ServiceHandle, preamble: () => Uint8Array | undefined): Probe {
  return (server) =>
    new Promise<ProbeResult>((resolve) => {
      connect(server.address!, server.port, service.cfg.timeout_connect, {
        connected(sock) {
          new SmtpProbe(sock, resolve, service.cfg.smtp.timeout_smtp_greeting);
          const pre = preamble();
          if (pre) sock.write(pre);
        },
        failed(outcome, detail) {
          resolve({ outcome, detail });
        },
      });
    });
}
