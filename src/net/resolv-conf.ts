/**
 * Parsers for /etc/resolv.conf (resolv.conf(5)) and /etc/hosts (hosts(5)).
 * Pure: they take the file text and never throw; unknown or malformed
 * lines are skipped the way glibc skips them.
 */
import { isIP } from "node:net";

export interface ResolvConf {
  /** IPv4/IPv6 addresses, in file order; ["127.0.0.1"] when the file names none. */
  nameservers: string[];
  /** Domains appended to short names; the last `search` or `domain` line wins. */
  search: string[];
  /** Names with fewer dots than this try the search list first. */
  ndots: number;
  /** Wait per query per nameserver. */
  timeoutMs: number;
  /** Rounds over the whole nameserver list. */
  attempts: number;
}

/** glibc's defaults and limits (resolv.h: MAXNS, RES_TIMEOUT, RES_DFLRETRY, RES_MAXNDOTS…). */
export const RESOLV_DEFAULTS: Readonly<ResolvConf> = Object.freeze({
  nameservers: ["127.0.0.1"],
  search: [],
  ndots: 1,
  timeoutMs: 5000,
  attempts: 2,
});
const MAX_NAMESERVERS = 3;
const MAX_NDOTS = 15;
const MAX_TIMEOUT_S = 30;
const MAX_ATTEMPTS = 5;

export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  let search: string[] = [];
  let { ndots, timeoutMs, attempts } = RESOLV_DEFAULTS;

  for (const line of text.split(/\r?\n/)) {
    const words = stripComment(line).split(/\s+/).filter((w) => w !== "");
    const [keyword, ...args] = words;
    switch (keyword) {
      case "nameserver": {
        const addr = args[0];
        if (addr !== undefined && isIP(addr) !== 0 && nameservers.length < MAX_NAMESERVERS) {
          nameservers.push(addr);
        }
        break;
      }
      case "domain":
        if (args[0] !== undefined) search = [trimDot(args[0])];
        break;
      case "search":
        search = args.map(trimDot).filter((d) => d !== "");
        break;
      case "options":
        for (const opt of args) {
          const m = /^(ndots|timeout|attempts):(\d+)$/.exec(opt);
          if (m === null) continue; // rotate, edns0, … are not ours to honour
          const n = Number(m[2]);
          if (m[1] === "ndots") ndots = Math.min(n, MAX_NDOTS);
          else if (m[1] === "timeout") timeoutMs = Math.min(Math.max(n, 1), MAX_TIMEOUT_S) * 1000;
          else attempts = Math.min(Math.max(n, 1), MAX_ATTEMPTS);
        }
        break;
    }
  }
  return {
    nameservers: nameservers.length > 0 ? nameservers : [...RESOLV_DEFAULTS.nameservers],
    search: search.map((d) => d.toLowerCase()),
    ndots,
    timeoutMs,
    attempts,
  };
}

/**
 * Map of lowercase host name (canonical names and aliases alike) to its
 * addresses in file order, without duplicates.
 */
export function parseHosts(text: string): Map<string, string[]> {
  const hosts = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    const [addr, ...names] = stripHash(line).split(/\s+/).filter((w) => w !== "");
    if (addr === undefined || names.length === 0 || isIP(addr) === 0) continue;
    for (const raw of names) {
      const name = trimDot(raw.toLowerCase());
      if (name === "") continue;
      const list = hosts.get(name);
      if (list === undefined) hosts.set(name, [addr]);
      else if (!list.includes(addr)) list.push(addr);
    }
  }
  return hosts;
}

/** resolv.conf comments start with '#' or ';' at the start of a line. */
function stripComment(line: string): string {
  const t = line.trimStart();
  return t.startsWith("#") || t.startsWith(";") ? "" : stripHash(t);
}

function stripHash(line: string): string {
  const i = line.indexOf("#");
  return i < 0 ? line : line.slice(0, i);
}

function trimDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}
