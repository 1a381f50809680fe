/**
 * Consistent hashing of the request path (`ctx.key`: the path without the
 * query, passed per request by the http protocol).
 *
 * The same ring as `source` (`_private.ts`'s HashRing): a path maps to the
 * first eligible server clockwise from hash(path), so the same path always
 * reaches the same server while it is up (cache locality), and when a server
 * goes down only its own paths move, spread over the others by weight, coming
 * back when it is up again. Backups have their own ring. The path is hashed
 * exactly as received (case and percent-encoding are not normalised). Without
 * a key (undefined: not an http request) the ring is walked point by point
 * like a weighted round-robin, as `source` does without a client address.
 */
import { ringBalancer } from "./_private.ts";
import type { BalancerAlgorithm, PickContext } from "./types.ts";

const pathOf = (ctx: PickContext): string | undefined => ctx.key;

export const uri: BalancerAlgorithm = {
  name: "uri",
  hashes: "path",
  description: "consistent hash of the request path (http): a path sticks to its server while it is up",
  create: (servers) => ringBalancer(servers, pathOf),
};
