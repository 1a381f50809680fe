/**
 * The http health probe (health_path set): connect within timeout_connect,
 * send `GET <health_path>` and require a 2xx or 3xx status line within
 * timeout_server. Anything else keeps the server down, with the reason.
 */
import { handOver } from "../net/handlers.ts";
import { appendBytes } from "../net/bytes.ts";
import { proxyHeaderForProbe } from "../net/client-address.ts";
import { connect } from "../net/connect.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import type { Probe, ProbeResult } from "../scheduler.ts";
import type { BackendHandle } from "../protocol.ts";
import { parseResponseHead } from "./head.ts";
import { DEFAULT_LIMITS } from "./types.ts";

class HealthCheck implements SocketEvents {
  private buf: Uint8Array | undefined;
  private scanFrom = 0;
  private done = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly sock: Sock,
    private readonly resolve: (r: ProbeResult) => void,
    timeoutMs: number,
  ) {
    handOver(sock, this);
    this.timer = setTimeout(() => this.finish({ outcome: "timeout", detail: `no answer to the health check within ${timeoutMs} ms` }), timeoutMs);
  }

  private finish(r: ProbeResult): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.sock.end();
    this.resolve(r);
  }

  onData(data: Uint8Array): void {
    const buf = appendBytes(this.buf, data);
    const r = parseResponseHead(buf, DEFAULT_LIMITS, this.scanFrom, "GET");
    if (r.kind === "more") {
      this.buf = buf;
      this.scanFrom = r.scanFrom;
    } else if (r.kind === "error") {
      this.finish({ outcome: "reset", detail: `invalid answer to the health check: ${r.reason}` });
    } else if (r.head.status >= 200 && r.head.status < 400) {
      this.finish({ outcome: "connected", detail: `health check: ${r.head.status}` });
    } else {
      this.finish({ outcome: "reset", detail: `health check answered ${r.head.status} ${r.head.reason}` });
    }
  }
  onDrain(): void {}
  onEnd(): void {
    this.finish({ outcome: "reset", detail: "health check: connection closed before an answer" });
  }
  onClose(): void {
    this.onEnd();
  }
}

export function healthProbe(service: BackendHandle): Probe {
  const path = service.cfg.http.health_path!;
  return (server) =>
    new Promise<ProbeResult>((resolve) => {
      connect(server.address!, server.port, service.cfg.timeout_connect, {
        connected(sock) {
          const check = new HealthCheck(sock, resolve, service.cfg.timeout_server);
          const pre = proxyHeaderForProbe(service.cfg.client_address);
          if (pre) sock.write(pre);
          const host = server.host.includes(":") ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
          if (sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: plb-health-check\r\nConnection: close\r\n\r\n`) < 0) {
            check.onEnd();
          }
        },
        failed(outcome, detail) {
          resolve({ outcome, detail });
        },
      });
    });
}
