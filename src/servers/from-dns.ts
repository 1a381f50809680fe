/**
 * What a DNS answer makes of a `servers` entry: the servers it names, as
 * configured servers are written. Pure. Their identity is the address and
 * the port, so a record that stays keeps its server and its state; a name
 * with two addresses gives two servers.
 *
 * SRV (RFC 2782): the records of the lowest priority value are the
 * primaries, every other record a backup. Weights: plb's run 1-256 and
 * SRV's 0-65535; an answer whose weights are all 256 or less keeps them as
 * they are (0 counts as 1: plb's smallest share), a larger one is scaled
 * so that its largest weight is 256 (HAProxy divides every weight by 256,
 * which makes 10 and 30 the same weight).
 */
import type { DnsSource, ServerConfig } from "../config/types.ts";
import type { SrvTarget } from "../net/resolve.ts";

/** A DNS source's last answer: addresses (dns) or SRV records with their targets' addresses (srv). */
export type DnsAnswerSet = { readonly addresses: readonly string[] } | { readonly targets: readonly SrvTarget[] };

export const MAX_WEIGHT = 256;

/** "10.0.0.1:80", "[::1]:80". */
export function hostPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** IPv4 before IPv6, then by address: an order that does not follow a nameserver's rotation. */
function byAddress(a: string, b: string): number {
  const v6 = Number(a.includes(":")) - Number(b.includes(":"));
  if (v6 !== 0) return v6;
  if (!a.includes(":")) {
    const [x, y] = [a, b].map((ip) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0));
    return x! - y!;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The servers `answer` names for `source`, in a stable order (a nameserver
 * that rotates its records changes nothing): dns by address, IPv4 first;
 * srv primaries first, by priority, target and port.
 */
export function serversFrom(source: DnsSource, answer: DnsAnswerSet): ServerConfig[] {
  if ("addresses" in answer) {
    return [...answer.addresses].sort(byAddress).map((ip) => ({ address: hostPort(ip, source.port), host: ip, port: source.port, weight: source.weight, backup: source.backup, dnsName: source.name }));
  }
  const records = answer.targets;
  if (records.length === 0) return [];
  const primary = Math.min(...records.map((r) => r.priority));
  const heaviest = Math.max(...records.map((r) => r.weight));
  const weightOf = (w: number): number => (heaviest <= MAX_WEIGHT ? Math.max(1, w) : Math.max(1, Math.round((w * MAX_WEIGHT) / heaviest)));
  // Primaries first, then by priority: the order the `first` algorithm uses.
  const sorted = [...records].sort((a, b) => a.priority - b.priority || (a.target < b.target ? -1 : a.target > b.target ? 1 : 0) || a.port - b.port);
  return sorted.flatMap((r) =>
    [...r.addresses].sort(byAddress).map((ip) => ({
      address: hostPort(ip, r.port),
      host: ip,
      port: r.port,
      weight: weightOf(r.weight),
      backup: source.backup || r.priority !== primary,
      dnsName: r.target.replace(/\.$/, ""),
    })),
  );
}

/** One line for logs: "10.0.0.1:80, 10.0.0.2:80 (backup)". */
export function describeServers(servers: readonly ServerConfig[]): string {
  if (servers.length === 0) return "no server";
  return servers.map((s) => `${s.address}${s.weight !== 1 ? ` weight ${s.weight}` : ""}${s.backup ? " (backup)" : ""}`).join(", ");
}
