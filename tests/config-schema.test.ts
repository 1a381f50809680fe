import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { didYouMean, editDistance, formatDiagnostic, formatDiagnostics, suggestion } from "../src/config/diagnostics.ts";
import { loadConfig } from "../src/config/index.ts";
import { indexSource } from "../src/config/locate.ts";
import { describeKeys, keyDef, keysFor, SCHEMA } from "../src/config/schema.ts";
import { checkValue } from "../src/config/values.ts";
import { allocLimit, measure } from "../fuzz/driver.ts";
import { configToml } from "../fuzz/formats/config.ts";

const EXAMPLE = join(import.meta.dir, "..", "plb.toml.example");

describe("schema", () => {
  test("key names are unique and cover the configuration types", () => {
    const names = SCHEMA.map((k) => k.name);
    expect(new Set(names).size).toBe(names.length);
    expect([...keysFor("global")].sort()).toEqual(
      ["backlog", "chroot_dir", "dns_max_ttl", "dns_min_ttl", "group", "logfile", "loglevel", "maxconn", "nameservers", "pidfile", "server_retry", "shutdown_delay", "slowstart", "timeout_cleanup", "timeout_client", "timeout_connect", "timeout_server", "timeout_shutdown", "user", "workers"],
    );
    expect([...keysFor("service")].sort()).toEqual(
      [
        "accept_proxy", "access_log", "backend", "error_pages", "forwarded", "forwarded_for", "h2_initial_window_size", "h2_max_concurrent_streams", "h2_max_frame_size", "h2c", "http2", "listen", "max_body", "max_header_size", "max_headers", "max_request_line",
        "maxconn", "min_body_rate", "name", "protocol", "proxy_from", "request_id", "require_tls", "route", "starttls", "timeout_client", "timeout_http_request", "timeout_proxy_header", "tls",
      ],
    );
    // What belongs to the servers: in a [[backend]], or beside a service's own servers.
    expect([...keysFor("backend")].sort()).toEqual(
      [
        "balance", "client_address", "fail_on_5xx", "h2_max_connections", "hash_header", "health", "health_path", "name", "pool_max_idle", "server_protocol", "server_retry", "server_tls", "servers", "slowstart", "timeout_cleanup", "timeout_connect",
        "timeout_pool_idle", "timeout_server", "timeout_smtp_greeting",
      ],
    );
    expect([...keysFor("server")].sort()).toEqual(["address", "backup", "dns", "srv", "weight"]);
  });

  test("every default passes its own check (balance is looked up only when written)", () => {
    for (const k of SCHEMA) {
      if (k.default === undefined || k.type.kind === "balance") continue;
      expect({ key: k.name, ok: checkValue(k, k.default).ok }).toEqual({ key: k.name, ok: true });
    }
    expect(keyDef("balance")?.default).toBe("roundrobin");
    expect(keyDef("weight")?.type).toEqual({ kind: "integer", min: 1, max: 256 });
  });

  test("describeKeys documents every key with its default", () => {
    const text = describeKeys();
    for (const k of SCHEMA) expect(text).toContain(`  ${k.name} `);
    expect(text).toMatch(/server_retry\s+integer 1-1000\s+3\s/);
    expect(text).toMatch(/timeout_connect\s+duration > 0\s+"2s"/);
    expect(text).toMatch(/name\s+string\s+required/);
    expect(text).toContain("[[service]] keys (listen addresses, protocol, TLS, client-side limits and timeouts):");
    expect(text).toContain("[[backend]] keys (a named set of servers; also allowed in a [[service]] that lists its own servers):");
    expect(text).toMatch(/slowstart\s+duration >= 0\s+0\s/);
  });
});

describe("did you mean", () => {
  test("editDistance counts insertions, deletions, substitutions and transpositions", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("sever_retry", "server_retry")).toBe(1);
    expect(editDistance("ab", "ba")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("same", "same")).toBe(0);
  });

  test("suggests the closest key only when it is a likely typo", () => {
    const keys = keysFor("global");
    expect(didYouMean("sever_retry", keys)).toBe("server_retry");
    expect(didYouMean("timeout-connect", keys)).toBe("timeout_connect");
    expect(didYouMean("BACKLOG", keys)).toBe("backlog");
    expect(didYouMean("timout_clinet", keys)).toBe("timeout_client");
    expect(didYouMean("usr", keys)).toBe("user");
    expect(didYouMean("color", keys)).toBeUndefined();
    expect(didYouMean("frobnicate", keys)).toBeUndefined();
    expect(suggestion("wieght", keysFor("server"))).toBe(' (did you mean "weight"?)');
    expect(suggestion("zzz", keysFor("server"))).toBe("");
  });

  test("a long unknown key is not compared with every key (found by npm run fuzz: a 16 KiB key took megabytes)", () => {
    const long = "timeout_connect".repeat(1100);
    expect(didYouMean(long, keysFor("global"))).toBeUndefined();
    expect(didYouMean("timeout_connectx", keysFor("global"))).toBe("timeout_connect");
    const file = new TextEncoder().encode(`${long} = 0.5\n`);
    expect(measure(configToml, file).grew).toBeLessThan(allocLimit(file.length));
  });
});

describe("formatDiagnostics", () => {
  test("formats file:line, the service label and the message; sorts by line, unlocated last", () => {
    expect(formatDiagnostic("plb.toml", { path: "x", line: 3, message: "m" })).toBe("plb.toml:3: m");
    expect(formatDiagnostic("plb.toml", { path: "x", service: 'service "web"', message: "m" })).toBe('plb.toml: service "web": m');
    const text = formatDiagnostics("f", [
      { path: "", message: "none" },
      { path: "", line: 9, message: "nine" },
      { path: "", line: 2, message: "two" },
      { path: "", line: 9, message: "nine again" },
    ]);
    expect(text).toBe("f:2: two\nf:9: nine\nf:9: nine again\nf: none");
  });
});

describe("indexSource (line locator)", () => {
  const text = [
    "# comment with key = 1", // 1
    'backlog = 5 # trailing "comment"', // 2
    "", // 3
    "[[service]]", // 4
    'name = "a" # [[service]] in a comment', // 5
    "servers = [", // 6
    '  "h:1", # first, with [brackets] and "quotes"', // 7
    "  # a whole-line comment", // 8
    '  { address = "h:2", weight = 2 },', // 9
    '  "h:3", "h:4",', // 10
    "]", // 11
    'listen = ["127.0.0.1:1", "127.0.0.1:2"]', // 12
    '"timeout_client" = 3', // 13
    "[[service]]", // 14
    'description = """', // 15
    "name = 'not a key'", // 16
    '"""', // 17
    "name = 'b'", // 18
    "[[service.servers]]", // 19
    'address = "h:9"', // 20
    "[[service.servers]]", // 21
    'address = "h:10"', // 22
  ].join("\n");
  const idx = indexSource(text);

  test("global keys, service headers and service keys", () => {
    expect(idx.line({ key: "backlog" })).toBe(2);
    expect(idx.line({ key: "nothing" })).toBeUndefined();
    expect(idx.line({ service: 0 })).toBe(4);
    expect(idx.line({ service: 1 })).toBe(14);
    expect(idx.line({ service: 0, key: "name" })).toBe(5);
    expect(idx.line({ service: 0, key: "timeout_client" })).toBe(13);
    expect(idx.line({ service: 1, key: "name" })).toBe(18);
    // An absent key falls back to the service header.
    expect(idx.line({ service: 1, key: "listen" })).toBe(14);
  });

  test("elements of multi-line arrays, past comments and strings", () => {
    expect([0, 1, 2, 3].map((index) => idx.line({ service: 0, key: "servers", index }))).toEqual([7, 9, 10, 10]);
    expect(idx.line({ service: 0, key: "listen", index: 1 })).toBe(12);
    // Past the end: the key's own line.
    expect(idx.line({ service: 0, key: "servers", index: 9 })).toBe(6);
  });

  test("[[service.servers]] tables count as elements", () => {
    expect(idx.line({ service: 1, key: "servers", index: 0 })).toBe(19);
    expect(idx.line({ service: 1, key: "servers", index: 1 })).toBe(21);
  });

  test("services written as an inline array", () => {
    const inline = indexSource('service = [\n  { name = "a" },\n  { name = "b" },\n]\n');
    expect(inline.line({ service: 1 })).toBe(3);
    expect(inline.line({ service: 1, key: "name" })).toBe(3);
  });
});

describe("plb.toml.example", () => {
  const text = readFileSync(EXAMPLE, "utf8");

  test("parses as-is", () => {
    const c = loadConfig(EXAMPLE);
    expect(c.services.length).toBeGreaterThan(0);
    expect(c.services[0].name).toBe("demo");
  });

  test("mentions every schema key, with a comment above it", () => {
    const lines = text.split("\n");
    for (const k of SCHEMA) {
      const pattern = k.scope === "server" ? new RegExp(`\\b${k.name}\\s*=`) : new RegExp(`^(# )?${k.name} = `);
      const at = lines.findIndex((l) => pattern.test(l));
      expect({ key: k.name, found: at >= 0 }).toEqual({ key: k.name, found: true });
      if (k.scope !== "server") expect({ key: k.name, above: lines[at - 1]?.startsWith("#") }).toEqual({ key: k.name, above: true });
    }
  });

  test("privileged settings are commented out so an unprivileged run works", () => {
    for (const key of ["user", "group", "chroot_dir", "pidfile", "logfile"]) {
      expect(text).toMatch(new RegExp(`^# ${key} = "`, "m"));
      expect(text).not.toMatch(new RegExp(`^${key}\\s*=`, "m"));
    }
    const c = loadConfig(EXAMPLE);
    expect(c.global.user).toBeUndefined();
    expect(c.global.chroot_dir).toBeUndefined();
  });

  test("listens on loopback above port 1024, with a backup server", () => {
    const c = loadConfig(EXAMPLE);
    for (const s of c.services) {
      for (const l of s.listen) {
        expect(["127.0.0.1", "::1"]).toContain(l.host);
        expect(l.port).toBeGreaterThan(1024);
      }
    }
    const demo = c.services[0];
    expect(demo.listen.map((l) => l.text)).toEqual(["127.0.0.1:8080", "[::1]:8080"]);
    expect(c.backends.find((b) => b.name === demo.backend)!.servers.map((s) => [s.address, s.backup])).toEqual([
      ["127.0.0.1:9001", false],
      ["127.0.0.1:9002", false],
      ["127.0.0.1:9003", true],
    ]);
  });

  test("gives durations both as numbers and as strings", () => {
    expect(text).toMatch(/^timeout_\w+ = \d+$/m);
    expect(text).toMatch(/^timeout_\w+ = "\d+(ms|s|m|h)"$/m);
  });
});
