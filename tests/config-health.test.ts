/** The `health` key (src/config/health.ts): defaults, forms of expect, and precise errors with the line. */
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../src/config/index.ts";
import { PlbError } from "../src/errors.ts";

const svc = (protocol: string, health: string, extra = "") =>
  `[[service]]\nname = "api"\nprotocol = "${protocol}"\nlisten = ["127.0.0.1:8080"]\nservers = ["10.0.0.2:8080"]\n${extra}health = ${health}\n`;

function problems(text: string): string[] {
  try {
    parseConfig(text, "plb.toml");
  } catch (err) {
    expect(err).toBeInstanceOf(PlbError);
    return (err as PlbError).message.split("\n").filter((l) => l.includes("health"));
  }
  throw new Error("expected the configuration to be rejected");
}

describe("health: accepted", () => {
  test("the issue's example, as written", () => {
    const h = parseConfig(svc("http", `{ path = "/healthz", interval = "2s", timeout = "1s", rise = 2, fall = 3, expect = "2xx", host = "api.example.com" }`), "p").backends[0].health;
    expect(h).toEqual({ interval: 2000, timeout: 1000, rise: 2, fall: 3, http: { path: "/healthz", host: "api.example.com", expect: { classes: [2], codes: [], body: undefined }, reuse: true }, tcp: undefined });
  });

  test("defaults: 2 s, 1 s, rise 2, fall 3, GET / expecting 2xx or 3xx; health_path gives the path", () => {
    expect(parseConfig(svc("http", "{}"), "p").backends[0].health).toEqual({
      interval: 2000, timeout: 1000, rise: 2, fall: 3, http: { path: "/", host: undefined, expect: { classes: [2, 3], codes: [], body: undefined }, reuse: true }, tcp: undefined,
    });
    expect(parseConfig(svc("http", "{}", 'health_path = "/up"\n'), "p").backends[0].health?.http?.path).toBe("/up");
    // a short interval shortens the default timeout with it
    expect(parseConfig(svc("tcp", '{ interval = "300ms" }'), "p").backends[0].health?.timeout).toBe(300);
  });

  test("expect: a code, codes and classes, a body with or without a status", () => {
    const e = (v: string) => parseConfig(svc("http", `{ expect = ${v} }`), "p").backends[0].health?.http?.expect;
    expect(e("204")).toEqual({ classes: [], codes: [204], body: undefined });
    expect(e(`["2xx", 301, "3XX"]`)).toEqual({ classes: [2, 3], codes: [301], body: undefined });
    expect(e(`{ body = "ok" }`)).toEqual({ classes: [2, 3], codes: [], body: "ok" });
    expect(e(`{ status = 200, body = "ok" }`)).toEqual({ classes: [], codes: [200], body: "ok" });
  });

  test("reuse: on by default, off when written or when a body is looked for", () => {
    const r = (v: string) => parseConfig(svc("http", v), "p").backends[0].health?.http?.reuse;
    expect(r("{}")).toBe(true);
    expect(r("{ reuse = false }")).toBe(false);
    expect(r(`{ expect = { body = "ok" } }`)).toBe(false);
  });

  test("tcp: send and expect strings; smtp: nothing of its own", () => {
    expect(parseConfig(svc("tcp", `{ send = "PING\\r\\n", expect = "+PONG" }`), "p").backends[0].health?.tcp).toEqual({ send: "PING\r\n", expect: "+PONG" });
    const smtp = parseConfig(svc("smtp", `{ interval = 5, fall = 2 }`), "p").backends[0].health;
    expect(smtp).toEqual({ interval: 5000, timeout: 1000, rise: 2, fall: 2, http: undefined, tcp: undefined });
  });

  test("no health: undefined (today's probes of down servers)", () => {
    expect(parseConfig(`[[service]]\nname = "a"\nlisten = ["127.0.0.1:1"]\nservers = ["10.0.0.2:8080"]\n`, "p").backends[0].health).toBeUndefined();
  });
});

describe("health: rejected, with the key and line", () => {
  const cases: [string, string, string, string?][] = [
    ["http", `{ intervall = "2s" }`, 'plb.toml:6: service "api": health has unknown key "intervall" (did you mean "interval"?)'],
    ["http", `"2s"`, 'health must be a table { interval = "2s", rise = 2, fall = 3, … }, got string "2s"'],
    ["http", `{ interval = 0 }`, "health.interval must be greater than 0, got 0"],
    ["http", `{ interval = "soon" }`, "health.interval "],
    ["http", `{ interval = "1s", timeout = "2s" }`, "health.timeout (2s) must not be longer than health.interval (1s)"],
    ["http", `{ rise = 0 }`, "health.rise must be between 1 and 100, got 0"],
    ["http", `{ fall = 1.5 }`, "health.fall must be an integer, got"],
    ["http", `{ path = "healthz" }`, 'health.path must be a request path starting with "/"'],
    ["http", `{ host = "a b" }`, 'health.host must be a host name or IP address with an optional port'],
    ["http", `{ host = "api.example.com:99999" }`, "health.host must be a host name"],
    ["http", `{ expect = "OK" }`, 'health.expect: "OK" is not a status class ("2xx") or code; for a body substring write expect = { body = "OK" }'],
    ["http", `{ expect = 700 }`, 'health.expect must be a status class ("2xx"), a status code (100-599) or an array of them, got'],
    ["http", `{ expect = [] }`, "health.expect must not be empty"],
    ["http", `{ expect = { bodi = "ok" } }`, 'health.expect has unknown key "bodi" (did you mean "body"?)'],
    ["http", `{ send = "x" }`, 'health.send applies to protocol "tcp" only (this service is "http")'],
    ["http", `{ path = "/a" }`, "health.path and health_path are both set", 'health_path = "/b"\n'],
    ["http", `{ reuse = "yes" }`, 'health.reuse must be true or false, got string "yes"'],
    ["http", `{ reuse = true, expect = { body = "ok" } }`, "health.reuse = true cannot be combined with expect.body"],
    ["tcp", `{ reuse = false }`, 'health.reuse applies to protocol "http" only (this service is "tcp")'],
    ["tcp", `{ path = "/" }`, 'health.path applies to protocol "http" only (this service is "tcp")'],
    ["tcp", `{ expect = 200 }`, "health.expect must be a non-empty string, got"],
    ["smtp", `{ expect = "220" }`, 'health.expect applies to protocol "http" or "tcp" only (this service is "smtp": its checks read the greeting, say EHLO and QUIT)'],
  ];
  for (const [protocol, health, message, extra] of cases) {
    test(`${protocol} ${health}`, () => {
      const lines = problems(svc(protocol, health, extra));
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.some((l) => l.includes(message))).toBe(true);
      expect(lines[0]).toMatch(/^plb\.toml:\d+: service "api": /);
    });
  }
});

describe("health.grpc (the standard gRPC health check of h2 backends)", () => {
  const svc = (health: string, extra = 'server_protocol = "h2"') =>
    `[[service]]\nname = "g"\nprotocol = "http"\nlisten = ["127.0.0.1:8080"]\nservers = ["10.0.0.2:50051"]\n${extra}\nhealth = ${health}\n`;
  const errors = (text: string): string => {
    try {
      parseConfig(text, "p");
      return "";
    } catch (err) {
      return (err as Error).message;
    }
  };
  test("grpc = true with an optional service; the default service is the whole server", () => {
    expect(parseConfig(svc("{ grpc = true }"), "p").backends[0].health?.grpc).toEqual({ service: "" });
    expect(parseConfig(svc('{ grpc = true, service = "test.Echo", interval = "1s" }'), "p").backends[0].health).toMatchObject({ grpc: { service: "test.Echo" }, interval: 1000 });
  });
  test("it needs server_protocol = \"h2\", takes no http sub-key, and service needs grpc", () => {
    expect(errors(svc("{ grpc = true }", ""))).toContain('health.grpc = true needs server_protocol = "h2"');
    expect(errors(svc('{ grpc = true, path = "/x" }'))).toContain("health.path does not apply to health.grpc = true");
    expect(errors(svc('{ service = "x" }'))).toContain("health.service names the gRPC service to check: it needs health.grpc = true");
    expect(errors(svc('{ grpc = "yes" }'))).toContain("health.grpc must be true or false");
  });
});
