/** [[backend]] tables, services that name them, and services with their own servers. */
import { describe, expect, test } from "bun:test";
import { configWarnings, parseConfig } from "../src/config/load.ts";
import { PlbError } from "../src/errors.ts";

function problems(text: string): string[] {
  try {
    parseConfig(text, "plb.toml");
  } catch (err) {
    if (err instanceof PlbError) return err.message.split("\n");
    throw err;
  }
  return [];
}

const SHARED = `[[backend]]
name = "app"
servers = ["10.0.0.2:80", "10.0.0.3:80"]
timeout_connect = "1s"

[[service]]
name = "v4"
listen = ["127.0.0.1:8080"]
backend = "app"

[[service]]
name = "v6"
listen = ["[::1]:8080"]
backend = "app"
`;

describe("backends", () => {
  test("two services name one backend: it is one backend, with its own settings", () => {
    const c = parseConfig(SHARED, "p");
    expect(c.services.map((s) => [s.name, s.backend])).toEqual([["v4", "app"], ["v6", "app"]]);
    expect(c.backends).toHaveLength(1);
    expect(c.backends[0]).toMatchObject({ name: "app", declared: true, protocol: "tcp", timeout_connect: 1000, server_retry: 3 });
    expect(c.backends[0].servers.map((s) => s.address)).toEqual(["10.0.0.2:80", "10.0.0.3:80"]);
  });

  test("a service's own servers are a backend named after it, beside declared ones", () => {
    const c = parseConfig(`${SHARED}\n[[service]]\nname = "own"\nlisten = ["127.0.0.1:8081"]\nservers = ["10.0.0.9:80"]\nserver_retry = 2\n`, "p");
    expect(c.backends.map((b) => [b.name, b.declared, b.server_retry])).toEqual([["app", true, 3], ["own", false, 2]]);
    expect(c.services[2].backend).toBe("own");
  });

  test("a backend takes the protocol of the services using it; its protocol-specific keys are checked against it", () => {
    const c = parseConfig(`[[backend]]\nname = "web"\nservers = ["10.0.0.2:80"]\nfail_on_5xx = true\n\n[[service]]\nname = "a"\nprotocol = "http"\nlisten = ["127.0.0.1:1"]\nbackend = "web"\n`, "p");
    expect(c.backends[0]).toMatchObject({ protocol: "http", http: { fail_on_5xx: true } });
    expect(problems(`[[backend]]\nname = "web"\nservers = ["10.0.0.2:80"]\nfail_on_5xx = true\n\n[[service]]\nname = "a"\nlisten = ["127.0.0.1:1"]\nbackend = "web"\n`)).toEqual([
      'plb.toml:4: backend "web": "fail_on_5xx" applies to protocol "http" only (it is used by tcp services)',
    ]);
  });

  test("services of different protocols cannot share a backend", () => {
    expect(problems(`${SHARED}protocol = "smtp"\n`)).toEqual(['plb.toml:2: backend "app": used by services of different protocols: "v4" (tcp), "v6" (smtp); a backend serves one protocol']);
  });

  test("an unknown backend is named, with a suggestion", () => {
    expect(problems(SHARED.replace('backend = "app"\n\n[[service]]', 'backend = "apq"\n\n[[service]]'))).toEqual(['plb.toml:9: service "v4": backend "apq" is not defined (did you mean "app"?)']);
    expect(problems(`[[service]]\nname = "a"\nlisten = ["127.0.0.1:1"]\nbackend = "x"\n`)).toEqual(['plb.toml:4: service "a": backend "x" is not defined (no [[backend]] table is defined)']);
  });

  test("servers and backend together, or neither, are refused", () => {
    expect(problems(`${SHARED}servers = ["10.0.0.4:1"]\n`)).toEqual(['plb.toml:14: service "v6": give either backend = "NAME" (a [[backend]] table) or this service\'s own servers = [...], not both']);
    expect(problems(`[[service]]\nname = "a"\nlisten = ["127.0.0.1:1"]\n`)).toEqual([
      'plb.toml:1: service "a": missing required key "servers" (the servers to relay to), or backend = "NAME" naming a [[backend]] table',
    ]);
  });

  test("a key of the servers in a service that names its backend says where it belongs", () => {
    expect(problems(`${SHARED}timeout_connect = "3s"\n`)).toEqual([
      'plb.toml:15: service "v6": "timeout_connect" belongs to the servers: set it in the [[backend]] table of backend "app" (or list this service\'s own servers = [...] instead of backend = …)',
    ]);
  });

  test("a listener key in a [[backend]], an unknown key, a missing name or servers", () => {
    expect(problems(`[[backend]]\nname = "b"\nservers = ["h:1"]\nlisten = ["127.0.0.1:1"]\ntimeout_conect = 1\n${SHARED.slice(SHARED.indexOf("[[service]]"))}`.replace(/"app"/g, '"b"'))).toEqual([
      'plb.toml:4: backend "b": "listen" is a service setting (the listener side): put it in the [[service]] that uses this backend',
      'plb.toml:5: backend "b": unknown key "timeout_conect" (did you mean "timeout_connect"?)',
    ]);
    expect(problems(`[[backend]]\nservers = ["h:1"]\n\n[[service]]\nname = "s"\nlisten = ["127.0.0.1:1"]\nservers = ["h:2"]\n`)).toEqual([
      'plb.toml:1: backend[0]: missing required key "name": services name the backend they use with backend = "NAME"',
    ]);
    expect(problems(`[[backend]]\nname = "b"\n\n[[service]]\nname = "s"\nlisten = ["127.0.0.1:1"]\nbackend = "b"\n`)).toEqual([
      'plb.toml:1: backend "b": missing required key "servers": the servers this backend sends clients to',
    ]);
  });

  test("duplicate backend names, and own servers named like a [[backend]]", () => {
    expect(problems(`[[backend]]\nname = "app"\nservers = ["h:9"]\n${SHARED}`)).toEqual(['plb.toml:5: backend "app": duplicate backend name "app" (also used at line 2)']);
    expect(problems(`${SHARED}\n[[service]]\nname = "app"\nlisten = ["127.0.0.1:2"]\nservers = ["h:1"]\n`)).toEqual([
      'plb.toml:19: service "app": this service\'s own servers make a backend named "app", like the [[backend]] at line 2: rename one of them, or write backend = "app" instead of servers',
    ]);
  });

  test("a [[backend]] no service uses loads, with a warning naming its line", () => {
    const c = parseConfig(`[[backend]]\nname = "spare"\nservers = ["h:1"]\n\n${SHARED}`, "plb.toml");
    expect(c.backends.map((b) => b.name)).toEqual(["app"]);
    expect(configWarnings(c)).toEqual(['plb.toml:1: backend "spare": no service uses it: its servers are neither checked nor used']);
    expect(configWarnings(parseConfig(SHARED, "p"))).toEqual([]);
  });

  test("[backend] (a single table) is refused with the right form", () => {
    expect(problems(`[backend]\nname = "a"\n\n[[service]]\nname = "s"\nlisten = ["127.0.0.1:1"]\nservers = ["h:1"]\n`)).toEqual([
      "plb.toml:1: backend must be an array of tables (write [[backend]], not [backend]), got a single table",
    ]);
  });
});

describe("server_protocol (HTTP/2 to servers)", () => {
  const svc = (extra: string) => `[[service]]\nname = "g"\nprotocol = "http"\nlisten = ["127.0.0.1:8080"]\nservers = ["10.0.0.2:50051"]\n${extra}\n`;
  test('defaults to "http/1.1" with 4 connections per server; "h2" and h2_max_connections are read', () => {
    expect(parseConfig(svc(""), "p").backends[0].http).toMatchObject({ server_protocol: "http/1.1", h2_max_connections: 4 });
    expect(parseConfig(svc('server_protocol = "h2"\nh2_max_connections = 2'), "p").backends[0].http).toMatchObject({ server_protocol: "h2", h2_max_connections: 2 });
  });
  test("a wrong value names the key and the line; a PROXY header cannot ride an h2 connection; tcp services refuse it", () => {
    expect(problems(svc('server_protocol = "h3"')).join("\n")).toContain('plb.toml:6: service "g": server_protocol must be one of "http/1.1", "h2"');
    expect(problems(svc("h2_max_connections = 0")).join("\n")).toContain("h2_max_connections");
    expect(problems(svc('server_protocol = "h2"\nclient_address = "proxy-v2"')).join("\n")).toContain('cannot be combined with server_protocol = "h2"');
    expect(problems(`[[service]]\nname = "t"\nlisten = ["127.0.0.1:8080"]\nservers = ["10.0.0.2:1"]\nserver_protocol = "h2"\n`).join("\n")).toMatch(/"server_protocol" applies to protocol "http" only/);
  });
});
