/** The tcp probe: a connect within timeout_connect, then close. */
import { connect } from "../net/connect.ts";
import type { Probe, ProbeResult } from "../scheduler.ts";
import type { Service } from "../service.ts";

export function tcpProbe(service: Service): Probe {
  return (server) =>
    new Promise<ProbeResult>((resolve) => {
      connect(server.address!, server.port, service.cfg.timeout_connect, {
        connected(sock) {
          sock.data = closedEvents;
          sock.end();
          resolve({ outcome: "connected", detail: "" });
        },
        failed(outcome, detail) {
          resolve({ outcome, detail });
        },
      });
    });
}

const closedEvents = { onData() {}, onDrain() {}, onEnd() {}, onClose() {} };
