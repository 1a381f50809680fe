/**
 * Weighted least connections.
 *
 * Picks the eligible server with the lowest (active + 1) / weight: the load
 * it would have after taking this connection, as HAProxy does. With equal
 * weights that is simply the fewest active connections; the "+ 1" makes an
 * idle heavy server win over an idle light one. Ties are broken round-robin:
 * the scan starts just after the previous pick, and only a strictly lower
 * load displaces the first candidate found, so equal servers take turns.
 * One pass over the tier per pick, no allocation. `active` is read from the
 * server itself (owned by servers/state), so no hook is needed.
 */
import { eligible, tiered, type Tier } from "./_private.ts";
import type { BalancedServer, BalancerAlgorithm, PickContext } from "./types.ts";

/** (a.active + 1) / a.weight < (b.active + 1) / b.weight, without division. */
function lighter(a: BalancedServer, b: BalancedServer): boolean {
  return (a.active + 1) * b.weight < (b.active + 1) * a.weight;
}

class LeastTier implements Tier {
  /** Where the next scan starts, for round-robin among ties. */
  private next = 0;

  constructor(private readonly servers: readonly BalancedServer[]) {}

  pick(ctx: PickContext): BalancedServer | undefined {
    const { servers } = this;
    const n = servers.length;
    let best: BalancedServer | undefined;
    let bestAt = 0;
    for (let k = 0, i = this.next; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      const server = servers[i];
      if (!eligible(server, ctx.tried)) continue;
      if (best === undefined || lighter(server, best)) {
        best = server;
        bestAt = i;
      }
    }
    if (best !== undefined) this.next = bestAt + 1 === n ? 0 : bestAt + 1;
    return best;
  }
}

export const leastconn: BalancerAlgorithm = {
  name: "leastconn",
  description: "weighted least connections: lowest (active+1)/weight, ties shared round-robin",
  create: (servers) => tiered(servers, (members) => new LeastTier(members)),
};
