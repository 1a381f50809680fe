/**
 * The route table: built once per configuration from a service's routes
 * (file order), immutable, swapped whole by a reload. `match` returns the
 * first route in file order whose conditions all hold.
 *
 * Hosts are not scanned route by route. At build time every exact host
 * named by a route gets its candidate list: the routes naming it and the
 * wildcard routes covering it, in file order. Every wildcard suffix gets
 * one too (the routes of that suffix and of the shorter suffixes covering
 * it). A request's host is looked up exactly (one Map lookup); if it is
 * not there, its suffixes are looked up label by label from the longest
 * (never longer than the longest wildcard suffix: one substring per label
 * tried), and the first found is the list. That list and the routes
 * without a host condition are merged in file order as they are walked,
 * checking the path, method and header conditions: nothing is allocated.
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

const NONE: readonly number[] = Object.freeze([]);

class Table implements RouteTable {
  constructor(
    readonly routes: readonly RouteConfig[],
    /** Exact host → positions (in `routes`) of the routes naming it or a wildcard over it, ascending. */
    private readonly exact: ReadonlyMap<string, readonly number[]>,
    /** Wildcard suffix → positions of the routes whose wildcards cover every host under it, ascending. */
    private readonly wild: ReadonlyMap<string, readonly number[]>,
    private readonly longestSuffix: number,
    /** Positions of the routes without a host condition, ascending. */
    private readonly anyHost: readonly number[],
  ) {}

  match(facts: RequestFacts): RouteConfig | undefined {
    // The host's list and the host-less routes, merged in file order as they are walked.
    const list = this.candidates(facts.host);
    const any = this.anyHost;
    const routes = this.routes;
    let i = 0;
    let j = 0;
    while (i < list.length || j < any.length) {
      const pos = j >= any.length || (i < list.length && list[i] < any[j]) ? list[i++] : any[j++];
      if (restMatches(routes[pos], facts)) return routes[pos];
    }
    return undefined;
  }

  private candidates(host: string): readonly number[] {
    if (host === "") return NONE;
    const hit = this.exact.get(host);
    if (hit !== undefined) return hit;
    if (this.wild.size === 0) return NONE;
    let dot = host.indexOf(".");
    // Skip the suffixes longer than any wildcard's.
    while (dot >= 0 && host.length - dot - 1 > this.longestSuffix) dot = host.indexOf(".", dot + 1);
    while (dot >= 0) {
      const list = this.wild.get(host.slice(dot + 1));
      if (list !== undefined) return list;
      dot = host.indexOf(".", dot + 1);
    }
    return NONE;
  }
}

/**
 * The table of `routes` (in file order). Built in one pass over the routes
 * and one walk of each name's labels: O(hosts × labels + candidates × log).
 */
export function buildRouteTable(routes: readonly RouteConfig[]): RouteTable {
  const anyHost: number[] = [];
  const byExact = new Map<string, number[]>();
  const bySuffix = new Map<string, number[]>();
  const add = (m: Map<string, number[]>, k: string, pos: number) => {
    const l = m.get(k);
    if (l === undefined) m.set(k, [pos]);
    else if (l[l.length - 1] !== pos) l.push(pos);
  };
  routes.forEach((r, pos) => {
    if (r.hosts === undefined) anyHost.push(pos);
    else for (const h of r.hosts) h.startsWith("*.") ? add(bySuffix, h.slice(2), pos) : add(byExact, h, pos);
  });
  /** Positions of the routes whose wildcards cover `name` (with `self`: also those of "*.name"), plus `own`, ascending and once each. */
  const covering = (name: string, self: boolean, own: readonly number[]): readonly number[] => {
    const out = [...own, ...(self ? bySuffix.get(name) ?? [] : [])];
    for (let d = name.indexOf("."); d >= 0; d = name.indexOf(".", d + 1)) out.push(...(bySuffix.get(name.slice(d + 1)) ?? []));
    return Object.freeze([...new Set(out)].sort((a, b) => a - b));
  };
  const exact = new Map<string, readonly number[]>();
  for (const [h, own] of byExact) exact.set(h, covering(h, false, own));
  const wild = new Map<string, readonly number[]>();
  for (const sfx of bySuffix.keys()) wild.set(sfx, covering(sfx, true, []));
  const longest = Math.max(0, ...[...bySuffix.keys()].map((x) => x.length));
  return Object.freeze(new Table(Object.freeze([...routes]), exact, wild, longest, Object.freeze(anyHost)));
}
