import { expect, test } from "bun:test";
import { parseConfig } from "../src/config/index.ts";
import type { PlbError } from "../src/errors.ts";

const SERVICE = '[[service]]\nname = "w"\nlisten = ["127.0.0.1:8080"]\nservers = ["127.0.0.1:9000"]\n';

function problems(text: string): string[] {
  try {
    parseConfig(text, "plb.toml");
  } catch (err) {
    return (err as PlbError).message.split("\n");
  }
  return [];
}

test("[acme] defaults: Let's Encrypt production, /var/lib/plb/acme, ECDSA, challenge chosen by plb", () => {
  const c = parseConfig(`[acme]\nemail = "ops@example.com"\n${SERVICE}`, "plb.toml");
  expect(c.acme).toEqual({
    directory: "https://acme-v02.api.letsencrypt.org/directory",
    email: "ops@example.com",
    storage: "/var/lib/plb/acme",
    directory_ca: undefined,
    challenge: undefined,
    key_type: "ecdsa",
  });
  expect(parseConfig(SERVICE, "plb.toml").acme).toBeUndefined();
});

test("[acme] every key set", () => {
  const c = parseConfig(
    `[acme]\ndirectory = "https://127.0.0.1:14000/dir"\nstorage = "/tmp/acme"\ndirectory_ca = "pebble.pem"\nchallenge = "tls-alpn-01"\nkey_type = "rsa"\n${SERVICE}`,
    "plb.toml",
  );
  expect(c.acme).toEqual({ directory: "https://127.0.0.1:14000/dir", email: undefined, storage: "/tmp/acme", directory_ca: "pebble.pem", challenge: "tls-alpn-01", key_type: "rsa" });
});

test("[acme] problems name the key and its line", () => {
  expect(problems(`[acme]\ndirectory = "http://ca.example/dir"\nemial = "x"\n${SERVICE}`)).toEqual([
    'plb.toml:2: acme.directory: "http://ca.example/dir" must be an https:// URL (ACME requires HTTPS)',
    'plb.toml:3: acme.emial: unknown key (did you mean "email"?) (acme keys: directory, email, storage, directory_ca, challenge, key_type)',
  ]);
  expect(problems(`[acme]\nchallenge = "dns-01"\nkey_type = "ecdas"\n${SERVICE}`)).toEqual([
    'plb.toml:2: acme.challenge: "dns-01" is not one of "http-01", "tls-alpn-01"',
    'plb.toml:3: acme.key_type: "ecdas" is not one of "ecdsa", "rsa" (did you mean "ecdsa"?)',
  ]);
  expect(problems(`[acme]\nemail = "ops"\nstorage = 3\n${SERVICE}`)).toEqual([
    'plb.toml:2: acme.email: "ops" is not a mail address',
    "plb.toml:3: acme.storage must be a non-empty string, got integer 3",
  ]);
  expect(problems(`[acme]\ndirectory = "not a url"\n${SERVICE}`)[0]).toMatch(/^plb\.toml:2: acme\.directory: "not a url" is not a URL/);
  expect(problems(`acme = "yes"\n${SERVICE}`)[0]).toMatch(/^plb\.toml:1: acme must be a table/);
});

const ACME = '[acme]\nemail = "ops@example.com"\nstorage = "/tmp/plb-acme"\n';
const HTTPS = (tls: string, extra = "") => `[[service]]\nname = "s"\nprotocol = "http"\nlisten = ["127.0.0.1:8443"]\nservers = ["127.0.0.1:9000"]\ntls = ${tls}\n${extra}`;

test("tls.acme: a list of names (lowercased, a trailing dot dropped), alone or with files (source acme: no default certificate)", () => {
  const c = parseConfig(ACME + HTTPS('{ acme = ["A.test", "www.a.test."] }'), "plb.toml");
  expect(c.services[0].tls?.acme).toEqual(["a.test", "www.a.test"]);
  expect(c.services[0].tls?.source).toEqual({ kind: "acme" });
  const both = parseConfig(ACME + HTTPS('{ acme = ["a.test"], cert = "x.pem", key = "x.key" }'), "plb.toml");
  expect(both.services[0].tls?.source.kind).toBe("pairs");
  expect(both.services[0].tls?.acme).toEqual(["a.test"]);
});

test("tls.acme = true: the exact hosts of the routes, without wildcards and IP literals", () => {
  const routes = '[[service.route]]\nhost = ["b.test", "*.w.test", "127.0.0.1"]\n[[service.route]]\nhost = "c.test"\n[[service.route]]\nhost = "b.test"\npath = "/x"\n';
  const c = parseConfig(ACME + HTTPS("{ acme = true }", routes), "plb.toml");
  expect(c.services[0].tls?.acme).toEqual(["b.test", "c.test"]);
  expect(problems(ACME + HTTPS("{ acme = true }"))).toEqual([
    'plb.toml:9: service "s": tls.acme = true takes the exact host names of the service\'s routes (route.host), and it has none: list the names, acme = ["example.com"]',
  ]);
});

test("tls.acme problems name the key and line: wildcards, IPs, not names, no [acme] table, starttls", () => {
  const one = (tls: string, head = ACME) => problems(head + HTTPS(tls));
  expect(one('{ acme = ["*.a.test"] }')).toEqual(['plb.toml:9: service "s": tls.acme[0]: "*.a.test" is a wildcard: a CA validates wildcards only over DNS-01, which plb does not do (list the names)']);
  expect(one('{ acme = ["a.test", "10.0.0.1"] }')).toEqual(['plb.toml:9: service "s": tls.acme[1]: "10.0.0.1" is an IP address: ACME certificates here are for DNS names']);
  expect(one('{ acme = ["localhost"] }')[0]).toContain('tls.acme[0]: "localhost" is not a DNS name a CA can issue for');
  expect(one('{ acme = ["a.test", "A.test"] }')[0]).toContain('tls.acme[1]: "A.test" is listed twice');
  expect(one("{ acme = [] }")[0]).toContain("tls.acme must name at least one host");
  expect(one('{ acme = "a.test" }')[0]).toContain("tls.acme must be a list of host names");
  expect(one('{ acme = ["a.test"] }', "")).toEqual(['plb.toml:6: service "s": tls.acme needs an [acme] table (the CA and the storage: [acme] with email = "ops@example.com")']);
});
