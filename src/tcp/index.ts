/** The tcp protocol module: the relay session, with a PROXY header first when asked, its backend chosen by TLS name when the service has routes; tcp probes. */
import { proxyHeaderFor } from "../net/client-address.ts";
import type { ClientAddressMode } from "../config/types.ts";
import type { Protocol } from "../protocol.ts";
import type { Handshake } from "../relay/handshake.ts";
import { tcpCheck } from "./probe.ts";
import { sniReader } from "./sni.ts";
import { type RelayOptions, RelaySession } from "../relay/session.ts";

/** With client_address = "proxy-v1"/"proxy-v2": the PROXY header goes first. */
function proxyHeaderHandshake(mode: ClientAddressMode): Handshake {
  return {
    run(sock, ctx, done) {
      const header = proxyHeaderFor(mode, ctx.client)!;
      if (sock.write(header) === header.length) return done({ ok: true });
      sock.end();
      done({ ok: false, outcome: "reset", detail: "could not send the PROXY header" });
    },
  };
}

export const tcp: Protocol = {
  name: "tcp",
  backendSetup(cfg) {
    const mode = cfg.client_address;
    const options: RelayOptions = mode === "proxy-v1" || mode === "proxy-v2" ? { handshake: proxyHeaderHandshake(mode) } : {};
    return { shared: options };
  },
  accept: (client, service) => (service.cfg.routes.length > 0 ? new RelaySession(client, service, sniReader) : new RelaySession(client, service)),
  probe: ({ cfg, tls }) => tcpCheck({ connectMs: cfg.timeout_connect, clientAddress: cfg.client_address, timeoutMs: cfg.health?.timeout ?? cfg.timeout_connect, tls, ...cfg.health?.tcp }),
};
