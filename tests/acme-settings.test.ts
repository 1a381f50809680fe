import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { acmeSettings, prepareAcme } from "../src/acme/settings.ts";
import { ACME_TLS_ALPN, http01Token, MemoryHttp01Tokens, MemoryTlsAlpn01Certs } from "../src/acme/challenges.ts";
import { parseConfig } from "../src/config/index.ts";
import { tempDir } from "./support/plb.ts";
import { testCa } from "./support/test-ca.ts";

const SERVICE = '[[service]]\nname = "w"\nlisten = ["127.0.0.1:8080"]\nservers = ["127.0.0.1:9000"]\n';

test("acmeSettings reads directory_ca; an unreadable or non-PEM file names the key", async () => {
  const ca = await testCa();
  const c = parseConfig(`[acme]\ndirectory = "https://127.0.0.1:14000/dir"\ndirectory_ca = "${ca.ca}"\nstorage = "/tmp/x"\nkey_type = "rsa"\n${SERVICE}`, "plb.toml");
  const s = acmeSettings(c.acme!);
  expect(s.directoryCa).toContain("-----BEGIN CERTIFICATE-----");
  expect({ ...s, directoryCa: undefined }).toEqual({ directory: "https://127.0.0.1:14000/dir", email: undefined, storage: "/tmp/x", directoryCa: undefined, challenge: undefined, keyType: "rsa" });
  const missing = { ...c.acme!, directory_ca: "/nonexistent/ca.pem" };
  expect(() => acmeSettings(missing)).toThrow("acme.directory_ca: cannot read /nonexistent/ca.pem: no such file (ENOENT)");
  const junk = join(tempDir("plb-acme-settings-"), "junk.pem");
  writeFileSync(junk, "hello");
  expect(() => acmeSettings({ ...c.acme!, directory_ca: junk })).toThrow(`acme.directory_ca: ${junk} holds no PEM certificate`);
  expect(acmeSettings(parseConfig(`[acme]\n${SERVICE}`, "plb.toml").acme!).directoryCa).toBeUndefined();
});

test("HTTP-01 paths: only /.well-known/acme-challenge/ followed by a base64url token", () => {
  expect(http01Token("/.well-known/acme-challenge/LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0")).toBe("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0");
  expect(http01Token("/.well-known/acme-challenge/")).toBeUndefined();
  expect(http01Token("/.well-known/acme-challenge/../etc/passwd")).toBeUndefined();
  expect(http01Token("/.well-known/acme-challenge/a?b")).toBeUndefined();
  expect(http01Token("/index.html")).toBeUndefined();
  const tokens = new MemoryHttp01Tokens();
  tokens.set("t", "t.thumb");
  expect(tokens.get("t")).toBe("t.thumb");
  tokens.delete("t");
  expect(tokens.get("t")).toBeUndefined();
  const certs = new MemoryTlsAlpn01Certs();
  certs.set("A.Test", { certPem: "c", keyPem: "k" });
  expect(certs.get("a.test")).toEqual({ certPem: "c", keyPem: "k" }); // SNI is case-insensitive
  expect(ACME_TLS_ALPN).toBe("acme-tls/1");
});

test("prepareAcme: storage created and checked, then the settings; a storage under a file is ACME_STORAGE", () => {
  const dir = join(tempDir("plb-acme-prepare-"), "acme");
  const c = parseConfig(`[acme]\nstorage = "${dir}"\n${SERVICE}`, "plb.toml");
  expect(prepareAcme(c.acme!).storage).toBe(dir);
  expect(existsSync(dir)).toBe(true);
  const file = join(dir, "f");
  writeFileSync(file, "");
  expect(() => prepareAcme({ ...c.acme!, storage: join(file, "x") })).toThrow(/^acme storage .*: not usable: .*ENOTDIR/);
});
