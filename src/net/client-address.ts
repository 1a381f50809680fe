/**
 * `client_address = "proxy-v1" | "proxy-v2"`: the PROXY protocol header that
 * tells a server who the client is, sent first on every server connection
 * made for a client. Probes have no client: they send PROXY UNKNOWN (v1) or
 * a LOCAL command (v2), as HAProxy's health checks do.
 */
import type { ClientAddressMode } from "../config/types.ts";
import { proxyV1, proxyV2 } from "./proxy-protocol.ts";
import type { Sock } from "./types.ts";

const encoder = new TextEncoder();
const V1_UNKNOWN = encoder.encode("PROXY UNKNOWN\r\n");
/** v2 signature, version 2 + LOCAL, family UNSPEC, no addresses. */
const V2_LOCAL = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00]);

/** The client's IP as text, an IPv4-mapped IPv6 address as the IPv4 address it is ("" once the socket is gone). */
export function clientIp(client: Sock): string {
  const a = client.remoteAddress ?? "";
  return a.startsWith("::ffff:") ? a.slice(7) : a;
}

/** The header for a connection made on behalf of `client`, or undefined. */
export function proxyHeaderFor(mode: ClientAddressMode, client: Sock): Uint8Array | undefined {
  if (mode !== "proxy-v1" && mode !== "proxy-v2") return undefined;
  const src = { address: client.remoteAddress ?? "", port: client.remotePort ?? 0 };
  const dst = { address: client.localAddress ?? "", port: client.localPort ?? 0 };
  try {
    return mode === "proxy-v1" ? proxyV1(src, dst) : proxyV2(src, dst);
  } catch {
    return proxyHeaderForProbe(mode); // the client is already gone (no address): a valid header all the same
  }
}

/** The header a probe sends (no client behind it), or undefined. */
export function proxyHeaderForProbe(mode: ClientAddressMode): Uint8Array | undefined {
  return mode === "proxy-v1" ? V1_UNKNOWN : mode === "proxy-v2" ? V2_LOCAL : undefined;
}
