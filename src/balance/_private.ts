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
