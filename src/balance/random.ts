/**
 * Power of two choices: draw two distinct eligible servers at random, each
 * with probability proportional to its weight, and take the one with the
 * lower active/weight (the first drawn on a tie).
 *
 * This keeps the spread of random while never sending a connection to the
 * more loaded of the pair, so the most loaded server is never picked when
 * another is eligible. Three passes over the tier per pick (total weight,
 * first draw, second draw), no allocation.
 */
import { eligible, lessLoaded, tiered, type Tier } from "./_private.ts";
import type { BalancedServer, BalancerAlgorithm, PickContext } from "./types.ts";

class TwoChoicesTier implements Tier {
  constructor(
    private readonly servers: readonly BalancedServer[],
    private readonly random: () => number,
  ) {}

  pick(ctx: PickContext): BalancedServer | undefined {
    const { servers } = this;
    const tried = ctx.tried;
    let total = 0;
    let count = 0;
    for (let i = 0; i < servers.length; i++) {
      if (!eligible(servers[i], tried)) continue;
      total += servers[i].weight;
      count++;
    }
    if (count === 0) return undefined;
    const a = this.draw(total, tried, undefined);
    if (count === 1) return a;
    const b = this.draw(total - a.weight, tried, a);
    return lessLoaded(b, a) ? b : a;
  }

  /** A weighted random eligible server other than `skip`; `total` is their weight sum. */
  private draw(total: number, tried: PickContext["tried"], skip: BalancedServer | undefined): BalancedServer {
    const { servers } = this;
    let r = this.random() * total;
    let last: BalancedServer | undefined;
    for (let i = 0; i < servers.length; i++) {
      const server = servers[i];
      if (server === skip || !eligible(server, tried)) continue;
      last = server;
      r -= server.weight;
      if (r < 0) return server;
    }
    // Only reachable through floating-point rounding at the very top of the range.
    return last!;
  }
}

/** A random balancer with a given source of randomness in [0, 1) (for tests). */
export function createRandom(servers: readonly BalancedServer[], rng: () => number = Math.random) {
  return tiered(servers, (members) => new TwoChoicesTier(members, rng));
}

export const random: BalancerAlgorithm = {
  name: "random",
  description: "power of two choices: two weighted random servers, the less loaded (active/weight) wins",
  create: (servers) => createRandom(servers),
};
