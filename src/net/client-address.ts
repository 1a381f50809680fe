/**
 * Who the client of an accepted connection is: the one place that decides.
 * Normally the socket's peer; behind a front balancer (`accept_proxy`) the
 * source a PROXY header carried (net/accept-proxy.ts records it here before
 * the protocol sees the connection). Every reader — X-Forwarded-For, source
 * hashing, XCLIENT, the PROXY header towards servers, logs, lifecycle
 * events — asks through `clientIp`, `clientPort` and `proxyHeaderFor`, so
 * none of them can forget the carried address.
 *
 * `client_address = "proxy-v1" | "proxy-v2"`: the PROXY protocol header that
 * tells a server who the client is, sent first on every server connection
 * made for a client. Probes have no client: they send PROXY UNKNOWN (v1) or
 * a LOCAL command (v2), as HAProxy's health checks do.
 */
import type { ClientAddressMode } from "../config/types.ts";
import { type Endpoint, proxyV1, proxyV2 } from "./proxy-protocol.ts";
import type { Sock } from "./types.ts";

const encoder = new TextEncoder();
const V1_UNKNOWN = encoder.encode("PROXY UNKNOWN\r\n");
/** v2 signature, version 2 + LOCAL, family UNSPEC, no addresses. */
const V2_LOCAL = new Uint8Array([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00]);

/** The addresses a PROXY header gave for one client connection. */
interface Carried {
  /** The source IP as `clientIp` gives it (IPv4-mapped unwrapped). */
  readonly ip: string;
  readonly src: Endpoint;
  readonly dst: Endpoint;
}

const carried = new WeakMap<Sock, Carried>();
/** Set once some connection carried an address: until then (no accept_proxy) nothing is looked up. */
let carrying = false;

const unmapped = (a: string) => (a.startsWith("::ffff:") ? a.slice(7) : a);

/** From now on `client`'s address is `src` (and the address it reached, `dst`): a PROXY header said so. */
export function carryAddress(client: Sock, src: Endpoint, dst: Endpoint): void {
  carrying = true;
  carried.set(client, { ip: unmapped(src.address), src, dst });
}

/** The client's IP as text, an IPv4-mapped IPv6 address as the IPv4 address it is ("" once the socket is gone). */
export function clientIp(client: Sock): string {
  if (carrying) {
    const c = carried.get(client);
    if (c !== undefined) return c.ip;
  }
  return unmapped(client.remoteAddress ?? "");
}

/** The client's port (0 once the socket is gone). Costs a getpeername(2) without a PROXY header: read it only when needed. */
export function clientPort(client: Sock): number {
  if (carrying) {
    const c = carried.get(client);
    if (c !== undefined) return c.src.port;
  }
  return client.remotePort ?? 0;
}

/** The header for a connection made on behalf of `client`, or undefined. */
export function proxyHeaderFor(mode: ClientAddressMode, client: Sock): Uint8Array | undefined {
  if (mode !== "proxy-v1" && mode !== "proxy-v2") return undefined;
  const c = carrying ? carried.get(client) : undefined;
  const src = c?.src ?? { address: client.remoteAddress ?? "", port: client.remotePort ?? 0 };
  const dst = c?.dst ?? { address: client.localAddress ?? "", port: client.localPort ?? 0 };
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
