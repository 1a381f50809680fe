/**
 * A stub resolver that keeps working after chroot: `Resolver.fromSystem()`
 * snapshots /etc/resolv.conf and /etc/hosts at construction, and lookups
 * then talk to the nameservers directly (UDP, TCP when a reply is
 * truncated) instead of calling getaddrinfo.
 *
 * `resolve` (a server's host name) caches; `lookup` and `srv` (servers
 * from DNS) ask every time and say what came back, with its TTL.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { PlbError } from "../errors.ts";
import { concatBytes } from "./bytes.ts";
import { canonicalIPv6 } from "./ipv6.ts";
import { decodeResponse, encodeQuery, RCODE_NAMES, TYPE_A, TYPE_AAAA, TYPE_SRV } from "./dns-message.ts";
import type { DnsResponse, QueryType } from "./dns-message.ts";
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

interface Server {
  host: string;
  port: number;
  label: string;
}

/** What one name got from DNS; `fail` means "ask elsewhere", the others are answers. */
type Outcome =
  | { kind: "ok"; replies: DnsResponse[] }
  | { kind: "nxdomain" }
  | { kind: "nodata" }
  | { kind: "fail"; reason: string };

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

type Reply = DnsResponse | { failed: string };

const HOSTNAME = /^[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*\.?$/;
const MAX_CACHE_ENTRIES = 1024;

export class Resolver {
  private readonly servers: Server[];
  private readonly hosts: Map<string, string[]>;
  private readonly search: string[];
  private readonly ndots: number;
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly maxCacheMs: number;
  private readonly cache = new Map<string, { addresses: string[]; expires: number }>();
  private readonly inflight = new Map<string, Promise<string[]>>();

  constructor(opts: ResolverOptions = {}) {
    this.servers = (opts.nameservers ?? RESOLV_DEFAULTS.nameservers).map(parseServer);
    if (this.servers.length === 0) this.servers = RESOLV_DEFAULTS.nameservers.map(parseServer);
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
        last = await this.queryServer(server, name, types, partial);
        if (last.kind !== "fail") return last;
      }
    }
    return last;
  }

  /** Every type in parallel to one server (A and AAAA, or SRV), then combine. */
  private async queryServer(server: Server, name: string, types: QueryType[], partial: boolean): Promise<Outcome> {
    let replies: Reply[];
    try {
      replies = await udpExchange(server, name, types, this.timeoutMs);
      replies = await Promise.all(
        replies.map(async (r, i) => {
          if (!("truncated" in r) || !r.truncated) return r;
          const full = await tcpExchange(server, name, types[i]!, this.timeoutMs);
          // No TCP answer: the records that fit in the truncated reply are still good (for one address).
          return "failed" in full && partial && r.answers.length > 0 ? r : full;
        }),
      );
    } catch (err) {
      return { kind: "fail", reason: `${server.label}: ${message(err)}` };
    }
    const good = replies.filter((r): r is DnsResponse => "rcode" in r);
    if (good.some((r) => r.rcode === 3)) return { kind: "nxdomain" };
    const answered = good.filter((r) => r.rcode === 0);
    if (answered.some((r) => r.answers.length + r.srv.length > 0)) return { kind: "ok", replies: answered };
    if (good.length === replies.length && good.every((r) => r.rcode === 0)) return { kind: "nodata" };
    const bad = replies.find((r) => !("rcode" in r) || r.rcode !== 0)!;
    const why = "failed" in bad ? bad.failed : (RCODE_NAMES[bad.rcode] ?? `rcode ${bad.rcode}`);
    return { kind: "fail", reason: `${server.label}: ${why}` };
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

/** Send one query per type from a fresh socket (fresh random port); close it when done. */
async function udpExchange(server: Server, name: string, types: QueryType[], timeoutMs: number): Promise<Reply[]> {
  const queries = types.map((type) => ({ type, id: randomId(), reply: undefined as Reply | undefined }));
  let done = (): void => {};
  const finished = new Promise<void>((res) => (done = res));
  let failure: string | undefined;
  const v6 = isIP(server.host) === 6;
  const sock = await Bun.udpSocket({
    hostname: v6 ? "::" : "0.0.0.0",
    binaryType: "uint8array",
    socket: {
      data(_s, buf, port, address) {
        if (port !== server.port || !sameAddress(address, server.host)) return;
        const msg = decodeResponse(buf);
        if ("error" in msg) return;
        const q = queries.find((x) => x.id === msg.id && x.reply === undefined);
        if (q === undefined || !answersQuestion(msg, name, q.type)) return;
        q.reply = msg;
        if (queries.every((x) => x.reply !== undefined)) done();
      },
      // ICMP errors (port unreachable…) land here; unhandled, Bun throws them uncaught.
      // Bun 1.4.5 passes only the error, not (socket, error) as its types say: accept both.
      error(a: unknown, b?: unknown) {
        failure ??= message(b instanceof Error ? b : a);
        done();
      },
    },
  });
  const timer = setTimeout(done, timeoutMs);
  try {
    for (const q of queries) sock.send(encodeQuery(q.id, name, q.type), server.port, server.host);
    await finished;
  } finally {
    clearTimeout(timer);
    sock.close();
  }
  return queries.map((q) => q.reply ?? { failed: failure ?? `timed out after ${timeoutMs} ms` });
}

/** RFC 1035 §4.2.2 / RFC 7766: the same query over TCP with a 2-byte length prefix. */
function tcpExchange(server: Server, name: string, type: QueryType, timeoutMs: number): Promise<Reply> {
  const id = randomId();
  const query = encodeQuery(id, name, type);
  const framed = new Uint8Array([query.length >>> 8, query.length & 0xff, ...query]);
  return new Promise<Reply>((resolve) => {
    let buf: Uint8Array = new Uint8Array(0);
    let socket: { end(): void } | undefined;
    let settled = false;
    const finish = (r: Reply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ failed: `TCP timed out after ${timeoutMs} ms` }), timeoutMs);
    Bun.connect({
      hostname: server.host,
      port: server.port,
      socket: {
        open(s) {
          socket = s;
          s.write(framed);
        },
        data(_s, chunk) {
          buf = concatBytes([buf, chunk]); // a copy (at most 2 + 65,535 bytes in all)
          if (buf.length < 2) return;
          const len = (buf[0]! << 8) | buf[1]!;
          if (buf.length < 2 + len) return;
          const msg = decodeResponse(buf.subarray(2, 2 + len));
          if ("error" in msg) finish({ failed: `bad TCP reply: ${msg.error}` });
          else if (msg.id !== id || !answersQuestion(msg, name, type)) finish({ failed: "mismatched TCP reply" });
          else finish(msg);
        },
        close() {
          finish({ failed: "TCP connection closed before a reply" });
        },
        error(a: unknown, b?: unknown) {
          finish({ failed: `TCP: ${message(b instanceof Error ? b : a)}` });
        },
      },
    }).catch((err: unknown) => finish({ failed: `TCP: ${message(err)}` }));
  });
}

function answersQuestion(msg: DnsResponse, name: string, type: QueryType): boolean {
  return msg.question !== undefined && msg.question.name === name && msg.question.type === type;
}

function parseServer(spec: string): Server {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  const withPort = /^([^:]+):(\d+)$/.exec(spec);
  const [raw, port] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : withPort && isIP(withPort[1]!) === 4
      ? [withPort[1]!, withPort[2]]
      : [spec, undefined];
  const p = port === undefined ? 53 : Number(port);
  const host = isIP(raw) === 6 ? canonicalIPv6(raw) : raw;
  if (isIP(raw) === 0 || !(p > 0 && p < 65536)) {
    throw new PlbError("CONFIG_INVALID", `invalid nameserver "${spec}": expected an IP address with an optional port`);
  }
  return { host, port: p, label: isIP(host) === 6 ? `[${host}]:${p}` : `${host}:${p}` };
}

/** Source address check; `server` is canonical (see parseServer), as are the addresses Bun reports. */
function sameAddress(from: string, server: string): boolean {
  return from.replace(/^::ffff:(?=\d+\.)/i, "").replace(/%.*$/, "") === server.replace(/%.*$/, "");
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

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0]!;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fail(host: string, reason: string): PlbError {
  return new PlbError("RESOLVE", `cannot resolve "${host}": ${reason}`);
}
