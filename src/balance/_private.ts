/**
 * Shared helpers for the algorithms (not part of the registry).
 *
 * Every algorithm is written as a `Tier`: a picker over one group of servers.
 * `tiered()` builds the real `Balancer` from two tiers, primaries and backups,
 * so "a primary when one is eligible, else a backup" lives here only.
 */
import type { BalancedServer, Balancer, PickContext } from "./types.ts";

/**
 * One group of servers (all primaries or all backups), in config order: the
 * Balancer interface over that group only; `pick` returns an eligible server
 * of this tier, or undefined when none is.
 */
export type Tier = Balancer;

/**
 * Whether `server` may take a new connection: up, not already tried for this
 * client, and a positive weight (weight 0 drains a server, as in HAProxy).
 */
export function eligible(server: BalancedServer, tried: ReadonlySet<BalancedServer> | undefined): boolean {
  return server.up && server.weight > 0 && (tried === undefined || !tried.has(server));
}

/** True when a's load is strictly lower than b's: a.active/a.weight < b.active/b.weight. */
export function lessLoaded(a: BalancedServer, b: BalancedServer): boolean {
  // Cross-multiplied: no division, exact for integers.
  return a.active * b.weight < b.active * a.weight;
}

/** The tier's position of each of its servers, for hooks. */
export function positions(servers: readonly BalancedServer[]): Map<BalancedServer, number> {
  const map = new Map<BalancedServer, number>();
  servers.forEach((s, i) => map.set(s, i));
  return map;
}

const HOOKS = ["up", "down", "weight", "connectionStart", "connectionEnd"] as const;

/**
 * A Balancer from one tier factory: servers are split into primaries and
 * backups (each in config order) and the backup tier is asked only when the
 * primary tier has no eligible server. Hooks the tiers do not implement are
 * left off the Balancer, so servers/state can skip calling them.
 */
export function tiered(
  servers: readonly BalancedServer[],
  makeTier: (members: readonly BalancedServer[]) => Tier,
): Balancer {
  const ordered = [...servers].sort((a, b) => a.index - b.index);
  const primary = makeTier(ordered.filter((s) => !s.backup));
  const backup = makeTier(ordered.filter((s) => s.backup));
  const balancer: Balancer = {
    pick: (ctx) => primary.pick(ctx) ?? backup.pick(ctx),
  };
  for (const hook of HOOKS) {
    const onPrimary = primary[hook];
    const onBackup = backup[hook];
    if (onPrimary === undefined || onBackup === undefined) continue;
    balancer[hook] = (server) => {
      if (server.backup) onBackup.call(backup, server);
      else onPrimary.call(primary, server);
    };
  }
  return balancer;
}

/** 32-bit FNV-1a over UTF-16 code units, then murmur3's fmix32 for avalanche. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Ring points per unit of weight (hash rings: source, uri, header). */
export const VNODES = 100;

/**
 * A consistent-hash ring over one tier, for the hashing algorithms; `keyOf`
 * says what a pick hashes (the client address, the path, a header value).
 *
 * The ring has VNODES × weight points per server (hashes of "key#i"). A key
 * maps to the first point clockwise from hash(key); if that point's server is
 * not eligible the walk continues clockwise to the next eligible one. The
 * ring itself only changes with weights, so when a server goes down (or was
 * tried) only its own keys move, spread over the others by weight, and they
 * come back when it is up again. When `keyOf` gives undefined the ring is
 * walked point by point instead, like a weighted round-robin.
 *
 * A weight change (the operator, a slow-start step) rebuilds the ring. A
 * server's points for a smaller weight are the first of its points for a
 * larger one, so while its weight ramps up keys only move to it, each once,
 * and it ends with exactly the keys its full weight maps to it (HAProxy's
 * `hash-type consistent` is dynamic in the same way).
 *
 * Per pick: one string hash, a binary search over the ring (O(log points)),
 * then a short clockwise walk (O(1) expected while most servers are up; it
 * stops once every server of the tier was seen ineligible). No allocation.
 */
export class HashRing implements Tier {
  private hashes = new Uint32Array(0);
  /** Tier position of the server owning each point. */
  private owners = new Uint32Array(0);
  /** Servers with at least one point. */
  private members = 0;
  /** seen[i] === generation: server i was found ineligible during this walk. */
  private readonly seen: Uint32Array;
  private generation = 0;
  /** Next point for picks without a key. */
  private cursor = 0;
  private readonly index: Map<BalancedServer, number>;

  constructor(
    private readonly servers: readonly BalancedServer[],
    private readonly keyOf: (ctx: PickContext) => string | undefined,
  ) {
    this.seen = new Uint32Array(servers.length);
    this.index = positions(servers);
    this.build();
  }

  /**
   * (Re)builds the ring from the current weights. The ring depends on the
   * servers' keys and weights only, never on their order: two plb with the
   * same servers listed (or discovered) in any order send every key to the
   * same server. Points of two servers on the same hash (rare: 32 bits)
   * are ordered by key for that reason, not by position.
   */
  private build(): void {
    const points: { hash: number; owner: number }[] = [];
    const uses = new Map<string, number>();
    const bases: string[] = [];
    this.members = 0;
    this.servers.forEach((server, owner) => {
      // A key configured twice gets distinct points instead of shadowing.
      const use = uses.get(server.key) ?? 0;
      uses.set(server.key, use + 1);
      const base = use === 0 ? server.key : `${server.key}~${use}`;
      bases.push(base);
      const count = server.weight > 0 ? Math.max(1, Math.round(VNODES * server.weight)) : 0;
      if (count > 0) this.members++;
      for (let i = 0; i < count; i++) points.push({ hash: hash32(`${base}#${i}`), owner });
    });
    const byKey = (a: number, b: number) => (bases[a] < bases[b] ? -1 : bases[a] > bases[b] ? 1 : a - b);
    points.sort((a, b) => a.hash - b.hash || byKey(a.owner, b.owner));
    this.hashes = Uint32Array.from(points, (p) => p.hash);
    this.owners = Uint32Array.from(points, (p) => p.owner);
    this.cursor = 0;
  }

  pick(ctx: PickContext): BalancedServer | undefined {
    const { hashes, owners, servers, seen } = this;
    const length = hashes.length;
    if (length === 0) return undefined;
    const key = this.keyOf(ctx);
    let at: number;
    if (key !== undefined) {
      at = this.lowerBound(hash32(key));
    } else {
      at = this.cursor;
      this.cursor = at + 1 === length ? 0 : at + 1;
    }
    if (++this.generation === 0xffffffff) {
      seen.fill(0);
      this.generation = 1;
    }
    const generation = this.generation;
    let misses = 0;
    for (let step = 0; step < length; step++, at = at + 1 === length ? 0 : at + 1) {
      const owner = owners[at];
      const server = servers[owner];
      if (eligible(server, ctx.tried)) return server;
      if (seen[owner] !== generation) {
        seen[owner] = generation;
        if (++misses === this.members) return undefined;
      }
    }
    return undefined;
  }

  /** First point at or after `hash`, wrapping to 0 past the end. */
  private lowerBound(hash: number): number {
    const { hashes } = this;
    let lo = 0;
    let hi = hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid] < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === hashes.length ? 0 : lo;
  }

  weight(server: BalancedServer): void {
    if (this.index.has(server)) this.build();
  }
}

/**
 * A hashing algorithm's balancer: a HashRing per tier (backups have their
 * own ring, used only when no primary is eligible).
 */
export function ringBalancer(servers: readonly BalancedServer[], keyOf: (ctx: PickContext) => string | undefined): Balancer {
  return tiered(servers, (members) => new HashRing(members, keyOf));
}
