/**
 * A stub resolver that keeps working after chroot: `Resolver.fromSystem()`
 * snapshots /etc/resolv.conf and /etc/hosts at construction, and lookups
 * then talk to the nameservers directly (UDP, TCP when a reply is
 * truncated: dns-transport.ts) instead of calling getaddrinfo.
 *
 * `resolve` (a server's host name) caches; `lookup` and `srv` (servers
 * from DNS) ask every time and say what came back, with its TTL.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { PlbError } from "../errors.ts";
import { TYPE_A, TYPE_AAAA, TYPE_SRV } from "./dns-message.ts";
import type { DnsResponse, QueryType } from "./dns-message.ts";
import { type Nameserver, type Outcome, parseNameserverSpec, queryServer } from "./dns-transport.ts";
import { parseHosts, parseResolvConf, RESOLV_DEFAULTS } from "./resolv-conf.ts";

export interface ResolverOptions {
  /** "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353"; default ["127.0.0.1"]. */
  nameservers?: string[];
  /** Lowercase name → addresses, consulted before DNS. */
  hosts?: Map<string, string[]>;
  search?: string[];
  ndots?: number;
  timeoutMs?: number;
  attempts?: number;
  /** Upper bound on how long an answer is cached, whatever its TTL. Default 60 s. */
  maxCacheMs?: number;
}

/**
 * What a name got, for servers from DNS: an answer with its TTL (seconds),
 * no such name, a name without records of that type, or no answer at all
 * (timeouts, SERVFAIL, REFUSED: `reason` says which).
 */
export type Lookup<T> =
  | { readonly kind: "ok"; readonly value: T; readonly ttl: number }
  | { readonly kind: "nxdomain" }
  | { readonly kind: "nodata" }
  | { readonly kind: "fail"; readonly reason: string };

/** One SRV record with its target's addresses (IPv4 first). */
export interface SrvTarget {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly target: string;
  readonly addresses: readonly string[];
}

/** TTL given to answers from the hosts file (a snapshot: it never changes). */
const HOSTS_TTL = 86_400;

const HOSTNAME = /^[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*\.?$/;
const MAX_CACHE_ENTRIES = 1024;

export class Resolver {
  private readonly servers: Nameserver[];
  private readonly hosts: Map<string, string[]>;
  private readonly search: string[];
  private readonly ndots: number;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly maxCacheMs: number;
  private readonly cache = new Map<string, { addresses: string[]; expires: number }>();
  private readonly inflight = new Map<string, Promise<string[]>>();

  constructor(opts: ResolverOptions = {}) {
    this.servers = (opts.nameservers ?? RESOLV_DEFAULTS.nameservers).map(parseNameserverSpec);
    if (this.servers.length === 0) this.servers = RESOLV_DEFAULTS.nameservers.map(parseNameserverSpec);
    this.hosts = opts.hosts ?? new Map();
    this.search = opts.search ?? [];
    this.ndots = opts.ndots ?? RESOLV_DEFAULTS.ndots;
    this.timeoutMs = opts.timeoutMs ?? RESOLV_DEFAULTS.timeoutMs;
    this.attempts = Math.max(1, opts.attempts ?? RESOLV_DEFAULTS.attempts);
    this.maxCacheMs = opts.maxCacheMs ?? 60_000;
  }

  /** Snapshot the system configuration now (call before chroot). Missing files mean defaults. */
  static fromSystem(paths: { resolvConf?: string; hosts?: string; nameservers?: string[] } = {}): Resolver {
    const conf = parseResolvConf(readOr(paths.resolvConf ?? "/etc/resolv.conf"));
    const hosts = parseHosts(readOr(paths.hosts ?? "/etc/hosts"));
    return new Resolver({ ...conf, hosts, ...(paths.nameservers?.length ? { nameservers: paths.nameservers } : {}) });
  }

  /**
   * What `host` is without asking DNS (for `resolve` and `lookup` alike):
   * its addresses when it is an IP literal (bracketed or not), in the hosts
   * snapshot, or localhost (RFC 6761); else the name to ask, or no name
   * when it is not a valid host name.
   */
  private local(host: string): { name?: string; addresses?: string[] } {
    const name = host.trim().toLowerCase();
    const literal = name.startsWith("[") && name.endsWith("]") ? name.slice(1, -1) : name;
    const bare = literal.endsWith(".") ? literal.slice(0, -1) : literal;
    if (isIP(literal) !== 0) return { addresses: [literal] };
    if (isIP(bare) !== 0) return { addresses: [bare] };
    const fromHosts = this.hosts.get(bare);
    if (fromHosts !== undefined && fromHosts.length > 0) return { addresses: ipv4First(fromHosts) };
    if (bare === "localhost" || bare.endsWith(".localhost")) return { addresses: ["127.0.0.1", "::1"] };
    if (!HOSTNAME.test(name) || bare.length > 253) return {};
    return { name };
  }

  /** IP addresses for `host`, IPv4 first, then IPv6. Rejects with PlbError("RESOLVE"). */
  resolve(host: string): Promise<string[]> {
    const { name, addresses } = this.local(host);
    if (addresses !== undefined) return Promise.resolve(addresses);
    if (name === undefined) return Promise.reject(fail(host, "not a valid host name"));

    const cached = this.cache.get(name);
    if (cached !== undefined && cached.expires > Date.now()) return Promise.resolve([...cached.addresses]);
    let pending = this.inflight.get(name);
    if (pending === undefined) {
      pending = this.cachedLookup(host, name).finally(() => this.inflight.delete(name));
      this.inflight.set(name, pending);
    }
    return pending.then((a) => [...a]);
  }

  private async cachedLookup(original: string, name: string): Promise<string[]> {
    const out = await this.ask(name, [TYPE_A, TYPE_AAAA], true);
    if (out.kind === "ok") {
      const { addresses, ttl } = addressesOf(out.replies);
      this.remember(name, addresses, ttl);
      return addresses;
    }
    const reason = out.kind === "fail" ? out.reason : out.kind === "nodata" ? "no A or AAAA records" : "no such host (NXDOMAIN)";
    throw fail(original, reason);
  }

  /** Every A and AAAA address of `host` (IPv4 first) with the smallest TTL, asked now (not cached). */
  async lookup(host: string): Promise<Lookup<string[]>> {
    const { name, addresses: known } = this.local(host);
    if (known !== undefined) return { kind: "ok", value: known, ttl: HOSTS_TTL };
    if (name === undefined) return { kind: "fail", reason: `"${host}" is not a valid host name` };
    const out = await this.ask(name, [TYPE_A, TYPE_AAAA], false);
    if (out.kind !== "ok") return out;
    const { addresses, ttl } = addressesOf(out.replies);
    return { kind: "ok", value: addresses, ttl };
  }

  /**
   * The SRV records of `name` (RFC 2782), each with its target's addresses:
   * from the reply's additional section when it has them, else asked for.
   * A target that has no address is left out; one whose lookup fails fails
   * the whole answer (a partial set would drain servers that are there).
   * Records with the target "." (no service here) are left out.
   */
  async srv(name: string): Promise<Lookup<SrvTarget[]>> {
    const q = name.trim().toLowerCase();
    if (!HOSTNAME.test(q) || q.length > 254) return { kind: "fail", reason: `"${name}" is not a valid SRV name` };
    const out = await this.ask(q, [TYPE_SRV], false);
    if (out.kind !== "ok") return out;
    const records = out.replies.flatMap((r) => r.srv).filter((r) => r.target !== "");
    if (records.length === 0) return { kind: "nodata" };
    const glue = out.replies.flatMap((r) => r.glue);
    let ttl = Math.min(...records.map((r) => r.ttl));
    const byTarget = new Map<string, string[]>();
    for (const target of new Set(records.map((r) => r.target))) {
      const given = glue.filter((g) => g.name === target);
      if (given.length > 0) {
        ttl = Math.min(ttl, ...given.map((g) => g.ttl));
        byTarget.set(target, ipv4First(given.map((g) => g.address)));
        continue;
      }
      const found = await this.lookup(`${target}.`);
      if (found.kind === "fail") return { kind: "fail", reason: `SRV target ${target}: ${found.reason}` };
      if (found.kind !== "ok") continue;
      ttl = Math.min(ttl, found.ttl);
      byTarget.set(target, [...found.value]);
    }
    const value = records.flatMap((r) => {
      const addresses = byTarget.get(r.target);
      return addresses === undefined ? [] : [{ priority: r.priority, weight: r.weight, port: r.port, target: r.target, addresses }];
    });
    return value.length === 0 ? { kind: "nodata" } : { kind: "ok", value, ttl };
  }

  /**
   * Ask for `types` of `name` down the search list; the first answer wins,
   * else the worst outcome. `partial`: the records of a truncated reply will
   * do when TCP gives none (one address is enough; a server set is not).
   */
  private async ask(name: string, types: QueryType[], partial: boolean): Promise<Outcome> {
    let worst: Outcome = { kind: "nxdomain" };
    for (const candidate of this.candidates(name)) {
      const out = await this.queryName(candidate, types, partial);
      if (out.kind === "ok") return out;
      // Report a server problem over "no data" over "no such name".
      if (out.kind === "fail" || (out.kind === "nodata" && worst.kind === "nxdomain")) worst = out;
    }
    return worst;
  }

  /** Names to try, in order, per resolv.conf(5) `search` and `ndots`. */
  private candidates(name: string): string[] {
    if (name.endsWith(".")) return [name.slice(0, -1)];
    const searched = this.search.map((d) => `${name}.${d}`);
    const dots = name.split(".").length - 1;
    return dots >= this.ndots ? [name, ...searched] : [...searched, name];
  }

  /** Every server in turn, `attempts` rounds, until one gives an answer. */
  private async queryName(name: string, types: QueryType[], partial: boolean): Promise<Outcome> {
    let last: Outcome = { kind: "fail", reason: "no nameservers" };
    for (let round = 0; round < this.attempts; round++) {
      for (const server of this.servers) {
        last = await queryServer(server, name, types, partial, this.timeoutMs);
        if (last.kind !== "fail") return last;
      }
    }
    return last;
  }

  private remember(name: string, addresses: string[], ttlSeconds: number): void {
    const ms = Math.min(ttlSeconds * 1000, this.maxCacheMs);
    if (ms <= 0) return;
    if (this.cache.size >= MAX_CACHE_ENTRIES) {
      const now = Date.now();
      for (const [k, v] of this.cache) if (v.expires <= now) this.cache.delete(k);
      if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
    }
    this.cache.set(name, { addresses, expires: Date.now() + ms });
  }
}

/** The addresses of A/AAAA replies (IPv4 first) and their smallest TTL. */
function addressesOf(replies: DnsResponse[]): { addresses: string[]; ttl: number } {
  const answers = replies.flatMap((r) => r.answers);
  return { addresses: ipv4First(answers.map((a) => a.address)), ttl: Math.min(...answers.map((a) => a.ttl)) };
}

function ipv4First(addresses: string[]): string[] {
  const unique = [...new Set(addresses)];
  return [...unique.filter((a) => isIP(a) === 4), ...unique.filter((a) => isIP(a) !== 4)];
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function fail(host: string, reason: string): PlbError {
  return new PlbError("RESOLVE", `cannot resolve "${host}": ${reason}`);
}
