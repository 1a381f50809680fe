/** Protocol modules by config name (`protocol = "tcp"`). */
import type { Protocol } from "./protocol.ts";
import { http } from "./http/protocol.ts";
import { smtp } from "./smtp/protocol.ts";
import { tcp } from "./tcp/index.ts";

export const protocols: readonly Protocol[] = [tcp, http, smtp];

export function findProtocol(name: string): Protocol | undefined {
  return protocols.find((p) => p.name === name);
}
