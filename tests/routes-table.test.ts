/**
 * src/routes/table.ts: the first route in file order whose conditions all
 * hold, with the exact-host index and the wildcard suffix lookup giving the
 * same answer as a plain scan of every route (checked on random tables).
 */
import { describe, expect, test } from "bun:test";
import { between, chance, int, pick, rng } from "../fuzz/rng.ts";
import { buildRouteTable, hostMatches, prefixMatches, restMatches } from "../src/routes/table.ts";
import type { RequestFacts, RouteConfig } from "../src/routes/types.ts";
import { facts, routesOf } from "./support/routes.ts";

/** Index of the route matched (-1: none). */
const matchIndex = (routes: readonly RouteConfig[], f: RequestFacts) => buildRouteTable(routes).match(f)?.index ?? -1;

describe("hosts", () => {
  const routes = routesOf(`
[[service.route]]
host = ["api.example.com"]
backend = "api"
[[service.route]]
host = ["*.example.com"]
backend = "wild"
[[service.route]]
host = "example.com"
backend = "apex"
[[service.route]]
host = ["*.deep.example.com", "other.org"]
backend = "deep"
`);
  test("an exact host, before a wildcard listed later", () => expect(matchIndex(routes, facts("api.example.com"))).toBe(0));
  test("a wildcard matches subdomains at any depth, not the domain itself", () => {
    expect(matchIndex(routes, facts("www.example.com"))).toBe(1);
    expect(matchIndex(routes, facts("a.b.c.example.com"))).toBe(1);
    expect(matchIndex(routes, facts("example.com"))).toBe(2);
    expect(matchIndex(routes, facts("badexample.com"))).toBe(-1);
  });
  test("a longer wildcard listed after a shorter one never wins (first match), the shorter one still matches under it", () => {
    expect(matchIndex(routes, facts("x.deep.example.com"))).toBe(1);
    expect(matchIndex(routes, facts("other.org"))).toBe(3);
    expect(matchIndex(routes, facts("x.other.org"))).toBe(-1);
  });
  test("no host (HTTP/1.0 without Host) matches only routes without a host condition", () => {
    expect(matchIndex(routes, facts(""))).toBe(-1);
    expect(matchIndex([...routes, ...routesOf(`[[service.route]]\npath = "/"\nbackend = "any"`)], facts(""))).toBe(0);
  });
  test("configured hosts are lowercased and lose a trailing dot; IPv6 literals get brackets", () => {
    const r = routesOf(`[[service.route]]\nhost = ["API.Example.COM.", "::1", "[::2]", "10.0.0.1", "*.Example.ORG"]\nbackend = "a"`);
    expect(r[0].hosts).toEqual(["api.example.com", "[::1]", "[::2]", "10.0.0.1", "*.example.org"]);
    expect(matchIndex(r, facts("[::1]"))).toBe(0);
    expect(matchIndex(r, facts("10.0.0.1"))).toBe(0);
  });
});

describe("paths", () => {
  test("a prefix matches on segment boundaries", () => {
    for (const [p, path, want] of [
      ["/v1", "/v1", true], ["/v1", "/v1/", true], ["/v1", "/v1/x", true], ["/v1", "/v1x", false], ["/v1", "/v", false],
      ["/v1/", "/v1/x", true], ["/v1/", "/v1/", true], ["/v1/", "/v1", false], ["/", "/anything", true], ["/", "*", false],
      ["/a/b", "/a/b/c", true], ["/a/b", "/a/bc", false], ["/V1", "/v1", false],
    ] as const) expect({ p, path, m: prefixMatches(p, path) }).toEqual({ p, path, m: want });
  });
  const routes = routesOf(`
[[service.route]]
path_exact = "/robots.txt"
backend = "robots"
[[service.route]]
path_regex = "\\\\.(css|js)$"
backend = "static"
[[service.route]]
path = "/v1"
backend = "v1"
`);
  test("exact, regex (unanchored, JavaScript syntax) and prefix, in file order", () => {
    expect(matchIndex(routes, facts("h", "/robots.txt"))).toBe(0);
    expect(matchIndex(routes, facts("h", "/robots.txt/"))).toBe(-1);
    expect(matchIndex(routes, facts("h", "/v1/app.js"))).toBe(1);
    expect(matchIndex(routes, facts("h", "/v1/app.jsx"))).toBe(2);
    expect(matchIndex(routes, facts("h", "/v1x/app.jsx"))).toBe(-1);
  });
  test("a frozen configuration's regex still matches (test() writes no lastIndex)", () => {
    expect(Object.isFrozen(routes[1].path)).toBe(true);
    expect(matchIndex(routes, facts("h", "/a.css"))).toBe(1);
    expect(matchIndex(routes, facts("h", "/b.css"))).toBe(1);
  });
});

describe("methods and headers", () => {
  const routes = routesOf(`
[[service.route]]
method = ["POST", "PUT"]
header = { "X-Tenant" = "blue" }
backend = "blue-writes"
[[service.route]]
header = { "X-Debug" = "*", "X-Tenant" = "blue" }
backend = "debug"
[[service.route]]
method = "GET"
backend = "reads"
`);
  test("all of a route's conditions together", () => {
    expect(matchIndex(routes, facts("h", "/", "POST", { "X-Tenant": "blue" }))).toBe(0);
    expect(matchIndex(routes, facts("h", "/", "POST", { "X-Tenant": "red" }))).toBe(-1);
    expect(matchIndex(routes, facts("h", "/", "GET", { "X-Tenant": "blue" }))).toBe(2);
    expect(matchIndex(routes, facts("h", "/", "GET", { "X-Tenant": "blue", "x-debug": "" }))).toBe(1);
    expect(matchIndex(routes, facts("h", "/", "DELETE", { "X-Debug": "1" }))).toBe(-1);
  });
  test("methods are case-sensitive; header values too", () => {
    expect(matchIndex(routes, facts("h", "/", "get"))).toBe(-1);
    expect(matchIndex(routes, facts("h", "/", "POST", { "X-Tenant": "Blue" }))).toBe(-1);
  });
});

test("routes without a host condition are merged with host routes in file order", () => {
  const routes = routesOf(`
[[service.route]]
path = "/a"
backend = "any-a"
[[service.route]]
host = "x.example.com"
backend = "x"
[[service.route]]
host = "*.example.com"
path = "/b"
backend = "wild-b"
[[service.route]]
path = "/b"
backend = "any-b"
`);
  expect(matchIndex(routes, facts("x.example.com", "/a"))).toBe(0);
  expect(matchIndex(routes, facts("x.example.com", "/b"))).toBe(1);
  expect(matchIndex(routes, facts("y.example.com", "/b"))).toBe(2);
  expect(matchIndex(routes, facts("y.example.com", "/a"))).toBe(0);
  expect(matchIndex(routes, facts("y.example.org", "/b"))).toBe(3);
  expect(matchIndex(routes, facts("", "/b"))).toBe(3);
  expect(matchIndex([], facts("x.example.com"))).toBe(-1);
});

test("the table is immutable", () => {
  const t = buildRouteTable(routesOf(`[[service.route]]\nhost = "a.b"\nbackend = "x"`));
  expect(Object.isFrozen(t)).toBe(true);
  expect(Object.isFrozen(t.routes)).toBe(true);
});

// Random tables against a plain scan: the index must never change the answer.
const LABELS = ["a", "b", "api", "www", "example", "com", "org", "x"];
function randomHost(r: () => number): string {
  return Array.from({ length: between(r, 1, 4) }, () => pick(r, LABELS)).join(".");
}
function randomRoutes(r: () => number): string {
  let out = "";
  for (let i = between(r, 0, 30); i > 0; i--) {
    out += "[[service.route]]\n";
    if (chance(r, 0.8)) out += `host = [${Array.from({ length: between(r, 1, 3) }, () => JSON.stringify((chance(r, 0.4) ? "*." : "") + randomHost(r))).join(", ")}]\n`;
    if (chance(r, 0.5)) out += `path = ${JSON.stringify(pick(r, ["/", "/a", "/a/", "/a/b", "/b"]))}\n`;
    if (chance(r, 0.2)) out += `method = "${pick(r, ["GET", "POST"])}"\n`;
    if (chance(r, 0.2)) out += `header = { "X-T" = "${pick(r, ["1", "2", "*"])}" }\n`;
    out += `backend = "b${i}"\n`;
  }
  return out;
}

test("500 random tables: the index answers as a scan of every route does", () => {
  const r = rng(19_2);
  let matched = 0;
  for (let t = 0; t < 500; t++) {
    const routes = routesOf(randomRoutes(r));
    const table = buildRouteTable(routes);
    for (let q = 0; q < 40; q++) {
      const f = facts(chance(r, 0.05) ? "" : randomHost(r), pick(r, ["/", "/a", "/a/b", "/ab", "/b/c"]), pick(r, ["GET", "POST"]), chance(r, 0.5) ? { "X-T": pick(r, ["1", "2"]) } : {});
      const want = routes.find((x) => (x.hosts === undefined || f.host !== "") && hostMatches(x, f.host) && restMatches(x, f));
      const got = table.match(f);
      if (got !== want) throw new Error(`table ${t}: ${JSON.stringify(f)} matched route ${got?.index}, the scan ${want?.index}`);
      if (got) matched++;
    }
  }
  expect(matched).toBeGreaterThan(5000);
});
