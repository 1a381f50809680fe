/** Protocol modules by config name (`protocol = "tcp"`): one for each of PROTOCOL_NAMES. */
import type { Protocol } from "./protocol.ts";
import type { ProtocolName } from "./protocol-names.ts";
import { http } from "./http/protocol.ts";
import { smtp } from "./smtp/protocol.ts";
import { tcp } from "./tcp/index.ts";

const byName: { readonly [N in ProtocolName]: Protocol } = { tcp, http, smtp };

export function findProtocol(name: string): Protocol | undefined {
  return Object.hasOwn(byName, name) ? byName[name as ProtocolName] : undefined;
}
