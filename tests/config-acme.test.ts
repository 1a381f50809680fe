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
