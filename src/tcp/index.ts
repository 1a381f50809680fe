import { proxyHeaderFor } from "../net/client-address.ts";
import type { Protocol } from "../protocol.ts";
import type { ServiceHandle } from "../protocol.ts";
import type { Handshake } from "../relay/handshake.ts";
import { tcpProbe } from "./probe.ts";
import { type RelayOptions, RelaySession } from "../relay/session.ts";

const relayOptions = new WeakMap<ServiceHandle, RelayOptions>();

/** With client_address = "proxy-v1"/"proxy-v2": the PROXY header goes first. */
function proxyHeaderHandshake(service: ServiceHandle): Handshake {
  return {
    run(sock, ctx, done) {
      const header = proxyHeaderFor(service.cfg.client_address, ctx.client)!;
      if (sock.write(header) === header.length) return done({ ok: true });
      sock.end();
      done({ ok: false, outcome: "reset", detail: "could not send the PROXY header" });
    },
  };
}

export const tcp: Protocol = {
  name: "tcp",
  init(service) {
    const mode = service.cfg.client_address;
    if (mode === "proxy-v1" || mode === "proxy-v2") relayOptions.set(service, { handshake: proxyHeaderHandshake(service) });
  },
  accept: (client, service) => new RelaySession(client, service, relayOptions.get(service)),
  probe: tcpProbe,
};
