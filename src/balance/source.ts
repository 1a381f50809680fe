/**
 * Consistent hashing of the client address (`ctx.client`).
 *
 * The ring is `_private.ts`'s HashRing (shared with uri and header): VNODES ×
 * weight points per server, a client maps to the first eligible server
 * clockwise from hash(client). The ring only changes with weights, so when a
 * server goes down only its own clients move, and they come back when it is
 * up again. Backups have their own ring, used only when no primary is
 * eligible. Without a client address (undefined or "") the ring is walked
 * point by point like a weighted round-robin.
 *
 * Per pick: one string hash, a binary search, a short clockwise walk; no
 * allocation.
 */
import { ringBalancer } from "./_private.ts";
import type { BalancerAlgorithm, PickContext } from "./types.ts";

const clientOf = (ctx: PickContext): string | undefined => ctx.client || undefined;

export const source: BalancerAlgorithm = {
  name: "source",
  usesClient: true,
  description: "consistent hash of the client address: a client sticks to its server while it is up",
  create: (servers) => ringBalancer(servers, clientOf),
};
