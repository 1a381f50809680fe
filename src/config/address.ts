/**
 * Address parsers for `listen` and `servers`. Pure: nothing is resolved.
 *
 * listen:  "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:80" (all IPv4),
 *          "*:8080" and "[::]:8080" (host "::", dual-stack), "localhost:8080"
 *          (mapped to 127.0.0.1; no other host names: a listener binds an
 *          address, and resolving at start-up would hide mistakes).
 *          Port 0 is accepted for listen only (the OS picks a free port).
 * servers: "10.0.0.2:80", "[::1]:80", "db.example:5432" (port 1-65535).
 * nameservers: "10.0.0.2", "10.0.0.2:5353", "::1", "[::1]:5353".
 *
 * Each parser returns the parsed value or an error message (a string).
 * IPv6 literals are returned in canonical form ("0:0::1" → "::1"), without brackets.
 */
import { isIP } from "node:net";
import { canonicalIPv6 } from "../net/ipv6.ts";
import type { ListenAddress } from "./types.ts";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function isIPv4(s: string): boolean {
  return isIP(s) === 4;
}

export function isIPv6(s: string): boolean {
  return isIP(s) === 6;
}

const LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";
const HOSTNAME_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);

/** A DNS host name (letters, digits, "-", "_", dots; labels ≤ 63, total ≤ 253). Not an IP check. */
export function isHostName(s: string): boolean {
  return s.length <= 253 && HOSTNAME_RE.test(s) && !/^[\d.]+$/.test(s);
}

interface Split {
  readonly host: string;
  readonly bracketed: boolean;
  readonly port: number;
}

/** Splits "host:port" / "[v6]:port" and checks the port is in minPort..65535. */
function splitHostPort(text: unknown, minPort: number, example: string): Split | string {
  if (typeof text !== "string") return `address must be a string, got ${typeof text}`;
  if (text === "") return "address is empty";
  if (/\s/.test(text)) return `address "${text}" must not contain spaces`;
  let host: string;
  let rest: string;
  let bracketed = false;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return `missing "]" in "${text}"`;
    host = text.slice(1, close);
    rest = text.slice(close + 1);
    bracketed = true;
    if (rest === "") return `missing port in "${text}" (expected host:port, e.g. "${example}")`;
    if (!rest.startsWith(":")) return `expected ":port" after "]" in "${text}"`;
    rest = rest.slice(1);
  } else {
    const colons = text.split(":").length - 1;
    if (colons === 0) return `missing port in "${text}" (expected host:port, e.g. "${example}")`;
    if (colons > 1) {
      const guess = text.slice(0, text.lastIndexOf(":"));
      const port = text.slice(text.lastIndexOf(":") + 1);
      if (isIPv6(guess) && /^\d+$/.test(port)) return `IPv6 addresses need brackets: write "[${guess}]:${port}", not "${text}"`;
      if (isIPv6(text)) return `missing port in "${text}" (IPv6 needs brackets and a port, e.g. "[${text}]:8080")`;
      return `too many ":" in "${text}" (IPv6 addresses need brackets, e.g. "[::1]:8080")`;
    }
    host = text.slice(0, text.indexOf(":"));
    rest = text.slice(text.indexOf(":") + 1);
  }
  if (host === "") return `missing host in "${text}"`;
  if (rest === "") return `missing port in "${text}" (expected host:port, e.g. "${example}")`;
  if (!/^\d+$/.test(rest)) return `port "${rest}" is not a number`;
  const port = Number(rest);
  if (port < minPort || port > 65535) return `port ${rest} is out of range (${minPort}-65535)`;
  return { host, bracketed, port };
}

function checkIPv6(host: string, text: string): string | undefined {
  if (host.includes("%")) return `IPv6 zone ids ("%…") are not supported in "${text}"`;
  if (!isIPv6(host)) return `"${host}" is not a valid IPv6 address`;
  return undefined;
}

/** A listen address, or an error message. */
export function parseListen(text: unknown): ListenAddress | string {
  const split = splitHostPort(text, 0, "127.0.0.1:8080");
  if (typeof split === "string") return split;
  const written = text as string;
  const { port } = split;
  let host = split.host;
  if (split.bracketed) {
    const err = checkIPv6(host, written);
    if (err) return err;
    host = canonicalIPv6(host);
  } else if (host === "*") {
    host = "::";
  } else if (host.toLowerCase() === "localhost") {
    host = "127.0.0.1";
  } else if (!isIPv4(host)) {
    if (/^[\d.]+$/.test(host)) return `"${host}" is not a valid IPv4 address`;
    return `listen host "${host}" must be an IP address, "*" or "localhost" (host names are not resolved for listening)`;
  }
  return { host, port, text: written };
}

/** A server address, or an error message. Host names are kept as written (resolved later). */
export function parseServerAddress(text: unknown): HostPort | string {
  const split = splitHostPort(text, 1, "10.0.0.2:80");
  if (typeof split === "string") return split;
  const written = text as string;
  const { port } = split;
  if (split.bracketed) {
    const err = checkIPv6(split.host, written);
    return err ?? { host: canonicalIPv6(split.host), port };
  }
  const host = split.host;
  if (host === "*") return `"*" is only valid in listen addresses, not in "${written}"`;
  if (isIPv4(host)) return { host, port };
  if (/^[\d.]+$/.test(host)) return `"${host}" is not a valid IPv4 address`;
  if (!isHostName(host)) return `invalid host name "${host}" (letters, digits, "-", "_" and dots only)`;
  return { host, port };
}

/**
 * True when two listen addresses cannot both be bound: same port (not 0)
 * and the same host, or one is a wildcard covering the other ("::" covers
 * everything — dual-stack —, "0.0.0.0" covers every IPv4 address).
 */
export function listenOverlaps(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  if (a.host === "::" || b.host === "::") return true;
  if (isIPv4(a.host) !== isIPv4(b.host)) return false;
  if (a.host === "0.0.0.0" || b.host === "0.0.0.0") return true;
  return a.host === b.host;
}

/** A nameserver: an IP address with an optional port (default 53), or an error message. */
export function parseNameserver(text: unknown): HostPort | string {
  if (typeof text !== "string") return `must be a string, got ${typeof text}`;
  // isIP takes anything after "%" as a zone id: "fe80::1%eth0:5353" was an address on port 53 (found by npm run fuzz).
  if (text.includes("%")) return `IPv6 zone ids ("%…") are not supported in "${text}"`;
  if (isIPv4(text)) return { host: text, port: 53 };
  if (isIPv6(text)) return { host: canonicalIPv6(text), port: 53 };
  if (!text.includes(":")) return `"${text}" is not an IP address (a nameserver is named by its address)`;
  const split = splitHostPort(text, 1, "10.0.0.2:53");
  if (typeof split === "string") return split;
  if (split.bracketed) {
    const err = checkIPv6(split.host, text);
    return err ?? { host: canonicalIPv6(split.host), port: split.port };
  }
  if (!isIPv4(split.host)) return `"${split.host}" is not an IP address (a nameserver is named by its address)`;
  return { host: split.host, port: split.port };
}
