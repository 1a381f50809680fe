/**
 * The route table: built once per configuration from a service's routes
 * (file order), immutable, swapped whole by a reload. `match` returns the
 * first route in file order whose conditions all hold.
 *
 * Hosts are not scanned route by route. At build time every exact host
 * named by a route gets its candidate list: the routes naming it, the
 * wildcard routes covering it and the routes without a host condition,
 * merged in file order. Every wildcard suffix gets one too (the routes of
 * that suffix and of the shorter suffixes covering it, and the host-less
 * ones). A request's host is looked up exactly (one Map lookup); if it is
 * not there, its suffixes are looked up label by label from the longest
 * (never longer than the longest wildcard suffix), and the first found is
 * the list; else the host-less routes. Within the list, the path, method
 * and header conditions are checked in order: no allocation.
 */
import type { PathCondition, RequestFacts, RouteConfig } from "./types.ts";

export interface RouteTable {
  /** Every route, in file order. */
  readonly routes: readonly RouteConfig[];
  /** The first route matching `facts`, or undefined. */
  match(facts: RequestFacts): RouteConfig | undefined;
}

/** Does `path` fall under prefix `p` on a segment boundary? ("/v1": "/v1", "/v1/x", not "/v1x"; "/v1/": "/v1/x", not "/v1".) */
export function prefixMatches(p: string, path: string): boolean {
  if (!path.startsWith(p)) return false;
  return path.length === p.length || p.charCodeAt(p.length - 1) === 0x2f || path.charCodeAt(p.length) === 0x2f;
}

export function pathMatches(c: PathCondition, path: string): boolean {
  switch (c.kind) {
    case "prefix":
      return prefixMatches(c.value, path);
    case "exact":
      return path === c.value;
    case "regex":
      return c.re.test(path); // no flags: test() neither reads nor writes lastIndex (the regex may be frozen)
  }
}

/** Do the conditions other than host hold? */
export function restMatches(r: RouteConfig, facts: RequestFacts): boolean {
  if (r.path !== undefined && !pathMatches(r.path, facts.path)) return false;
  const methods = r.methods;
  if (methods !== undefined) {
    let found = false;
    for (let i = 0; i < methods.length; i++) if (methods[i] === facts.method) (found = true), (i = methods.length);
    if (!found) return false;
  }
  const headers = r.headers;
  for (let i = 0; i < headers.length; i++) if (!facts.header(headers[i].name, headers[i].value)) return false;
  return true;
}

/** Does exact (lowercased) host `h` fall under wildcard suffix `s` ("example.com" for "*.example.com")? */
export function underSuffix(h: string, s: string): boolean {
  return h.length > s.length && h.endsWith(s) && h.charCodeAt(h.length - s.length - 1) === 0x2e;
}

/** Does a route's host condition hold for host `h` (the reference, by scanning; the table uses its index)? */
export function hostMatches(r: RouteConfig, h: string): boolean {
  if (r.hosts === undefined) return true;
  for (const x of r.hosts) if (x.startsWith("*.") ? underSuffix(h, x.slice(2)) : x === h) return true;
  return false;
}

class Table implements RouteTable {
  constructor(
    readonly routes: readonly RouteConfig[],
    private readonly exact: ReadonlyMap<string, readonly RouteConfig[]>,
    private readonly wild: ReadonlyMap<string, readonly RouteConfig[]>,
    private readonly longestSuffix: number,
    private readonly anyHost: readonly RouteConfig[],
  ) {}

  match(facts: RequestFacts): RouteConfig | undefined {
    const list = this.candidates(facts.host);
    for (let i = 0; i < list.length; i++) if (restMatches(list[i], facts)) return list[i];
    return undefined;
  }

  private candidates(host: string): readonly RouteConfig[] {
    if (host === "") return this.anyHost;
    const hit = this.exact.get(host);
    if (hit !== undefined) return hit;
    if (this.wild.size === 0) return this.anyHost;
    let dot = host.indexOf(".");
    // Skip the suffixes longer than any wildcard's.
    while (dot >= 0 && host.length - dot - 1 > this.longestSuffix) dot = host.indexOf(".", dot + 1);
    while (dot >= 0) {
      const list = this.wild.get(host.slice(dot + 1));
      if (list !== undefined) return list;
      dot = host.indexOf(".", dot + 1);
    }
    return this.anyHost;
  }
}

/** The table of `routes` (in file order). */
export function buildRouteTable(routes: readonly RouteConfig[]): RouteTable {
  const anyHost = routes.filter((r) => r.hosts === undefined);
  const exactNames = new Set<string>();
  const suffixes = new Set<string>();
  for (const r of routes) for (const h of r.hosts ?? []) (h.startsWith("*.") ? suffixes : exactNames).add(h.startsWith("*.") ? h.slice(2) : h);
  const freeze = <T>(a: T[]): readonly T[] => Object.freeze(a);
  const exact = new Map<string, readonly RouteConfig[]>();
  for (const h of exactNames) exact.set(h, freeze(routes.filter((r) => hostMatches(r, h))));
  const wild = new Map<string, readonly RouteConfig[]>();
  // Any host under suffix s (and under no longer suffix) matches the routes of s and of the suffixes covering s.
  for (const s of suffixes) wild.set(s, freeze(routes.filter((r) => r.hosts === undefined || r.hosts.some((x) => x.startsWith("*.") && (x.slice(2) === s || underSuffix(s, x.slice(2)))))));
  const longest = Math.max(0, ...[...suffixes].map((s) => s.length));
  return Object.freeze(new Table(freeze([...routes]), exact, wild, longest, freeze(anyHost)));
}
