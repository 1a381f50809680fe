/**
 * Routes that can never match: a route is unreachable when one earlier
 * route matches every request it would (first match wins). Only one earlier
 * route at a time is compared (a route covered by two earlier ones together
 * is not found), and path_regex covers nothing but the same expression or
 * an exact path it matches: the check never warns wrongly, it may miss.
 *
 * Route A covers route B when each of A's conditions holds for every
 * request B matches:
 * - host: A has none; or B has hosts and each is covered by one of A's (an
 *   exact host by itself or a wildcard over it; "*.b.example.com" by
 *   "*.example.com" or itself);
 * - path: A has none; or A's prefix holds for B's exact path, or for B's
 *   prefix taken as a path ("/v1" covers "/v1/" and "/v1/x"; "/v1/" does
 *   not cover "/v1"); A exact covers the same exact path; A regex the same
 *   regex or an exact path it matches;
 * - method: A has none, or B has methods and A lists them all;
 * - header: each of A's header conditions is one of B's, a presence
 *   condition being covered by any condition on the same name.
 */
import { pathMatches, prefixMatches, underSuffix } from "./table.ts";
import type { PathCondition, RouteConfig } from "./types.ts";

export interface Shadowed {
  /** The route that can never match. */
  readonly route: RouteConfig;
  /** The earlier route that matches every request it would. */
  readonly by: RouteConfig;
  /** `route at line 12 can never match: the route at line 8 (first match wins) matches every request it would`. */
  readonly message: string;
}

function hostCovered(a: string, b: string): boolean {
  if (a === b) return true;
  if (!a.startsWith("*.")) return false;
  return underSuffix(b.startsWith("*.") ? b.slice(2) : b, a.slice(2));
}

function pathCovered(a: PathCondition, b: PathCondition): boolean {
  switch (a.kind) {
    case "prefix":
      return b.kind !== "regex" && prefixMatches(a.value, b.value);
    case "exact":
      return b.kind === "exact" && a.value === b.value;
    case "regex":
      return (b.kind === "regex" && a.value === b.value) || (b.kind === "exact" && pathMatches(a, b.value));
  }
}

/** Does route `a` match every request `b` matches? */
export function covers(a: RouteConfig, b: RouteConfig): boolean {
  if (a.hosts !== undefined && (b.hosts === undefined || !b.hosts.every((h) => a.hosts!.some((x) => hostCovered(x, h))))) return false;
  if (a.path !== undefined && (b.path === undefined || !pathCovered(a.path, b.path))) return false;
  if (a.methods !== undefined && (b.methods === undefined || !b.methods.every((m) => a.methods!.includes(m)))) return false;
  return a.headers.every((h) => b.headers.some((g) => g.name === h.name && (h.value === undefined || g.value === h.value)));
}

const where = (r: RouteConfig) => (r.line === undefined ? `route[${r.index}]` : `the route at line ${r.line}`);

/** Every route an earlier one covers, with the first such earlier route. */
export function shadowedRoutes(routes: readonly RouteConfig[]): Shadowed[] {
  const out: Shadowed[] = [];
  routes.forEach((b, j) => {
    for (let i = 0; i < j; i++) {
      const a = routes[i];
      if (!covers(a, b)) continue;
      const self = where(b).replace(/^the /, "");
      out.push({ route: b, by: a, message: `${self} can never match: ${where(a)} matches every request it would (the first matching route wins)` });
      return;
    }
  });
  return out;
}
