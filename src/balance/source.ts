/**
 * Consistent hashing of the client address (`ctx.client`).
 *
 * Each tier has a hash ring with VNODES × weight points per server (hashes of
 * "key#i"). A client maps to the first point clockwise from hash(client); if
 * that point's server is not eligible the walk continues clockwise to the
 * next eligible one. The ring itself only changes with weights, so when a
 * server goes down only its own clients move, and they come back when it is
 * up again. Backups have their own ring, used only when no primary is
 * eligible. Without a client address the ring is walked point by point like
 * a weighted round-robin.
 *
 * Per pick: one string hash, a binary search over the ring (O(log points)),
 * then a short clockwise walk (O(1) expected while most servers are up; it
 * stops once every server of the tier was seen ineligible). No allocation.
 */
import { eligible, hash32, positions, tiered, type Tier } from "./_private.ts";
import type { BalancedServer, BalancerAlgorithm, PickContext } from "./types.ts";

/** Ring points per unit of weight. */
export const VNODES = 100;

class RingTier implements Tier {
  private hashes = new Uint32Array(0);
  /** Tier position of the server owning each point. */
  private owners = new Uint32Array(0);
  /** Servers with at least one point. */
  private members = 0;
  /** seen[i] === generation: server i was found ineligible during this walk. */
  private readonly seen: Uint32Array;
  private generation = 0;
  /** Next point for picks without a client address. */
  private cursor = 0;
  private readonly index: Map<BalancedServer, number>;

  constructor(private readonly servers: readonly BalancedServer[]) {
    this.seen = new Uint32Array(servers.length);
    this.index = positions(servers);
    this.build();
  }

  /** (Re)builds the ring from the current weights. */
  private build(): void {
    const points: { hash: number; owner: number }[] = [];
    const uses = new Map<string, number>();
    this.members = 0;
    this.servers.forEach((server, owner) => {
      // A key configured twice gets distinct points instead of shadowing.
      const use = uses.get(server.key) ?? 0;
      uses.set(server.key, use + 1);
      const base = use === 0 ? server.key : `${server.key}~${use}`;
      const count = server.weight > 0 ? Math.max(1, Math.round(VNODES * server.weight)) : 0;
      if (count > 0) this.members++;
      for (let i = 0; i < count; i++) points.push({ hash: hash32(`${base}#${i}`), owner });
    });
    points.sort((a, b) => a.hash - b.hash || a.owner - b.owner);
    this.hashes = Uint32Array.from(points, (p) => p.hash);
    this.owners = Uint32Array.from(points, (p) => p.owner);
    this.cursor = 0;
  }

  pick(ctx: PickContext): BalancedServer | undefined {
    const { hashes, owners, servers, seen } = this;
    const length = hashes.length;
    if (length === 0) return undefined;
    let at: number;
    if (ctx.client) {
      at = this.lowerBound(hash32(ctx.client));
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

export const source: BalancerAlgorithm = {
  name: "source",
  usesClient: true,
  description: "consistent hash of the client address: a client sticks to its server while it is up",
  create: (servers) => tiered(servers, (members) => new RingTier(members)),
};
