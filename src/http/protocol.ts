/** The http protocol module: sessions per client connection, tcp probes. */
import type { Protocol } from "../protocol.ts";
import { tcpProbe } from "../tcp/probe.ts";
import { healthProbe } from "./probe.ts";
import { setupHttp, setupHttpBackend } from "./runtime.ts";
import { HttpSession } from "./session.ts";

export const http: Protocol = {
  name: "http",
  setup: setupHttp,
  backendSetup: setupHttpBackend,
  accept: (client, service) => new HttpSession(client, service),
  probe: (service) => (service.cfg.http.health_path ? healthProbe(service) : tcpProbe(service)),
};
