/**
 * One backend at run time: a named set of servers with their state, the
 * balancer, the servers found in DNS and what the protocol's sessions share
 * of it (http's idle server connections, tcp's and smtp's handshake). Any
 * number of services may use it: one state per server, one probe per
 * server, one set of counters, whichever listener the traffic came
 * through. Built from a `BackendSetup` (configuration, protocol and
 * algorithm, which the caller looks up: the core imports no protocol) and
 * changed by a reload through `reconfigure`, which keeps every server's
 * state.
 */
import { isIP } from "node:net";
import type { BalancerAlgorithm } from "./balance/types.ts";
import type { BackendConfig, ServerConfig } from "./config/types.ts";
import { clientIp } from "./net/client-address.ts";
import type { Sock } from "./net/types.ts";
import type { BackendHandle, BackendSetup as ProtocolBackendSetup, Protocol } from "./protocol.ts";
import { serversFrom, type DnsAnswerSet } from "./servers/from-dns.ts";
import { serverId } from "./servers/server.ts";
import { ServerPool, type ServerSetChange } from "./servers/state.ts";
import { type ServerTls, warnUnverified } from "./tls/client.ts";

/** A backend's configuration with what it names, prepared but not in force yet. */
export interface BackendSetup {
  readonly cfg: BackendConfig;
  readonly protocol: Protocol;
  readonly algorithm: BalancerAlgorithm;
  readonly built: ProtocolBackendSetup;
  /** TLS to the servers (`server_tls`, its files read and checked), or undefined. */
  readonly tls: ServerTls | undefined;
}

/** Build `cfg`'s protocol setup; `previous`: what the running backend shares (reload); `tls`: its `server_tls`, loaded. */
export function setupBackend(cfg: BackendConfig, protocol: Protocol, algorithm: BalancerAlgorithm, previous?: unknown, tls?: ServerTls): BackendSetup {
  return { cfg, protocol, algorithm, built: protocol.backendSetup?.(cfg, previous) ?? {}, tls };
}

export class Backend implements BackendHandle {
  readonly name: string;
  cfg: BackendConfig;
  shared: unknown;
  readonly pool: ServerPool;
  readonly protocol: Protocol;
  /** When a reload removed it (0: in use); the sessions on its servers finish. */
  removedAt = 0;
  usesClient: boolean;
  hashes: "path" | "header" | undefined;
  /** TLS to the servers, for every connect, probe and check (undefined: plain text). */
  tls: ServerTls | undefined;
  private algorithm: BalancerAlgorithm;
  /** Each DNS source's last answer, by DnsSource.key. */
  private readonly fromDns = new Map<string, DnsAnswerSet>();

  constructor(setup: BackendSetup) {
    const { cfg, protocol, algorithm, built } = setup;
    this.name = cfg.name;
    this.cfg = cfg;
    this.shared = built.shared;
    this.protocol = protocol;
    this.algorithm = algorithm;
    this.pool = new ServerPool(cfg.name, cfg.servers, cfg.server_retry, (h) => (isIP(h) ? h : undefined));
    this.pool.setSlowstart(cfg.slowstart);
    this.pool.useAlgorithm(algorithm);
    this.usesClient = algorithm.usesClient === true;
    this.hashes = algorithm.hashes;
    this.tls = setup.tls;
    if (setup.tls?.verify === false) warnUnverified(this.name);
    built.commit?.();
  }

  /**
   * Put a reload's setup in force: the configuration, the protocol's new
   * setup, the new server set (kept servers keep their state), the
   * algorithm (a new balancer over the same states). Cannot fail.
   */
  reconfigure(setup: BackendSetup): ServerSetChange {
    const { cfg, algorithm, built } = setup;
    if (setup.tls?.verify === false && this.tls?.verify !== false) warnUnverified(this.name);
    this.tls = setup.tls;
    this.cfg = cfg;
    this.shared = built.shared;
    this.pool.retry = cfg.server_retry;
    this.pool.setSlowstart(cfg.slowstart);
    if (algorithm !== this.algorithm) {
      this.algorithm = algorithm;
      this.pool.useAlgorithm(algorithm);
      this.usesClient = algorithm.usesClient === true;
      this.hashes = algorithm.hashes;
    }
    built.commit?.();
    // Servers from DNS stay while their entry does (with its new weight or backup flag).
    for (const key of this.fromDns.keys()) if (!cfg.discover.some((d) => d.key === key)) this.fromDns.delete(key);
    return this.pool.update(this.serverSet());
  }

  /**
   * A DNS source's new answer (discovery, or a worker's master): the pool
   * takes the whole new set as it takes a reload's. `pending` false: before
   * plb serves (the start's set).
   */
  setDiscovered(key: string, answer: DnsAnswerSet, pending = true): ServerSetChange {
    // An entry a reload dropped meanwhile. (The same answer again, the usual case at each TTL,
    // gives the pool the same set: it changes nothing, and the balancer keeps its state.)
    if (!this.cfg.discover.some((d) => d.key === key)) return { added: [], removed: [], changed: [] };
    this.fromDns.set(key, answer);
    return this.pool.update(this.serverSet(), Date.now(), { pending, why: `no longer in the DNS answer (${key})` });
  }

  /** Each DNS source's last answer (a worker starting later is told them). */
  discovered(): ReadonlyMap<string, DnsAnswerSet> {
    return this.fromDns;
  }

  /** A reload removed this backend: no new sessions; its servers leave with it. */
  retire(at = Date.now()): void {
    this.removedAt = at;
    this.pool.update([], at);
  }

  /** Key for source hashing: the client IP (a PROXY header's source with accept_proxy), IPv4-mapped addresses unwrapped. */
  clientKey(client: Sock): string | undefined {
    return this.usesClient ? clientIp(client) : undefined;
  }

  /**
   * The configured servers with each DNS source's servers in its place; a
   * server named twice (a name that resolves to a configured address) is
   * taken once, where it comes first.
   */
  private serverSet(): ServerConfig[] {
    const out: ServerConfig[] = [];
    const seen = new Set<string>();
    const add = (list: readonly ServerConfig[]): void => {
      for (const c of list) {
        const id = serverId(c);
        if (seen.has(id)) continue;
        seen.add(id);
        out.push(c);
      }
    };
    const { servers, discover } = this.cfg;
    for (let i = 0; i <= servers.length; i++) {
      for (const d of discover) {
        const answer = this.fromDns.get(d.key);
        if (d.at === i && answer !== undefined) add(serversFrom(d, answer));
      }
      if (i < servers.length) add([servers[i]!]);
    }
    return out;
  }
}
