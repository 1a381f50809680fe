/**
 * Consistent hashing of a request header's value (`ctx.key`: the value of the
 * service's `hash_header`, passed per request by the http protocol).
 *
 * The same ring as `source` (`_private.ts`'s HashRing): a value (a tenant, a
 * session id) maps to the first eligible server clockwise from hash(value),
 * so it sticks to its server while that is up, and when a server goes down
 * only its own values move, spread over the others by weight.
 *
 * Requests without the header, or with an empty value (the session passes
 * ""), are not hashed: they are spread by walking the ring point by point, a
 * weighted round-robin, as HAProxy's `balance hdr()` does. Hashing "" would
 * send every such request to one server, a hot spot for the often largest
 * group of requests (anonymous ones). Undefined (not an http request) is
 * treated the same way.
 */
import { ringBalancer } from "./_private.ts";
import type { BalancerAlgorithm, PickContext } from "./types.ts";

const valueOf = (ctx: PickContext): string | undefined => ctx.key || undefined;

export const header: BalancerAlgorithm = {
  name: "header",
  hashes: "header",
  description: "consistent hash of the hash_header value (http); requests without it are spread round-robin",
  create: (servers) => ringBalancer(servers, valueOf),
};
