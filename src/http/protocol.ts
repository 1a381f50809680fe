/** The http protocol module: sessions per client connection, tcp probes. */
import type { Protocol } from "../protocol.ts";
import { tcpProbe } from "../tcp/probe.ts";
import { httpRuntime } from "./runtime.ts";
import { HttpSession } from "./session.ts";

export const http: Protocol = {
  name: "http",
  accept: (client, service) => new HttpSession(client, service, httpRuntime(service)),
  probe: tcpProbe,
};
