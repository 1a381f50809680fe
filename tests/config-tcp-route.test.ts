/**
 * src/config/route.ts for tcp services (TLS passthrough by name):
 * `[[service.route]]` with `sni` and `backend`; every http-only key, a
 * missing or bad `sni`, and an sni on an http route are errors naming the
 * key and its line; the shadow check and the route table serve tcp routes
 * as they serve http ones.
 */
import { describe, expect, test } from "bun:test";
import { configWarnings, parseConfig } from "../src/config/load.ts";
import { PlbError } from "../src/errors.ts";
import { buildRouteTable } from "../src/routes/table.ts";
import { facts, HTTP_SERVICE, withBackends } from "./support/routes.ts";

const TCP_SERVICE = `[[service]]\nname = "edge"\nprotocol = "tcp"\nlisten = ["127.0.0.1:8443"]\nservers = ["127.0.0.1:9"]\n`;
const TCP_ROUTED = `[[service]]\nname = "edge"\nprotocol = "tcp"\nlisten = ["127.0.0.1:8443"]\n`;

function problems(text: string): string[] {
  try {
    parseConfig(withBackends(text), "plb.toml");
  } catch (err) {
    expect(err).toBeInstanceOf(PlbError);
    expect((err as PlbError).code).toBe("CONFIG_INVALID");
    return (err as Error).message.split("\n");
  }
  throw new Error("expected the configuration to be rejected");
}

describe("what a tcp route becomes", () => {
  test("sni names lowercased (trailing dot dropped) in hosts, backend as the action", () => {
    const c = parseConfig(withBackends(`${TCP_SERVICE}[[service.route]]\nsni = "A.Example.COM."\nbackend = "a"\n[[service.route]]\nsni = ["b.example.com", "*.B.example.com"]\nbackend = "b"\n[[service.route]]\nsni = "pinned.example.net"\n`), "plb.toml");
    const routes = c.services[0].routes;
    expect(routes.map((r) => [r.hosts, r.action, r.line])).toEqual([
      [["a.example.com"], { kind: "backend", name: "a", line: 8 }, 6],
      [["b.example.com", "*.b.example.com"], { kind: "backend", name: "b", line: 11 }, 9],
      [["pinned.example.net"], { kind: "backend", name: undefined }, 12],
    ]);
    const table = buildRouteTable(routes);
    expect(table.match(facts("x.b.example.com", ""))?.index).toBe(1);
    expect(table.match(facts("example.com", ""))).toBeUndefined();
  });

  test("a tcp service may have routes and no servers of its own", () => {
    const c = parseConfig(withBackends(`${TCP_ROUTED}[[service.route]]\nsni = "a.example.com"\nbackend = "a"\n`), "plb.toml");
    expect(c.services[0].backend).toBeUndefined();
    expect(c.services[0].routes).toHaveLength(1);
    // the backend a tcp route names serves tcp
    expect(c.backends.find((b) => b.name === "a")).toBeDefined();
  });

  test("an earlier route covering a later one is a warning with both lines", () => {
    const c = parseConfig(withBackends(`${TCP_SERVICE}[[service.route]]\nsni = "*.example.com"\nbackend = "a"\n[[service.route]]\nsni = "www.example.com"\nbackend = "b"\n`), "plb.toml");
    expect(configWarnings(c)).toEqual(['plb.toml:9: service "edge": route at line 9 can never match: the route at line 6 matches every request it would (the first matching route wins)']);
  });
});

describe("mistakes, with their lines", () => {
  test("http-only keys in a tcp route name the key and its line", () => {
    expect(problems(`${TCP_SERVICE}[[service.route]]\nsni = "a.example.com"\npath = "/x"\nbackend = "a"\n`)).toEqual([
      'plb.toml:8: service "edge": route[0].path: path applies to http routes; a tcp route has sni and backend only (it sees a TLS ClientHello, not requests)',
    ]);
    expect(problems(`${TCP_SERVICE}[[service.route]]\nhost = "a.example.com"\nbackend = "a"\n`)).toEqual([
      'plb.toml:6: service "edge": route[0]: a tcp route needs sni = "name" or a list of names (a route for every client is the service\'s backend)',
      'plb.toml:7: service "edge": route[0].host: host applies to http routes; a tcp route has sni and backend only (it sees a TLS ClientHello, not requests)',
    ]);
    expect(problems(`${TCP_SERVICE}[[service.route]]\nsni = "a.example.com"\nrespond = { status = 200 }\n`)[0]).toBe(
      'plb.toml:8: service "edge": route[0].respond: respond applies to http routes; a tcp route has sni and backend only (it sees a TLS ClientHello, not requests)',
    );
    expect(problems(`${TCP_SERVICE}[[service.route]]\nsnii = "a.example.com"\nbackend = "a"\n`)).toContain('plb.toml:7: service "edge": route[0].snii: unknown key "snii" (did you mean "sni"?) (tcp route keys: sni, backend)');
  });

  test("bad sni values", () => {
    const one = (v: string) => problems(`${TCP_SERVICE}[[service.route]]\nsni = ${v}\nbackend = "a"\n`)[0];
    expect(one('"127.0.0.1"')).toContain("clients send names in SNI, never IP addresses");
    expect(one('"::1"')).toContain("never IP addresses");
    expect(one('"*"')).toContain('"*" matches every name: that is the service\'s backend');
    expect(one('"a.example.com:443"')).toContain("names are matched without the port");
    expect(one("[]")).toContain("must not be empty");
    expect(one("42")).toContain("must be a name or an array of names, got");
    expect(one('"a*.example.com"')).toContain('a wildcard is "*." in front of a domain');
    expect(one('"127.0.0.1"')).toStartWith('plb.toml:7: service "edge": route[0].sni: "127.0.0.1":');
  });

  test("a route without backend needs the service's own servers", () => {
    expect(problems(`${TCP_ROUTED}[[service.route]]\nsni = "a.example.com"\n`)).toEqual([
      'plb.toml:5: service "edge": route[0]: this route has no backend, and the service has no default backend to send it to: add backend = "…" to the route (or to the service)',
    ]);
  });

  test("sni on an http route is an error naming the key", () => {
    expect(problems(`${HTTP_SERVICE}[[service.route]]\nsni = "a.example.com"\nbackend = "a"\n`)).toEqual([
      "plb.toml:7: service \"edge\": route[0].sni: sni is a condition of tcp routes (TLS passthrough by name); an http route matches the request's host: write host = …",
    ]);
  });

  test("a tcp route naming an unknown backend", () => {
    expect(problems(`${TCP_SERVICE}[[service.route]]\nsni = "a.example.com"\nbackend = "nope"\n`.replace('backend = "nope"', 'backend = "nope!"'))).toEqual([
      'plb.toml:8: service "edge": route[0].backend: unknown backend "nope!" (backends: edge)',
    ]);
  });

  test("routes by name and tls on one tcp service are an error naming route", () => {
    const out = problems(`${TCP_SERVICE}tls = { cert = "c.pem", key = "k.pem" }\n[[service.route]]\nsni = "a.example.com"\nbackend = "a"\n`);
    expect(out).toContain('plb.toml:7: service "edge": a tcp service\'s routes pass TLS through by name and cannot be combined with tls (which terminates it): send the names plb should terminate to a service with tls instead (README: TLS passthrough by name)');
  });
});
