/**
 * HAProxy's "first": the first eligible server in config order gets every
 * connection, so the others stay idle (and can be powered down).
 *
 * HAProxy moves on to the next server once the first reaches its `maxconn`.
 * plb has no per-server `maxconn` yet, so today the first eligible server
 * takes everything and later servers only receive traffic when earlier ones
 * are down or already tried; once `maxconn` exists, a server at its limit will
 * simply be skipped here and traffic will spill over to the next one.
 * Weights are not read (beyond weight 0 draining a server), so a slow start
 * changes nothing here (HAProxy's slows `first` through maxconn).
 * One pass over the tier at most, stopping at the first hit; no allocation.
 */
import { eligible, tiered, type Tier } from "./_private.ts";
import type { BalancedServer, BalancerAlgorithm, PickContext } from "./types.ts";

class FirstTier implements Tier {
  constructor(private readonly servers: readonly BalancedServer[]) {}

  pick(ctx: PickContext): BalancedServer | undefined {
    const { servers } = this;
    for (let i = 0; i < servers.length; i++) {
      if (eligible(servers[i], ctx.tried)) return servers[i];
    }
    return undefined;
  }
}

export const first: BalancerAlgorithm = {
  name: "first",
  description: "first eligible server in config order takes all connections (fills servers in order)",
  create: (servers) => tiered(servers, (members) => new FirstTier(members)),
};
