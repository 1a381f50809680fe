/**
 * What plb changes in a request on its way to a server: hop-by-hop fields
 * are dropped (RFC 9110 §7.6.1), and X-Forwarded-For/-Proto/-Host (and, if
 * asked, RFC 7239 Forwarded) tell the server who the client is. The last
 * X-Forwarded-For entry is always the address plb saw: a client cannot fake
 * its own hop.
 */
import type { HttpSettings } from "../config/types.ts";
import { hopByHop, serializeRequestHead } from "./serialize.ts";
import type { RequestHead } from "./types.ts";

const SET_BY_PLB = new Set(["x-forwarded-proto", "x-forwarded-host"]);

export interface ClientInfo {
  /** IP as text, IPv4-mapped addresses unwrapped. */
  readonly address: string;
  readonly proto: "http" | "https";
}

/** The request head to send to the server. */
export function forwardedRequestHead(src: Uint8Array, head: RequestHead, client: ClientInfo, cfg: HttpSettings): Uint8Array {
  let hop = hopByHop(head);
  const xff = cfg.forwarded_for;
  const append: [string, string][] = [];
  if (xff !== "off") {
    const prior = xff === "append" ? head.fields.filter((f) => f.lower === "x-forwarded-for").map((f) => f.value) : [];
    append.push(["X-Forwarded-For", [...prior, client.address].join(", ")]);
  }
  append.push(["X-Forwarded-Proto", client.proto]);
  if (head.host !== undefined) append.push(["X-Forwarded-Host", head.host]);
  if (cfg.forwarded) {
    const node = client.address.includes(":") ? `"[${client.address}]"` : client.address;
    const host = head.host !== undefined ? `;host="${head.host.replace(/["\\]/g, "")}"` : "";
    append.push(["Forwarded", `for=${node};proto=${client.proto}${host}`]);
  }
  // plb manages its own connection to the server (keep-alive by default in
  // HTTP/1.1); an upgrade (WebSocket) is the one hop-by-hop request passed on.
  const upgrading = head.upgrade !== undefined;
  if (upgrading) {
    const copy = new Set(hop);
    copy.delete("upgrade");
    hop = copy;
    append.push(["Connection", "Upgrade"]);
  } else if (head.versionMinor === 0) append.push(["Connection", "keep-alive"]);
  return serializeRequestHead(src, head, {
    drop: (lower) => hop.has(lower) || SET_BY_PLB.has(lower) || (xff !== "off" && lower === "x-forwarded-for"),
    append,
  });
}
