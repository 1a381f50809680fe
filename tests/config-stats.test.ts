import { expect, test } from "bun:test";
import { parseConfig } from "../src/config/index.ts";
import { PlbError } from "../src/errors.ts";

const SERVICE = '[[service]]\nname = "w"\nlisten = ["127.0.0.1:8080"]\nservers = ["127.0.0.1:9000"]\n';

function problems(text: string): string[] {
  try {
    parseConfig(text, "plb.toml");
  } catch (err) {
    return (err as PlbError).message.split("\n");
  }
  return [];
}

test("[stats] parses a tcp or unix listen address, a token, read_token", () => {
  const c = parseConfig(`[stats]\nlisten = "127.0.0.1:8404"\ntoken = "0123456789abcdef"\nread_token = true\n${SERVICE}`, "plb.toml");
  expect(c.stats).toEqual({ listen: { kind: "tcp", host: "127.0.0.1", port: 8404, text: "127.0.0.1:8404" }, token: "0123456789abcdef", token_file: undefined, read_token: true, healthz_requires_servers: false });
  const u = parseConfig(`[stats]\nlisten = "unix:/run/plb/stats.sock"\n${SERVICE}`, "plb.toml");
  expect(u.stats?.listen).toEqual({ kind: "unix", path: "/run/plb/stats.sock", text: "unix:/run/plb/stats.sock" });
  expect(parseConfig(SERVICE, "plb.toml").stats).toBeUndefined();
});

test("[stats] problems name the key and its line", () => {
  expect(problems(`[stats]\nlisten = "0.0.0.0:8404"\n${SERVICE}`)).toEqual([
    "plb.toml:2: stats.listen: 0.0.0.0:8404 is not a loopback address: set token_file (or token), or listen on 127.0.0.1 or a unix socket",
  ]);
  expect(problems(`[stats]\nlisten = "127.0.0.1:8404"\ntokn = "x"\ntoken = "short"\n${SERVICE}`)).toEqual([
    'plb.toml:3: stats.tokn: unknown key (did you mean "token"?) (stats keys: listen, token, token_file, read_token, healthz_requires_servers)',
    "plb.toml:4: stats.token must be at least 16 characters (a random one: openssl rand -hex 16)",
  ]);
  expect(problems(`[stats]\nread_token = true\n${SERVICE}`)[0]).toMatch(/^plb\.toml:1: stats\.listen is required/);
  expect(problems(`[stats]\nlisten = "unix:stats.sock"\n${SERVICE}`)[0]).toMatch(/^plb\.toml:2: stats\.listen: a unix socket needs an absolute path/);
  expect(problems(`[stats]\nlisten = "127.0.0.1:8404"\ntoken = "0123456789abcdef"\ntoken_file = "/etc/t"\n${SERVICE}`)[0]).toMatch(/plb\.toml:3: stats\.token and token_file are both set/);
});

test("[stats] healthz_requires_servers: off by default, a boolean, named with its line when it is not", () => {
  const on = parseConfig(`[stats]\nlisten = "127.0.0.1:8404"\nhealthz_requires_servers = true\n${SERVICE}`, "plb.toml");
  expect(on.stats?.healthz_requires_servers).toBe(true);
  expect(parseConfig(`[stats]\nlisten = "127.0.0.1:8404"\n${SERVICE}`, "plb.toml").stats?.healthz_requires_servers).toBe(false);
  expect(problems(`[stats]\nlisten = "127.0.0.1:8404"\nhealthz_requires_servers = "yes"\n${SERVICE}`)).toEqual([
    'plb.toml:3: stats.healthz_requires_servers must be true or false, got string "yes"',
  ]);
});
