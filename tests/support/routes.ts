/** Routes and request facts for the route tests, from TOML as an operator writes it. */
import { parseConfig } from "../../src/config/load.ts";
import type { RequestFacts, RouteConfig } from "../../src/routes/types.ts";

export const HTTP_SERVICE = `[[service]]\nname = "edge"\nprotocol = "http"\nlisten = ["127.0.0.1:8080"]\nservers = ["127.0.0.1:9"]\n`;

/**
 * `text` with a [[backend]] table (one server) for every backend its routes
 * name, after everything else (so the lines of the text stay as they are).
 */
export function withBackends(text: string): string {
  const names = new Set([...text.matchAll(/\bbackend\s*=\s*"([^"]*)"/g)].map((m) => m[1]).filter((n) => n !== "" && n !== "edge" && /^[A-Za-z0-9_.-]+$/.test(n)));
  return text + [...names].map((n) => `\n[[backend]]\nname = "${n}"\nservers = ["127.0.0.1:9"]\n`).join("");
}

/** The routes of one http service followed by `routes` ([[service.route]] tables). */
export function routesOf(routes: string): readonly RouteConfig[] {
  return parseConfig(withBackends(`${HTTP_SERVICE}${routes}`), "plb.toml").services[0].routes;
}

/** Request facts given directly (names of `headers` compared case-insensitively). */
export function facts(host: string, path = "/", method = "GET", headers: Record<string, string> = {}): RequestFacts {
  const h = Object.entries(headers).map(([n, v]) => [n.toLowerCase(), v] as const);
  return { host, path, method, header: (lower, value) => h.some(([n, v]) => n === lower && (value === undefined || v === value)) };
}
