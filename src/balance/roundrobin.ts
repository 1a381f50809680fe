/**
 * Smooth weighted round-robin (nginx's algorithm).
 *
 * Each pick adds every eligible server's weight to its `current`, picks the
 * largest `current` (first in config order on ties) and subtracts the total
 * eligible weight from the winner. Weights 5,1,1 give a,a,b,a,c,a,a: heavy
 * servers are interleaved, never picked in bursts. One pass over the tier per
 * pick, no allocation.
 */
import { eligible, tiered, type Tier } from "./_private.ts";
import type { BalancedServer, BalancerAlgorithm, PickContext } from "./types.ts";

class SmoothTier implements Tier {
  private readonly current: Float64Array;

  constructor(private readonly servers: readonly BalancedServer[]) {
    this.current = new Float64Array(servers.length);
  }

  pick(ctx: PickContext): BalancedServer | undefined {
    const { servers, current } = this;
    const tried = ctx.tried;
    let best = -1;
    let total = 0;
    for (let i = 0; i < servers.length; i++) {
      const server = servers[i];
      if (!eligible(server, tried)) continue;
      current[i] += server.weight;
      total += server.weight;
      if (best < 0 || current[i] > current[best]) best = i;
    }
    if (best < 0) return undefined;
    current[best] -= total;
    return servers[best];
  }

  /** A changed set or weight restarts the sequence from scratch. */
  up(): void {
    this.current.fill(0);
  }

  down(): void {
    this.current.fill(0);
  }

  weight(): void {
    this.current.fill(0);
  }
}

export const roundrobin: BalancerAlgorithm = {
  name: "roundrobin",
  description: "smooth weighted round-robin (nginx): interleaves servers in proportion to weight",
  create: (servers) => tiered(servers, (members) => new SmoothTier(members)),
};
