/** The tcp probe: a connect within timeout_connect, then close. */
import { DISCARD, handOver } from "../net/handlers.ts";
import { proxyHeaderForProbe } from "../net/client-address.ts";
import { connect } from "../net/connect.ts";
import type { Probe, ProbeResult } from "../scheduler.ts";
import type { BackendHandle } from "../protocol.ts";

export function tcpProbe(service: BackendHandle): Probe {
  return (server) =>
    new Promise<ProbeResult>((resolve) => {
      connect(server.address!, server.port, service.cfg.timeout_connect, {
        connected(sock) {
          handOver(sock, DISCARD);
          const pre = proxyHeaderForProbe(service.cfg.client_address);
          if (pre) sock.write(pre); // a server that expects the header must not log a bad one
          sock.end();
          resolve({ outcome: "connected", detail: "" });
        },
        failed(outcome, detail) {
          resolve({ outcome, detail });
        },
      });
    });
}
