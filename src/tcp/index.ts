import type { Protocol } from "../protocol.ts";
import { tcpProbe } from "./probe.ts";
import { TcpSession } from "./session.ts";

export const tcp: Protocol = {
  name: "tcp",
  accept: (client, service) => new TcpSession(client, service),
  probe: tcpProbe,
};
