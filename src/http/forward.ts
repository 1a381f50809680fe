/**
 * What plb changes in a request on its way to a server: hop-by-hop fields
 * are dropped (RFC 9110 §7.6.1), and X-Forwarded-For/-Proto/-Host (and, if
 * asked, RFC 7239 Forwarded) tell the server who the client is. The last
 * X-Forwarded-For entry is always the address plb saw: a client cannot fake
 * its own hop.
 *
 * The forwarding field lines are made once per client address
 * (`forwardingFor` keeps the last 1,024 addresses seen; each keeps its lines
 * while host, settings and scheme stay the same, which on a keep-alive
 * connection, and for most clients, they do); only a request that brings
 * X-Forwarded-For of its own (forwarded_for = "append") has them made for it.
 */
import type { HttpSettings } from "../config/types.ts";
import { BASE_HOP_BY_HOP, CONNECTION_KEEP_ALIVE, CONNECTION_UPGRADE, type FieldLines, fieldLines, hopByHop, serializeRequestHead } from "./serialize.ts";
import type { RequestHead } from "./types.ts";
import { type HeadEdit, NO_EDIT, withEdit } from "../routes/rewrite.ts";
import { CLIENT_CERT_FIELDS } from "../tls/client-cert.ts";

/** Fields plb writes and a client may not bring: the forwarding ones and the client certificate's (src/tls/client-cert.ts). */
const SET_BY_PLB = ["x-forwarded-proto", "x-forwarded-host", ...CLIENT_CERT_FIELDS];

/** What is dropped from a request without extra Connection options, by forwarded_for mode (one Set lookup per field). */
const dropSet = (xff: boolean) => new Set([...BASE_HOP_BY_HOP, ...SET_BY_PLB, ...(xff ? ["x-forwarded-for"] : [])]);
const DROP_WITH_XFF = dropSet(true);
const DROP_WITHOUT_XFF = dropSet(false);
const dropWithXff = (lower: string) => DROP_WITH_XFF.has(lower);
const dropWithoutXff = (lower: string) => DROP_WITHOUT_XFF.has(lower);

/** Clients seen lately, by address (cleared when full: a bound, not an LRU). */
const RECENT = new Map<string, ClientForwarding>();
const RECENT_MAX = 1024;

/** The forwarding state of the client at `address` (shared by its connections). */
export function forwardingFor(address: string): ClientForwarding {
  let c = RECENT.get(address);
  if (c === undefined) {
    if (RECENT.size >= RECENT_MAX) RECENT.clear();
    RECENT.set(address, (c = new ClientForwarding(address)));
  }
  return c;
}

/** A client address and the forwarding field lines last made for it. */
export class ClientForwarding {
  private host: string | undefined;
  private cfg: HttpSettings | undefined;
  private proto = "";
  private made: FieldLines | undefined;

  /** `address`: IP as text, IPv4-mapped addresses unwrapped. */
  constructor(readonly address: string) {}

  /** X-Forwarded-For (with `prior` entries first), -Proto, -Host, Forwarded: as field lines. */
  lines(host: string | undefined, cfg: HttpSettings, proto: "http" | "https", prior: string[] | undefined): FieldLines {
    if (prior === undefined && this.made !== undefined && host === this.host && cfg === this.cfg && proto === this.proto) return this.made;
    const fields: [string, string][] = [];
    if (cfg.forwarded_for !== "off") fields.push(["X-Forwarded-For", prior ? [...prior, this.address].join(", ") : this.address]);
    fields.push(["X-Forwarded-Proto", proto]);
    if (host !== undefined) fields.push(["X-Forwarded-Host", host]);
    if (cfg.forwarded) {
      const node = this.address.includes(":") ? `"[${this.address}]"` : this.address;
      const h = host !== undefined ? `;host="${host.replace(/["\\]/g, "")}"` : "";
      fields.push(["Forwarded", `for=${node};proto=${proto}${h}`]);
    }
    const lines = fieldLines(fields);
    if (prior === undefined) {
      this.made = lines;
      this.host = host;
      this.cfg = cfg;
      this.proto = proto;
    }
    return lines;
  }
}

/**
 * The request head to send to the server; `edit`: what the matched route
 * changes (its lines come before plb's); `certLines`: the client
 * certificate's fields (tls.client_ca), after the forwarding ones.
 */
export function forwardedRequestHead(src: Uint8Array, head: RequestHead, client: ClientForwarding, proto: "http" | "https", cfg: HttpSettings, edit: HeadEdit = NO_EDIT, certLines?: FieldLines): Uint8Array {
  const xff = cfg.forwarded_for !== "off";
  let prior: string[] | undefined;
  if (cfg.forwarded_for === "append") for (const f of head.fields) if (f.lower === "x-forwarded-for") (prior ??= []).push(f.value);
  const forwarding = client.lines(head.host, cfg, proto, prior);
  // plb manages its own connection to the server (keep-alive by default in
  // HTTP/1.1); an upgrade (WebSocket) is the one hop-by-hop request passed on.
  const upgrading = head.upgrade !== undefined;
  const connection = upgrading ? CONNECTION_UPGRADE : head.versionMinor === 0 ? CONNECTION_KEEP_ALIVE : undefined;
  let drop = xff ? dropWithXff : dropWithoutXff;
  const hop = hopByHop(head);
  if (hop !== BASE_HOP_BY_HOP || upgrading) {
    // Connection names more fields, or an upgrade keeps Upgrade: a set of this request's own.
    const own = new Set([...hop, ...(xff ? DROP_WITH_XFF : DROP_WITHOUT_XFF)]);
    if (upgrading) own.delete("upgrade");
    drop = (lower) => own.has(lower);
  }
  const lines = certLines === undefined ? [forwarding] : [forwarding, certLines];
  if (connection) lines.push(connection);
  const opts = { drop, lines };
  return serializeRequestHead(src, head, edit === NO_EDIT ? opts : withEdit(opts, edit));
}
