/** src/routes/shadow.ts: routes an earlier route makes unreachable. */
import { describe, expect, test } from "bun:test";
import { covers, shadowedRoutes } from "../src/routes/shadow.ts";
import { routesOf } from "./support/routes.ts";

/** Does the first of two routes (TOML bodies) cover the second? */
function covered(a: string, b: string): boolean {
  const [x, y] = routesOf(`[[service.route]]\n${a}\nbackend = "a"\n[[service.route]]\n${b}\nbackend = "b"\n`);
  return covers(x, y);
}

describe("covers", () => {
  test("hosts", () => {
    expect(covered(``, `host = "a.example.com"`)).toBe(true);
    expect(covered(`path = "/"`, `host = "a.example.com"`)).toBe(false); // "OPTIONS *" has no path under "/"
    expect(covered(`host = "a.example.com"`, `path = "/"`)).toBe(false);
    expect(covered(`host = "*.example.com"`, `host = ["a.example.com", "*.b.example.com"]`)).toBe(true);
    expect(covered(`host = "*.example.com"`, `host = ["a.example.com", "example.com"]`)).toBe(false);
    expect(covered(`host = ["*.b.example.com"]`, `host = "*.example.com"`)).toBe(false);
    expect(covered(`host = ["a.example.com", "b.example.com"]`, `host = "B.example.com"`)).toBe(true);
  });
  test("paths", () => {
    expect(covered(`path = "/v1"`, `path = "/v1/"`)).toBe(true);
    expect(covered(`path = "/v1"`, `path = "/v1/x"`)).toBe(true);
    expect(covered(`path = "/v1/"`, `path = "/v1"`)).toBe(false);
    expect(covered(`path = "/v1"`, `path = "/v1x"`)).toBe(false);
    expect(covered(`path = "/v1"`, `path_exact = "/v1/a"`)).toBe(true);
    expect(covered(`path_exact = "/v1"`, `path = "/v1"`)).toBe(false);
    expect(covered(`path_exact = "/v1"`, `path_exact = "/v1"`)).toBe(true);
    expect(covered(`path = "/"`, `path_regex = "^/x"`)).toBe(false);
    expect(covered(`path_regex = "^/x"`, `path_regex = "^/x"`)).toBe(true);
    expect(covered(`path_regex = "^/x"`, `path_exact = "/xy"`)).toBe(true);
    expect(covered(`path_regex = "^/x"`, `path_exact = "/y"`)).toBe(false);
  });
  test("methods and headers", () => {
    expect(covered(`method = ["GET", "HEAD"]`, `method = "GET"`)).toBe(true);
    expect(covered(`method = "GET"`, `method = ["GET", "HEAD"]`)).toBe(false);
    expect(covered(`method = "GET"`, `path = "/"`)).toBe(false);
    expect(covered(`header = { "X-A" = "*" }`, `header = { "x-a" = "1", "X-B" = "2" }`)).toBe(true);
    expect(covered(`header = { "X-A" = "1" }`, `header = { "X-A" = "*" }`)).toBe(false);
    expect(covered(`header = { "X-A" = "1" }`, `header = { "X-A" = "2" }`)).toBe(false);
    expect(covered(``, `header = { "X-A" = "2" }`)).toBe(true);
  });
});

test("each unreachable route is named once, with the first route covering it", () => {
  const routes = routesOf(`
[[service.route]]
host = "*.example.com"
backend = "wild"
[[service.route]]
host = "a.example.com"
path = "/x"
backend = "a"
[[service.route]]
host = "a.example.com"
backend = "a2"
[[service.route]]
host = "example.com"
backend = "apex"
`);
  const found = shadowedRoutes(routes);
  expect(found.map((s) => [s.route.index, s.by.index])).toEqual([[1, 0], [2, 0]]);
  expect(found[0].message).toBe("route at line 10 can never match: the route at line 7 matches every request it would (the first matching route wins)");
});
