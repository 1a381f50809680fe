import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { algorithms } from "../src/balance/index.ts";
import { configLine, loadConfig, parseConfig } from "../src/config/index.ts";
import type { Diagnostic } from "../src/config/diagnostics.ts";
import { PlbError } from "../src/errors.ts";

const SERVICE = `[[service]]\nname = "web"\nlisten = ["127.0.0.1:8080"]\nservers = ["10.0.0.2:80"]\n`;

function failure(text: string): PlbError {
  try {
    parseConfig(text, "plb.toml");
  } catch (err) {
    expect(err).toBeInstanceOf(PlbError);
    return err as PlbError;
  }
  throw new Error("expected the configuration to be rejected");
}

/** The problem lines of a CONFIG_INVALID error. */
function problems(text: string): string[] {
  const err = failure(text);
  expect(err.code).toBe("CONFIG_INVALID");
  return err.message.split("\n");
}

describe("defaults and overrides", () => {
  test("a minimal service gets every default", () => {
    const c = parseConfig(SERVICE, "plb.toml");
    expect(c.file).toBe("plb.toml");
    expect(c.global).toEqual({
      loglevel: "info",
      server_retry: 3,
      timeout_connect: 2000,
      timeout_client: 60_000,
      timeout_server: 60_000,
      timeout_cleanup: 10_000,
      slowstart: 0,
      timeout_shutdown: 10_000,
      shutdown_delay: 0,
      workers: 1,
      backlog: 511,
      maxconn: 0,
      dns_min_ttl: 1000,
      dns_max_ttl: 300_000,
    });
    expect(c.global.user).toBeUndefined();
    expect(c.services).toEqual([
      {
        access_log: undefined,
        http: {
          forwarded: false,
          forwarded_for: "append",
          error_pages: undefined,
          max_body: 0,
          max_header_size: 16384,
          max_headers: 100,
          max_request_line: 8192,
          http2: true,
          h2c: false,
          h2_max_concurrent_streams: 100,
          h2_initial_window_size: 65535,
          h2_max_frame_size: 16384,
          timeout_http_request: 10000,
          min_body_rate: 500,
          request_id: false,
        },
        smtp: { starttls: undefined, require_tls: false },
        name: "web",
        protocol: "tcp",
        listen: [{ host: "127.0.0.1", port: 8080, text: "127.0.0.1:8080" }],
        tls: undefined,
        backend: "web",
        routes: [],
        accept_proxy: false,
        proxy_from: [],
        timeout_proxy_header: 3000,
        timeout_client: 60_000,
        maxconn: 0,
      },
    ]);
    // Its own servers make a backend named after it.
    expect(c.backends).toEqual([
      {
        name: "web",
        declared: false,
        protocol: "tcp",
        client_address: "none",
        smtp: { timeout_smtp_greeting: 10_000 },
        http: { fail_on_5xx: false, hash_header: undefined, health_path: undefined, pool_max_idle: 256, timeout_pool_idle: 1500, server_protocol: "http/1.1", h2_max_connections: 4 },
        servers: [{ address: "10.0.0.2:80", host: "10.0.0.2", port: 80, weight: 1, backup: false }],
        discover: [],
        balance: "roundrobin",
        server_retry: 3,
        timeout_connect: 2000,
        timeout_server: 60_000,
        timeout_cleanup: 10_000,
        slowstart: 0,
        health: undefined,
      },
    ]);
  });

  test("global values are set, inherited, and overridden per service", () => {
    const c = parseConfig(
      `user = "nobody"\ngroup = "nogroup"\nchroot_dir = "/var/empty"\npidfile = "/run/plb.pid"\nlogfile = "-"\n` +
        `loglevel = "debug"\nserver_retry = 5\ntimeout_connect = 0.5\ntimeout_client = "2m"\ntimeout_server = 30\n` +
        `timeout_cleanup = "1h"\ntimeout_shutdown = 0\nbacklog = 1024\n` +
        SERVICE +
        `server_retry = 1\ntimeout_connect = "250ms"\ntimeout_client = 1\ntimeout_server = "1d"\ntimeout_cleanup = 2\n` +
        `[[service]]\nname = "other"\nprotocol = "tcp"\nlisten = ["127.0.0.1:8081"]\nservers = ["10.0.0.3:80"]\n`,
      "x.toml",
    );
    expect(c.global).toMatchObject({
      user: "nobody", group: "nogroup", chroot_dir: "/var/empty", pidfile: "/run/plb.pid", logfile: "-",
      loglevel: "debug", server_retry: 5, timeout_connect: 500, timeout_client: 120_000, timeout_server: 30_000,
      timeout_cleanup: 3_600_000, timeout_shutdown: 0, backlog: 1024,
    });
    expect(c.services[0]).toMatchObject({ timeout_client: 1000 });
    expect(c.backends[0]).toMatchObject({ server_retry: 1, timeout_connect: 250, timeout_server: 86_400_000, timeout_cleanup: 2000 });
    expect(c.services[1]).toMatchObject({ timeout_client: 120_000 });
    expect(c.backends[1]).toMatchObject({ server_retry: 5, timeout_connect: 500, timeout_server: 30_000, timeout_cleanup: 3_600_000 });
  });

  test("slowstart: a duration, 0 (off) by default, set globally and overridden per service", () => {
    expect(parseConfig(SERVICE, "p").backends[0].slowstart).toBe(0);
    const c = parseConfig(`slowstart = "30s"
${SERVICE}[[service]]
name = "other"
listen = ["127.0.0.1:8081"]
servers = ["10.0.0.3:80"]
slowstart = 0.5
`, "p");
    expect([c.global.slowstart, c.backends[0].slowstart, c.backends[1].slowstart]).toEqual([30_000, 30_000, 500]);
    expect(parseConfig(`${SERVICE}slowstart = "0s"
`, "p").backends[0].slowstart).toBe(0);
  });

  test.each([
    [0, "error"], [1, "warn"], [2, "info"], [3, "info"], [4, "debug"], ['"warning"', "warn"], ['"ERROR"', "error"], ['"3"', "info"],
  ])("loglevel = %p → %p", (written, level) => {
    expect(parseConfig(`loglevel = ${written}\n${SERVICE}`, "p").global.loglevel).toBe(level as never);
  });

  test("servers: strings and inline tables with weight and backup; IPv6 and host names", () => {
    const c = parseConfig(
      `[[service]]\nname = "a.b-c_1"\nlisten = ["*:8080", "[::1]:9090"]\nservers = [\n  "[::1]:80",\n  { address = "db.example:5432", weight = 256 },\n  { address = "10.0.0.9:1", backup = true, weight = 2 },\n]\n`,
      "p",
    );
    const s = c.services[0];
    expect(s.listen.map((l) => [l.host, l.port])).toEqual([["::", 8080], ["::1", 9090]]);
    expect(c.backends[0].servers).toEqual([
      { address: "[::1]:80", host: "::1", port: 80, weight: 1, backup: false },
      { address: "db.example:5432", host: "db.example", port: 5432, weight: 256, backup: false },
      { address: "10.0.0.9:1", host: "10.0.0.9", port: 1, weight: 2, backup: true },
    ]);
  });

  test("services may also be written as an inline array and [[service.servers]] tables", () => {
    const inline = parseConfig(`service = [{ name = "a", listen = ["127.0.0.1:1"], servers = ["h:1"] }]\n`, "p");
    expect(inline.services[0].name).toBe("a");
    const tables = parseConfig(`[[service]]\nname = "a"\nlisten = ["127.0.0.1:1"]\n[[service.servers]]\naddress = "h:1"\n[[service.servers]]\naddress = "h:2"\nweight = 3\n`, "p");
    expect(tables.backends[0].servers.map((s) => [s.port, s.weight])).toEqual([[1, 1], [2, 3]]);
  });

  test("a registered algorithm name is accepted", () => {
    // The registry may be empty while other modules are written; then there is nothing to accept.
    for (const a of algorithms) {
      // Per-request hashing algorithms need an http service (and header its hash_header).
      const extra = a.hashes === undefined ? "" : `protocol = "http"\n${a.hashes === "header" ? 'hash_header = "X-Tenant"\n' : ""}`;
      expect(parseConfig(`${SERVICE}${extra}balance = ${JSON.stringify(a.name)}\n`, "p").backends[0].balance).toBe(a.name);
    }
    expect(algorithms.every((a) => typeof a.name === "string")).toBe(true);
  });

  test("the result is deeply frozen", () => {
    const c = parseConfig(`${SERVICE}servers = ["10.0.0.2:80", { address = "h:1" }]\n`.replace(`servers = ["10.0.0.2:80"]\n`, ""), "p");
    for (const o of [c, c.global, c.services, c.services[0], c.services[0].listen, c.services[0].listen[0], c.backends[0].servers, c.backends[0].servers[1]]) {
      expect(Object.isFrozen(o)).toBe(true);
    }
    expect(() => {
      (c.global as { backlog: number }).backlog = 1;
    }).toThrow();
    expect(() => (c.services as unknown as unknown[]).push(1)).toThrow();
    expect(c.global.backlog).toBe(511);
  });
});

describe("syntax errors", () => {
  test("report file:line:col (1-based) with the parser's reason and an excerpt", () => {
    const err = failure(`backlog = 1\ntimeout_client = \n`);
    expect(err.code).toBe("CONFIG_SYNTAX");
    expect(err.message).toStartWith("plb.toml:2:18: Unexpected character");
    expect(err.message).toContain("2> timeout_client = ");
    expect(err.message).not.toContain("at row");
  });

  test("duplicate keys and unterminated headers are syntax errors", () => {
    expect(failure(`backlog = 1\nbacklog = 2\n`).message).toStartWith("plb.toml:2:");
    expect(failure(`backlog = 1\nbacklog = 2\n`).message).toContain("Can't redefine existing key");
    const err = failure(`${SERVICE}[[service]\n`);
    expect(err.code).toBe("CONFIG_SYNTAX");
    expect(err.message).toStartWith("plb.toml:5:");
  });
});

describe("validation errors: message and line", () => {
  test.each([
    [`sever_retry = 3\n${SERVICE}`, 'plb.toml:1: unknown key "sever_retry" (did you mean "server_retry"?)'],
    [`\n\nserver_retry = "three"\n${SERVICE}`, 'plb.toml:3: server_retry must be an integer, got string "three"'],
    [`server_retry = 2.5\n${SERVICE}`, "plb.toml:1: server_retry must be an integer, got float 2.5"],
    [`server_retry = 0\n${SERVICE}`, "plb.toml:1: server_retry must be between 1 and 1000, got 0"],
    [`server_retry = 1001\n${SERVICE}`, "plb.toml:1: server_retry must be between 1 and 1000, got 1001"],
    [`backlog = 65536\n${SERVICE}`, "plb.toml:1: backlog must be between 1 and 65535, got 65536"],
    [`backlog = 99999999999999999999\n${SERVICE}`, "plb.toml:1: backlog must be between 1 and 65535, got an integer too large to represent"],
    [`timeout_connect = "2 minutes"\n${SERVICE}`, 'plb.toml:1: timeout_connect must be a duration (seconds like 2 or 0.5, or a string like "500ms", "2s", "1m", "1h"), got string "2 minutes"'],
    [`timeout_client = -1\n${SERVICE}`, "plb.toml:1: timeout_client must not be negative, got -1"],
    [`timeout_cleanup = 0\n${SERVICE}`, "plb.toml:1: timeout_cleanup must be greater than 0, got 0"],
    [`timeout_server = "30d"\n${SERVICE}`, 'plb.toml:1: timeout_server must be at most 24d, got "30d"'],
    [`\nslowstart = "-30s"\n${SERVICE}`, 'plb.toml:2: slowstart must not be negative, got "-30s"'],
    [`loglevel = "loud"\n${SERVICE}`, 'plb.toml:1: loglevel must be one of error, warn, info, debug (or 0-4), got string "loud"'],
    [`loglevel = 5\n${SERVICE}`, "plb.toml:1: loglevel must be one of error, warn, info, debug (or 0-4), got integer 5"],
    [`user = ""\n${SERVICE}`, "plb.toml:1: user must not be empty"],
    [`pidfile = 3\n${SERVICE}`, "plb.toml:1: pidfile must be a string, got integer 3"],
    [`chroot_dir = "var/empty"\n${SERVICE}`, 'plb.toml:1: chroot_dir must be an absolute path, got "var/empty"'],
    [`name = "x"\n${SERVICE}`, 'plb.toml:1: "name" is not a global setting: put it inside a [[service]] table'],
    [`servers = ["h:1"]\n${SERVICE}`, 'plb.toml:1: "servers" is not a global setting: put it inside a [[backend]] table (or a [[service]] with its own servers)'],
    [`[global]\nbacklog = 1\n${SERVICE}`, "plb.toml:1: unknown table [global] (global keys go at the top of the file, before the first [[service]])"],
    [`[[services]]\nname = "x"\n`, 'plb.toml:1: unknown table [[services]] (did you mean "service"?)'],
    ["", "plb.toml: no services defined: add at least one [[service]] table"],
    [`service = []\n`, "plb.toml:1: no services defined"],
    [`[service]\nname = "x"\n`, "plb.toml:1: service must be an array of tables (write [[service]], not [service]), got a single table"],
    [`service = ["web"]\n`, 'plb.toml:1: service[0] must be a table, got string "web"'],
  ])("global level: %#", (text, line) => {
    expect(problems(text)).toEqual(expect.arrayContaining([expect.stringContaining(line)]));
  });

  test.each([
    [`client_address = "xclient"`, 'plb.toml:5: service "web": client_address = "xclient" needs protocol = "smtp" (use "proxy-v1" or "proxy-v2" for "tcp")'],
    [`timeout_smtp_greeting = "5s"`, 'plb.toml:5: service "web": "timeout_smtp_greeting" applies to protocol "smtp" only (this service is "tcp")'],
    [`forwarded_for = "append"`, 'plb.toml:5: service "web": "forwarded_for" applies to protocol "http" only (this service is "tcp")'],
    [`protocol = "http"\nforwarded_for = "sometimes"`, 'plb.toml:6: service "web": forwarded_for must be one of "append", "replace", "off", got string "sometimes"'],
    [`protocol = "udp"`, 'plb.toml:5: service "web": unknown protocol "udp" (valid: tcp, http, smtp)'],
    [`protocol = "tpc"`, 'plb.toml:5: service "web": unknown protocol "tpc" (did you mean "tcp"?) (valid: tcp, http, smtp)'],
    [`sever_retry = 2`, 'plb.toml:5: service "web": unknown key "sever_retry" (did you mean "server_retry"?)'],
    [`timeout-client = 2`, 'plb.toml:5: service "web": unknown key "timeout-client" (did you mean "timeout_client"?)'],
    [`backlog = 10`, 'plb.toml:5: service "web": "backlog" is a global setting and cannot be set per service (move it above the first [[service]])'],
    [`server_retry = "three"`, 'plb.toml:5: service "web": server_retry must be an integer, got string "three"'],
    [`timeout_connect = "fast"`, 'plb.toml:5: service "web": timeout_connect must be a duration'],
    [`timeout_cleanup = "0s"`, 'plb.toml:5: service "web": timeout_cleanup must be greater than 0, got "0s"'],
    [`slowstart = "slowly"`, 'plb.toml:5: service "web": slowstart must be a duration'],
    [`slowstart = true`, 'plb.toml:5: service "web": slowstart must be a duration'],
    [`balance = 3`, 'plb.toml:5: service "web": balance must be a string, got integer 3'],
    [`balance = "uri"`, 'plb.toml:5: service "web": balance "uri" needs protocol = "http" (this service is "tcp")'],
    [`balance = "header"`, 'plb.toml:5: service "web": balance "header" needs protocol = "http" (this service is "tcp")'],
    [`protocol = "http"\nbalance = "header"`, 'plb.toml:6: service "web": balance "header" needs hash_header, the header whose value is hashed (e.g. hash_header = "X-Tenant")'],
    [`hash_header = "X-Tenant"`, 'plb.toml:5: service "web": "hash_header" applies to protocol "http" only (this service is "tcp")'],
    [`protocol = "http"\nhash_header = "X Tenant"`, 'plb.toml:6: service "web": hash_header must be a header field name (letters, digits and !#$%&\'*+-.^_`|~), got "X Tenant"'],
    [`protocol = "http"\nhash_header = "X-Tenant:"`, 'plb.toml:6: service "web": hash_header must be a header field name'],
    [`protocol = "http"\nhash_header = ""`, 'plb.toml:6: service "web": hash_header must not be empty'],
  ])("service level: %p", (extra, line) => {
    expect(problems(`${SERVICE}${extra}\n`)).toEqual([expect.stringContaining(line)]);
  });

  test("uri and header on an http service; hash_header is kept as written", () => {
    const http = `${SERVICE}protocol = "http"\n`;
    expect(parseConfig(`${http}balance = "uri"\n`, "p").backends[0]).toMatchObject({ balance: "uri", http: { hash_header: undefined } });
    const c = parseConfig(`${http}balance = "header"\nhash_header = "X-Tenant"\n`, "p");
    expect(c.backends[0]).toMatchObject({ balance: "header", http: { hash_header: "X-Tenant" } });
    // hash_header without balance = "header" is accepted (unused), like the other http keys.
    expect(parseConfig(`${http}hash_header = "X-Tenant"\n`, "p").backends[0].http.hash_header).toBe("X-Tenant");
  });

  test("an invalid hash_header is reported once, not also as missing", () => {
    expect(problems(`${SERVICE}protocol = "http"\nbalance = "header"\nhash_header = ""\n`)).toEqual([
      expect.stringContaining('plb.toml:7: service "web": hash_header must not be empty'),
    ]);
  });

  test("an unknown balance name lists the registered algorithms", () => {
    const [line] = problems(`${SERVICE}balance = "no-such-algorithm"\n`);
    expect(line).toStartWith('plb.toml:5: service "web": balance "no-such-algorithm" is not a known algorithm');
    const names = algorithms.map((a) => a.name);
    if (names.length > 0) expect(line).toEndWith(`(valid: ${names.join(", ")})`);
    else expect(line).toEndWith("(no algorithms are registered)");
  });

  test("missing required keys point at the [[service]] header", () => {
    const lines = problems(`backlog = 5\n\n[[service]]\nprotocol = "tcp"\n`);
    expect(lines).toEqual([
      'plb.toml:3: service[0]: missing required key "name"',
      'plb.toml:3: service[0]: missing required key "listen"',
      'plb.toml:3: service[0]: missing required key "servers" (the servers to relay to), or backend = "NAME" naming a [[backend]] table',
    ]);
  });

  test("service names: characters and uniqueness", () => {
    expect(problems(`[[service]]\nname = "my web"\nlisten = ["127.0.0.1:1"]\nservers = ["h:1"]\n`)).toEqual([
      'plb.toml:2: service "my web": name may only contain letters, digits, "_", "." and "-", got "my web"',
    ]);
    const twice = `${SERVICE}[[service]]\n\nname = "web"\nlisten = ["127.0.0.1:8081"]\nservers = ["h:1"]\n`;
    expect(problems(twice)).toEqual(['plb.toml:7: service "web": duplicate service name "web" (also used at line 2)']);
  });

  test("listen: shape, parse errors and element lines", () => {
    const text = `[[service]]\nname = "web"\nservers = ["h:1"]\nlisten = [\n  "127.0.0.1:8080",\n  # a comment, with "quotes", [brackets]\n  "::1:8080",\n  "[::1]:99999",\n  7,\n]\n`;
    expect(problems(text)).toEqual([
      'plb.toml:7: service "web": listen[1]: IPv6 addresses need brackets: write "[::1]:8080", not "::1:8080"',
      'plb.toml:8: service "web": listen[2]: port 99999 is out of range (0-65535)',
      'plb.toml:9: service "web": listen[3] must be a string, got integer 7',
    ]);
    expect(problems(SERVICE.replace('["127.0.0.1:8080"]', '"127.0.0.1:8080"'))).toEqual([
      'plb.toml:3: service "web": listen must be an array of strings, got string "127.0.0.1:8080" (write listen = ["127.0.0.1:8080"])',
    ]);
    expect(problems(SERVICE.replace('["127.0.0.1:8080"]', "[]"))).toEqual([
      'plb.toml:3: service "web": listen must not be empty: give at least one address to accept clients on',
    ]);
    expect(problems(SERVICE.replace("127.0.0.1:8080", "example.com:8080"))[0]).toContain(
      'listen[0]: listen host "example.com" must be an IP address, "*" or "localhost"',
    );
  });

  test("listen overlaps, across services and within one", () => {
    const text =
      `[[service]]\nname = "a"\nlisten = ["127.0.0.1:80", "[::1]:80"]\nservers = ["h:1"]\n` +
      `[[service]]\nname = "b"\nlisten = ["*:80"]\nservers = ["h:1"]\n` +
      `[[service]]\nname = "c"\nlisten = ["0.0.0.0:81", "127.0.0.1:81", "[::1]:81", "127.0.0.1:82"]\nservers = ["h:1"]\n`;
    expect(problems(text)).toEqual([
      'plb.toml:7: service "b": listen[0]: *:80 overlaps with service "a" listen[0] (127.0.0.1:80)',
      `plb.toml:11: service "c": listen[1]: 127.0.0.1:81 overlaps with this service's listen[0] (0.0.0.0:81)`,
    ]);
    expect(problems(`${SERVICE}[[service]]\nname = "b"\nlisten = ["[::]:8080"]\nservers = ["h:1"]\n`)).toEqual([
      'plb.toml:7: service "b": listen[0]: [::]:8080 overlaps with service "web" listen[0] (127.0.0.1:8080)',
    ]);
  });

  test("servers: element errors are reported on the element's own line", () => {
    const text =
      `[[service]]\nname = "web"\nlisten = ["127.0.0.1:8080"]\nservers = [\n` +
      `  "10.0.0.1:80",\n` + // 5
      `  "10.0.0.2:99999",\n` + // 6
      `  { address = "10.0.0.3:80", wieght = 2 },\n` + // 7
      `  { address = "10.0.0.4:80", weight = 0 },\n` + // 8
      `  { weight = 2 },\n` + // 9
      `  { address = "10.0.0.1:80" },\n` + // 10
      `  { address = "h:1", backup = "yes" },\n` + // 11
      `  { address = 5 }, 42,\n` + // 12
      `]\n`;
    expect(problems(text)).toEqual([
      'plb.toml:6: service "web": servers[1]: port 99999 is out of range (1-65535)',
      'plb.toml:7: service "web": servers[2]: unknown key "wieght" (did you mean "weight"?)',
      'plb.toml:8: service "web": servers[3]: weight must be between 1 and 256, got 0 (0 is not allowed: to stop sending connections to a server, remove it or mark it backup = true)',
      'plb.toml:9: service "web": servers[4]: missing required key "address" (or "dns" / "srv" for servers from DNS)',
      'plb.toml:10: service "web": servers[5]: duplicate of servers[0] (10.0.0.1:80): list a server once and raise its weight instead',
      'plb.toml:11: service "web": servers[6]: backup must be true or false, got string "yes"',
      'plb.toml:12: service "web": servers[7]: address must be a string, got integer 5',
      'plb.toml:12: service "web": servers[8]: must be a "host:port" string or a table { address = "host:port", weight = 1 } (or { dns = "name:port" }, { srv = "_service._proto.name" }), got integer 42',
    ]);
  });

  test("servers: shape, emptiness and backups", () => {
    expect(problems(SERVICE.replace('["10.0.0.2:80"]', "[]"))).toEqual([
      'plb.toml:4: service "web": servers must not be empty: give at least one server to relay to',
    ]);
    expect(problems(SERVICE.replace('["10.0.0.2:80"]', '"10.0.0.2:80"'))).toEqual([
      'plb.toml:4: service "web": servers must be an array, got string "10.0.0.2:80" (write servers = ["10.0.0.2:80"])',
    ]);
    expect(problems(SERVICE.replace('["10.0.0.2:80"]', '[{ address = "h:1", backup = true }]'))).toEqual([
      'plb.toml:4: service "web": servers: every server is a backup; at least one must have backup = false',
    ]);
    expect(problems(SERVICE.replace("10.0.0.2:80", "10.0.0.2:0"))).toEqual([
      'plb.toml:4: service "web": servers[0]: port 0 is out of range (1-65535)',
    ]);
  });

  test("a service without a usable name is labelled by its index", () => {
    expect(problems(`${SERVICE}[[service]]\nname = 7\nlisten = ["127.0.0.1:9"]\nservers = ["h:1"]\n`)).toEqual([
      "plb.toml:6: service[1]: name must be a string, got integer 7",
    ]);
  });
});

describe("several problems at once", () => {
  test("every problem is reported, sorted by line, one per line", () => {
    const text =
      `sever_retry = 3\n` + // 1
      `timeout_connect = "abc"\n` + // 2
      `[[service]]\n` + // 3
      `name = "web"\n` + // 4
      `protocol = "udp"\n` + // 5
      `listen = ["127.0.0.1:8080"]\n` + // 6
      `servers = ["10.0.0.2:99999", "nonsense"]\n` + // 7
      `[[service]]\n` + // 8
      `name = "web"\n` + // 9
      `listen = ["127.0.0.1:8080"]\n` + // 10
      `servers = ["10.0.0.3:80"]\n`; // 11
    const err = failure(text);
    expect(err.code).toBe("CONFIG_INVALID");
    expect(err.message.split("\n")).toEqual([
      'plb.toml:1: unknown key "sever_retry" (did you mean "server_retry"?)',
      'plb.toml:2: timeout_connect must be a duration (seconds like 2 or 0.5, or a string like "500ms", "2s", "1m", "1h"), got string "abc"',
      'plb.toml:5: service "web": unknown protocol "udp" (valid: tcp, http, smtp)',
      'plb.toml:7: service "web": servers[0]: port 99999 is out of range (1-65535)',
      'plb.toml:7: service "web": servers[1]: missing port in "nonsense" (expected host:port, e.g. "10.0.0.2:80")',
      'plb.toml:9: service "web": duplicate service name "web" (also used at line 4)',
      'plb.toml:10: service "web": listen[0]: 127.0.0.1:8080 overlaps with service "web" listen[0] (127.0.0.1:8080)',
    ]);
    const cause = err.cause as Diagnostic[];
    expect(cause).toHaveLength(7);
    expect(cause.find((d) => d.path === "servers[1]")).toEqual({
      path: "servers[1]",
      service: 'service "web"',
      line: 7,
      message: 'servers[1]: missing port in "nonsense" (expected host:port, e.g. "10.0.0.2:80")',
    });
  });

  test("an empty file name is shown as <config>", () => {
    expect(() => parseConfig("", "")).toThrow("<config>: no services defined");
  });
});

describe("loadConfig", () => {
  const dir = mkdtempSync(join(tmpdir(), "plb-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("reads and parses a file, naming it in Config.file and in messages", () => {
    const path = join(dir, "good.toml");
    writeFileSync(path, SERVICE);
    expect(loadConfig(path).file).toBe(path);
    const bad = join(dir, "bad.toml");
    writeFileSync(bad, `backlog = 0\n${SERVICE}`);
    expect(() => loadConfig(bad)).toThrow(`${bad}:1: backlog must be between 1 and 65535, got 0`);
  });

  test("a missing file is CONFIG_READ naming the path and the reason", () => {
    const path = join(dir, "missing.toml");
    let err: unknown;
    try {
      loadConfig(path);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlbError);
    expect((err as PlbError).code).toBe("CONFIG_READ");
    expect((err as PlbError).message).toBe(`cannot read configuration file ${path}: no such file (ENOENT)`);
  });

  test("a directory is CONFIG_READ too", () => {
    expect(() => loadConfig(dir)).toThrow(`cannot read configuration file ${dir}: is a directory (EISDIR)`);
  });

  test("an unreadable file is CONFIG_READ (permission denied); as root, checked through the CLI without CAP_DAC_OVERRIDE", () => {
    const path = join(dir, "secret.toml");
    writeFileSync(path, SERVICE);
    chmodSync(path, 0o000);
    if (process.getuid?.() !== 0) {
      expect(() => loadConfig(path)).toThrow("permission denied (EACCES)");
      return;
    }
    const cli = join(import.meta.dir, "..", "src", "cli.ts");
    const r = Bun.spawnSync(
      ["setpriv", "--bounding-set=-dac_override,-dac_read_search", process.execPath, cli, "--check", "--config", path],
      { stdout: "pipe", stderr: "pipe" },
    );
    expect(r.stderr.toString()).toContain(`cannot read configuration file ${path}: permission denied (EACCES)`);
    expect(r.exitCode).toBe(1);
  });
});

describe("configLine: lines for problems found after parsing (files, certificates, users)", () => {
  test("global keys, service keys, and keys inside a [service.tls] table", () => {
    const text = `user = "nobody"\n\n${SERVICE}protocol = "http"\nerror_pages = { 503 = "a.html" }\n[service.tls]\ncert = "c.pem"\nkey = "k.pem"\n`;
    const config = parseConfig(text, "plb.toml");
    expect(configLine(config, { key: "user" })).toBe(1);
    expect(configLine(config, { service: 0 })).toBe(3);
    expect(configLine(config, { service: 0, key: "error_pages", sub: "503" })).toBe(8); // inline: the key's own line
    expect(configLine(config, { service: 0, key: "tls" })).toBe(9);
    expect(configLine(config, { service: 0, key: "tls", sub: "cert" })).toBe(10);
    expect(configLine(config, { service: 0, key: "tls", sub: "key" })).toBe(11);
    expect(configLine(config, { key: "chroot_dir" })).toBeUndefined();
  });

  test("a configuration not made by parseConfig has no lines", () => {
    const config = parseConfig(SERVICE, "plb.toml");
    expect(configLine({ ...config }, { service: 0 })).toBeUndefined();
  });
});

describe("workers", () => {
  test('workers is a number from 1 to 64 or "auto" (one per core)', async () => {
    const { availableParallelism } = await import("node:os");
    expect(parseConfig(`workers = 3\n${SERVICE}`, "plb.toml").global.workers).toBe(3);
    expect(parseConfig(`workers = "auto"\n${SERVICE}`, "plb.toml").global.workers).toBe(Math.min(64, availableParallelism()));
    for (const bad of ["0", "65", '"two"', "1.5"]) {
      expect(() => parseConfig(`workers = ${bad}\n${SERVICE}`, "plb.toml")).toThrow(/plb\.toml:1: workers must be an integer from 1 to 64 or "auto"/);
    }
  });
});

describe("accept_proxy and proxy_from", () => {
  const WEB = `[[service]]\nname = "web"\nprotocol = "http"\nlisten = ["127.0.0.1:8080"]\nservers = ["10.0.0.2:80"]\n`;

  test("ranges are kept canonical, with the header's deadline", () => {
    const c = parseConfig(`${WEB}accept_proxy = true\nproxy_from = ["10.0.0.0/8", "2001:DB8::/32", "192.0.2.7", "::ffff:127.0.0.0/104"]\ntimeout_proxy_header = "500ms"\n`, "plb.toml");
    const s = c.services[0];
    expect([s.accept_proxy, s.proxy_from, s.timeout_proxy_header]).toEqual([true, ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32", "127.0.0.0/8"], 500]);
  });

  test("accept_proxy without proxy_from is refused on accept_proxy's line: plb does not guess whom to trust", () => {
    expect(problems(`${WEB}accept_proxy = true\n`)).toEqual([
      'plb.toml:6: service "web": accept_proxy = true needs proxy_from, the addresses of the front balancers allowed to send PROXY headers (e.g. proxy_from = ["10.0.0.0/8"]; ["0.0.0.0/0", "::/0"] trusts anyone)',
    ]);
  });

  test("a bad range is reported on its own line, naming the key and what is wrong", () => {
    const text = `${WEB}accept_proxy = true\nproxy_from = [\n  "10.0.0.0/8",\n  "10.0.0.1/8",\n  "300.0.0.0/8",\n  "::1/129",\n  7,\n]\n`;
    expect(problems(text)).toEqual([
      'plb.toml:9: service "web": proxy_from[1]: "10.0.0.1/8" has bits set past its /8 prefix (the range is 10.0.0.0/8; a single address needs no prefix)',
      'plb.toml:10: service "web": proxy_from[2]: "300.0.0.0/8" is not an IP address or range (write "10.0.0.0/8", "2001:db8::/32" or "192.0.2.7")',
      'plb.toml:11: service "web": proxy_from[3]: "::1/129": the prefix length must be a number from 0 to 128',
      'plb.toml:12: service "web": proxy_from[4] must be a string, got integer 7',
    ]);
  });

  test("proxy_from must be a non-empty array", () => {
    expect(problems(`${WEB}accept_proxy = true\nproxy_from = "10.0.0.0/8"\n`)).toEqual([
      'plb.toml:7: service "web": proxy_from must be an array of IP ranges, got string "10.0.0.0/8" (write proxy_from = ["10.0.0.0/8"])',
    ]);
    expect(problems(`${WEB}accept_proxy = true\nproxy_from = []\n`)).toEqual([
      'plb.toml:7: service "web": proxy_from must not be empty: give the front balancers\' addresses (e.g. ["10.0.0.0/8"])',
    ]);
  });

  test("proxy_from and timeout_proxy_header without accept_proxy are mistakes, not silently ignored", () => {
    expect(problems(`${WEB}proxy_from = ["10.0.0.0/8"]\ntimeout_proxy_header = "1s"\n`)).toEqual([
      'plb.toml:6: service "web": proxy_from applies only with accept_proxy = true',
      'plb.toml:7: service "web": timeout_proxy_header applies only with accept_proxy = true',
    ]);
  });

  test("accept_proxy with tls is refused at load rather than half-working", () => {
    const text = `${WEB}tls = { cert = "c.pem", key = "k.pem" }\naccept_proxy = true\nproxy_from = ["127.0.0.1"]\n`;
    const out = problems(text);
    expect(out).toHaveLength(1);
    expect(out[0]).toStartWith('plb.toml:7: service "web": accept_proxy cannot be combined with tls: the PROXY header comes before the TLS handshake');
  });

  test("accept_proxy is for every protocol", () => {
    for (const protocol of ["tcp", "smtp"]) {
      const c = parseConfig(WEB.replace('"http"', JSON.stringify(protocol)) + 'accept_proxy = true\nproxy_from = ["::/0"]\n', "plb.toml");
      expect(c.services[0].accept_proxy).toBe(true);
    }
  });
});

describe("servers from DNS", () => {
  const service = (servers: string, top = "") => `${top}[[service]]\nname = "web"\nlisten = ["127.0.0.1:8080"]\nservers = ${servers}\n`;

  test("dns and srv entries among configured servers, in their places", () => {
    const c = parseConfig(
      service('[{ dns = "Web.Internal:8080" }, "10.0.0.9:8080", { srv = "_http._tcp.web.service.consul", backup = true }, { dns = "db.test:5432", weight = 3, backup = true }]'),
      "p",
    );
    const svc = c.backends[0]!;
    expect(svc.servers).toEqual([{ address: "10.0.0.9:8080", host: "10.0.0.9", port: 8080, weight: 1, backup: false }]);
    expect(svc.discover).toEqual([
      { kind: "dns", key: "dns web.internal:8080", name: "web.internal", port: 8080, weight: 1, backup: false, at: 0 },
      { kind: "srv", key: "srv _http._tcp.web.service.consul", name: "_http._tcp.web.service.consul", port: 0, weight: 1, backup: true, at: 1 },
      { kind: "dns", key: "dns db.test:5432", name: "db.test", port: 5432, weight: 3, backup: true, at: 1 },
    ]);
  });

  test("a service may have servers from DNS only (the Kubernetes ConfigMap's form)", () => {
    const c = parseConfig(service('[{ dns = "web.default.svc.cluster.local:8080" }]'), "p");
    expect(c.backends[0]!.servers).toEqual([]);
    expect(c.backends[0]!.discover).toHaveLength(1);
  });

  test("bad entries name the key and the line", () => {
    const lines = problems(
      service(
        '[\n  { dns = "web.test" },\n  { dns = "10.0.0.1:80" },\n  { srv = "_http._tcp.web:80" },\n  { srv = "_x._tcp.t", weight = 2 },\n' +
          '  { dns = "a.test:1", address = "10.0.0.1:1" },\n  { dns = "a.test:1" },\n  { dns = "A.test:1" },\n  { srv = "bad name" },\n  { dns = 5 },\n]',
      ),
    );
    expect(lines).toEqual([
      'plb.toml:5: service "web": servers[0]: dns: missing port in "web.test" (expected host:port, e.g. "10.0.0.2:80")',
      'plb.toml:6: service "web": servers[1]: dns = "10.0.0.1:80" names an IP address, not a name to resolve: write address = "10.0.0.1:80"',
      'plb.toml:7: service "web": servers[2]: srv = "_http._tcp.web:80": an SRV name has no port (its records give them); for a name and a port, use dns = "_http._tcp.web:80"',
      'plb.toml:8: service "web": servers[3]: srv: the SRV records give each server its weight (leave weight out)',
      'plb.toml:9: service "web": servers[4]: give one of "address" and "dns", not both',
      'plb.toml:11: service "web": servers[6]: duplicate of servers[5] (dns = "a.test:1"): list a server once and raise its weight instead',
      'plb.toml:12: service "web": servers[7]: srv: invalid name "bad name" (expected "_service._proto.name", e.g. "_http._tcp.web.service.consul")',
      'plb.toml:13: service "web": servers[8]: dns must be a string, got integer 5',
    ]);
  });

  test("every server a backup counts the DNS entries too", () => {
    expect(problems(service('[{ dns = "a.test:1", backup = true }, { address = "10.0.0.1:1", backup = true }]'))).toEqual([
      'plb.toml:4: service "web": servers: every server is a backup; at least one must have backup = false',
    ]);
    expect(parseConfig(service('[{ srv = "_x._tcp.t" }, { address = "10.0.0.1:1", backup = true }]'), "p").backends[0]!.discover).toHaveLength(1);
  });

  test("nameservers, dns_min_ttl and dns_max_ttl", () => {
    const c = parseConfig(service('[{ dns = "a.test:1" }]', 'nameservers = ["10.0.0.53", "10.0.0.54:5353", "::1", "[fd00::53]:53"]\ndns_min_ttl = "500ms"\ndns_max_ttl = "1m"\n'), "p");
    expect(c.global).toMatchObject({ nameservers: ["10.0.0.53", "10.0.0.54:5353", "::1", "[fd00::53]:53"], dns_min_ttl: 500, dns_max_ttl: 60_000 });
    expect(problems(service('["10.0.0.1:1"]', 'nameservers = "10.0.0.53"\n'))).toEqual([
      'plb.toml:1: nameservers must be an array of addresses, got string "10.0.0.53" (write nameservers = ["10.0.0.53"])',
    ]);
    expect(problems(service('["10.0.0.1:1"]', 'nameservers = ["10.0.0.53", "dns.google"]\n'))).toEqual([
      'plb.toml:1: nameservers[1]: "dns.google" is not an IP address (a nameserver is named by its address)',
    ]);
    expect(problems(service('["10.0.0.1:1"]', 'nameservers = ["dns.google:53"]\n'))).toEqual([
      'plb.toml:1: nameservers[0]: "dns.google" is not an IP address (a nameserver is named by its address)',
    ]);
    expect(problems(service('["10.0.0.1:1"]', 'dns_min_ttl = "10m"\n'))).toEqual(["plb.toml:1: dns_min_ttl (10m) must not be above dns_max_ttl (5m)"]);
    expect(problems(service('["10.0.0.1:1"]', "dns_max_ttl = 0\n"))).toEqual(["plb.toml:1: dns_max_ttl must be greater than 0, got 0"]);
    // A name asked a thousand times a second is an accident.
    expect(problems(service('["10.0.0.1:1"]', 'dns_min_ttl = "10ms"\n'))).toEqual(['plb.toml:1: dns_min_ttl must be at least 100ms, got "10ms"']);
  });
});
