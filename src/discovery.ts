/**
 * Servers from DNS: one timer per `servers` entry written as
 * `{ dns = "name:port" }` or `{ srv = "_service._proto.name" }`. Each answer
 * is asked again when its TTL runs out (clamped to dns_min_ttl..dns_max_ttl)
 * and becomes the entry's servers through `Backend.setDiscovered`, which
 * hands the whole set to the pool as a reload does: servers that appear
 * join after their first check, servers that go drain, the others keep
 * their state.
 *
 * A failed or empty answer (timeout, SERVFAIL, NXDOMAIN, no records)
 * changes nothing: the entry keeps its last good servers, the problem is
 * logged once per change of condition, and the name is asked again after
 * dns_min_ttl, doubling up to dns_max_ttl (at most 30 s). An entry whose
 * first answer fails starts with no server and keeps being asked (as
 * HAProxy's init-addr none). Knows no protocol; asks through the resolver
 * it is given (plb's own, which works after chroot).
 */
import type { DnsSource } from "./config/types.ts";
import { formatDuration } from "./config/duration.ts";
import { logger, logEnabled } from "./log.ts";
import type { Lookup, SrvTarget } from "./net/resolve.ts";
import { describeServers, serversFrom, type DnsAnswerSet } from "./servers/from-dns.ts";
import type { ServerSetChange } from "./servers/state.ts";
import type { Backend } from "./backend.ts";

const log = logger("dns");

/** The longest wait between two tries of a name that does not answer. */
const MAX_RETRY_MS = 30_000;

export interface DnsResolver {
  lookup(host: string): Promise<Lookup<string[]>>;
  srv(name: string): Promise<Lookup<SrvTarget[]>>;
}

export interface DiscoveryTtls {
  readonly dns_min_ttl: number;
  readonly dns_max_ttl: number;
}

/** Told when an answer changed a backend's server set (the pool has the new set already). */
export type DiscoveryListener = (svc: Backend, source: DnsSource, change: ServerSetChange, answer: DnsAnswerSet) => void;

interface Watch {
  readonly svc: Backend;
  source: DnsSource;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** An answer is being asked for. */
  asking: boolean;
  cancelled: boolean;
  /** Failed answers in a row. */
  failures: number;
  /** "ok", "nxdomain", "nodata", "fail <reason>", or undefined before the first answer: what is logged once. */
  condition: string | undefined;
  /** Failed answers since plb started watching it (for stats). */
  failedTotal: number;
  /** When the last good answer came (epoch ms; 0: none yet). */
  lastOk: number;
}

/** One DNS entry as /metrics and /status.json show it. */
export interface DnsEntryStatus {
  /** "dns web.internal:8080", "srv _http._tcp.web.service.consul". */
  readonly entry: string;
  /** The last answer was good (its servers are in the pool). */
  readonly ok: boolean;
  /** "ok", "nxdomain", "nodata", "fail <reason>", or "asking" before the first answer. */
  readonly condition: string;
  /** Servers its last good answer gave. */
  readonly servers: number;
  readonly failuresInARow: number;
  readonly failuresTotal: number;
  /** When the last good answer came (epoch ms; 0: none yet). */
  readonly lastOk: number;
}

/** What the entry is, for logs: `backend "web": dns web.internal:8080` (`service "web"` for a service's own servers). */
function label(svc: Backend, source: DnsSource): string {
  return `${svc.cfg.declared ? "backend" : "service"} "${svc.name}": ${source.key}`;
}

/** How long to wait after `ttl` seconds, within the configured bounds. */
export function refreshDelay(ttlSeconds: number, ttls: DiscoveryTtls): number {
  return Math.min(Math.max(ttlSeconds * 1000, ttls.dns_min_ttl), ttls.dns_max_ttl);
}

/** How long to wait after the `failures`-th failed answer in a row. */
export function retryDelay(failures: number, ttls: DiscoveryTtls): number {
  const cap = Math.max(ttls.dns_min_ttl, Math.min(ttls.dns_max_ttl, MAX_RETRY_MS));
  return Math.min(ttls.dns_min_ttl * 2 ** Math.min(failures - 1, 20), cap);
}

export class Discovery {
  private readonly watches = new Map<Backend, Map<string, Watch>>();
  private stopped = false;

  constructor(
    private readonly resolver: DnsResolver,
    private readonly ttls: () => DiscoveryTtls,
    private readonly onChange: DiscoveryListener,
  ) {}

  /**
   * Look after `svc`'s DNS entries as its configuration names them now: new
   * entries are asked at once (resolves when those answers are in), entries
   * no longer named are forgotten (the reload that dropped them took their
   * servers away), the others keep their schedule. `first`: before plb
   * serves, so the servers found join as a start's do (not pending).
   */
  watch(svc: Backend, first = false): Promise<void> {
    let mine = this.watches.get(svc);
    if (mine === undefined) this.watches.set(svc, (mine = new Map()));
    const named = new Map(svc.cfg.discover.map((d) => [d.key, d]));
    for (const [key, w] of mine) {
      if (named.has(key)) continue;
      this.cancel(w);
      mine.delete(key);
    }
    const asked: Promise<void>[] = [];
    for (const [key, source] of named) {
      const w = mine.get(key);
      if (w !== undefined) {
        w.source = source; // weight or backup may have changed: the next answer uses them
        continue;
      }
      const fresh: Watch = { svc, source, timer: undefined, asking: false, cancelled: false, failures: 0, condition: undefined, failedTotal: 0, lastOk: 0 };
      mine.set(key, fresh);
      asked.push(this.ask(fresh, !first));
    }
    return Promise.all(asked).then(() => undefined);
  }

  /** Forget `svc` (a backend removed by a reload). */
  unwatch(svc: Backend): void {
    for (const w of this.watches.get(svc)?.values() ?? []) this.cancel(w);
    this.watches.delete(svc);
  }

  stop(): void {
    this.stopped = true;
    for (const svc of [...this.watches.keys()]) this.unwatch(svc);
  }

  /** `svc`'s entries and how their last answers went (the stats listener's view). */
  status(svc: Backend): DnsEntryStatus[] {
    const known = svc.discovered();
    return [...(this.watches.get(svc)?.values() ?? [])].map((w) => {
      const kept = known.get(w.source.key);
      return {
        entry: w.source.key,
        ok: w.condition === "ok",
        condition: w.condition ?? "asking",
        servers: kept === undefined ? 0 : serversFrom(w.source, kept).length,
        failuresInARow: w.failures,
        failuresTotal: w.failedTotal,
        lastOk: w.lastOk,
      };
    });
  }

  /** Entries looked after (for tests and stats). */
  get size(): number {
    let n = 0;
    for (const m of this.watches.values()) n += m.size;
    return n;
  }

  private cancel(w: Watch): void {
    w.cancelled = true;
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.timer = undefined;
  }

  private async ask(w: Watch, pending: boolean): Promise<void> {
    if (this.stopped || w.cancelled || w.asking) return;
    w.asking = true;
    const { source } = w;
    let out: Lookup<string[]> | Lookup<SrvTarget[]>;
    try {
      out = source.kind === "dns" ? await this.resolver.lookup(source.name) : await this.resolver.srv(source.name);
    } catch (err) {
      out = { kind: "fail", reason: (err as Error).message };
    } finally {
      w.asking = false;
    }
    if (this.stopped || w.cancelled) return;
    const ttls = this.ttls();
    let delay: number;
    if (out.kind === "ok") {
      const answer: DnsAnswerSet = source.kind === "dns" ? { addresses: out.value as string[] } : { targets: out.value as SrvTarget[] };
      delay = refreshDelay(out.ttl, ttls);
      const was = w.condition;
      w.condition = "ok";
      w.failures = 0;
      w.lastOk = Date.now();
      const change = w.svc.setDiscovered(source.key, answer, pending);
      const servers = serversFrom(source, answer);
      if (was === undefined) log.info(`${label(w.svc, source)}: ${describeServers(servers)} (asked again in ${formatDuration(delay)})`);
      else if (was !== "ok") log.info(`${label(w.svc, source)} answers again: ${describeServers(servers)}`);
      else if (logEnabled("debug")) log.debug(`${label(w.svc, source)}: ${servers.length} server(s), TTL ${out.ttl} s, asked again in ${formatDuration(delay)}`);
      if (change.added.length + change.removed.length + change.changed.length > 0) this.onChange(w.svc, source, change, answer);
    } else {
      w.failures++;
      w.failedTotal++;
      delay = retryDelay(w.failures, ttls);
      const why = out.kind === "fail" ? out.reason : out.kind === "nxdomain" ? "no such name (NXDOMAIN)" : source.kind === "dns" ? "no A or AAAA records" : "no SRV records with a reachable target";
      // A new condition is logged once: another kind of failure, or another reason for it.
      const condition = out.kind === "fail" ? `fail ${out.reason}` : out.kind;
      if (w.condition !== condition) {
        const kept = w.svc.discovered().get(source.key);
        const keeping = kept === undefined ? "no server from it yet" : `keeping its last servers (${describeServers(serversFrom(source, kept))})`;
        log.warn(`${label(w.svc, source)}: ${why}; ${keeping}; asking again in ${formatDuration(delay)}, then less often`);
      } else if (logEnabled("debug")) {
        log.debug(`${label(w.svc, source)}: still ${why} (${w.failures} in a row), asking again in ${formatDuration(delay)}`);
      }
      w.condition = condition;
    }
    w.timer = setTimeout(() => {
      w.timer = undefined;
      void this.ask(w, true);
    }, delay);
  }
}
