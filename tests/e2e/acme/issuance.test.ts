/**
 * Certificates from Debian's pebble (nonce rejection at its default 5 %):
 * two names over HTTP-01 and two over TLS-ALPN-01, each chain verified by
 * openssl against pebble's root; a restart serves what storage has with
 * no new order; a stored certificate near its end is renewed.
 *
 * The challenges are answered by the test's own Bun.serve and Bun.listen
 * (tests/support/pebble.ts) until plb's listeners answer them.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pem, selfSigned } from "../../../src/acme/certs.ts";
import { certInfo, splitPem } from "../../../src/acme/certinfo.ts";
import { MemoryHttp01Tokens } from "../../../src/acme/challenges.ts";
import { generateKey, keyFromPem, keyToPem, keyType } from "../../../src/acme/keys.ts";
import { AcmeManager, type AcmeSettings, type CertificateUpdate } from "../../../src/acme/manager.ts";
import { AcmeStorage } from "../../../src/acme/storage.ts";
import { http01Answerer, type Pebble, startPebble, tlsAlpn01Answerer } from "../../support/pebble.ts";
import { tempDir } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

let pebble: Pebble;
let root: string;
const cleanups: (() => unknown)[] = [];
beforeAll(async () => {
  pebble = await startPebble();
  root = await pebble.root();
});
afterAll(() => {
  for (const c of cleanups.reverse()) c();
  pebble?.stop();
});

function manager(storage: string, extra: Partial<AcmeSettings>, responders: ConstructorParameters<typeof AcmeManager>[1], got: CertificateUpdate[]): AcmeManager {
  const m = new AcmeManager({ directory: pebble.directory, directoryCa: pebble.ca, storage, keyType: "ecdsa", ...extra }, responders, (u) => got.push(u));
  cleanups.push(() => m.stop());
  return m;
}

/** openssl verify of the chain's leaf against pebble's root, for `name`. */
function verify(chainPem: string, name: string): string {
  const dir = tempDir("plb-acme-verify-");
  const [leaf, ...rest] = splitPem(chainPem);
  writeFileSync(join(dir, "leaf.pem"), leaf);
  writeFileSync(join(dir, "untrusted.pem"), rest.join(""));
  writeFileSync(join(dir, "root.pem"), root);
  const r = Bun.spawnSync(["openssl", "verify", "-CAfile", "root.pem", "-untrusted", "untrusted.pem", "-verify_hostname", name, "leaf.pem"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  return `${r.stdout}${r.stderr}`.trim();
}

const issued = (got: CertificateUpdate[]) => got.filter((u) => u.source === "issued");

test("HTTP-01: two names get one certificate that verifies against pebble's root for each name; it is stored with its key 0600", async () => {
  const tokens = new MemoryHttp01Tokens();
  const answerer = http01Answerer(pebble.httpPort, tokens);
  cleanups.push(answerer.stop);
  const storage = tempDir("plb-acme-http-");
  const got: CertificateUpdate[] = [];
  const m = manager(storage, { challenge: "http-01", email: "ops@example.com" }, { http01: tokens }, got);
  m.start([["a.test", "www.a.test"]]);
  // Until then a self-signed placeholder, reported at once.
  expect(got.map((u) => u.source)).toEqual(["placeholder"]);
  expect(m.status().map((s) => s.state)).toEqual(["placeholder", "placeholder"]);
  await until(() => issued(got).length === 1, "the certificate", 30_000);
  const cert = issued(got)[0];
  expect(cert.names).toEqual(["a.test", "www.a.test"]);
  expect(cert.issuer).toContain("Pebble Intermediate CA");
  for (const name of ["a.test", "www.a.test"]) expect(verify(cert.chainPem, name)).toBe("leaf.pem: OK");
  expect(verify(cert.chainPem, "b.test")).toContain("hostname mismatch");
  expect(keyType(keyFromPem(cert.keyPem))).toBe("ecdsa");
  expect([...certInfo(cert.chainPem).names].sort()).toEqual(["a.test", "www.a.test"]);
  // pebble fetched both tokens from the answerer, with Host = the name.
  expect(new Set(answerer.asked.map((a) => a.split("/")[0]))).toEqual(new Set([`a.test:${pebble.httpPort}`, `www.a.test:${pebble.httpPort}`]));
  expect(tokens.size).toBe(0); // answers removed once validated
  expect(m.orders).toEqual({ issued: 1, failed: 0 });
  const s = m.status();
  expect(s.map((x) => [x.name, x.state, x.validUntil, x.lastError])).toEqual([
    ["a.test", "valid", cert.notAfter.toISOString(), undefined],
    ["www.a.test", "valid", cert.notAfter.toISOString(), undefined],
  ]);
  expect(readFileSync(join(storage, "certificates", "a.test", "chain.pem"), "utf8")).toBe(cert.chainPem);
  expect(statSync(join(storage, "certificates", "a.test", "key.pem")).mode & 0o777).toBe(0o600);
  expect(existsSync(join(storage, "accounts"))).toBe(true);

  // Restart: the stored certificate is served at once, and no order is made.
  m.stop();
  const asked = answerer.asked.length;
  const again: CertificateUpdate[] = [];
  const m2 = manager(storage, { challenge: "http-01" }, { http01: tokens }, again);
  m2.start([["www.a.test", "a.test"]]);
  expect(again.map((u) => [u.source, u.chainPem === cert.chainPem, u.keyPem === cert.keyPem])).toEqual([["stored", true, true]]);
  await Bun.sleep(1500);
  expect(again).toHaveLength(1);
  expect(m2.orders).toEqual({ issued: 0, failed: 0 });
  expect(answerer.asked.length).toBe(asked);
  const st = m2.status()[0];
  expect(st.state).toBe("valid");
  expect(st.lastAttempt).toBeUndefined();
  expect(Date.parse(st.nextAttempt!)).toBeGreaterThan(Date.now() + 86_400_000);
  answerer.stop();
});

test("TLS-ALPN-01: two names with RSA keys, answered over acme-tls/1, verify against pebble's root", async () => {
  const alpn = tlsAlpn01Answerer(pebble.tlsPort);
  cleanups.push(alpn.stop);
  const storage = tempDir("plb-acme-alpn-");
  const got: CertificateUpdate[] = [];
  const m = manager(storage, { challenge: "tls-alpn-01", keyType: "rsa" }, { tlsAlpn01: alpn, http01: new MemoryHttp01Tokens() }, got);
  m.start([["b.test", "www.b.test"]]);
  await until(() => issued(got).length === 1, "the certificate", 30_000);
  const cert = issued(got)[0];
  for (const name of ["b.test", "www.b.test"]) expect(verify(cert.chainPem, name)).toBe("leaf.pem: OK");
  expect(keyType(keyFromPem(cert.keyPem))).toBe("rsa");
  expect(alpn.alpn.length).toBeGreaterThanOrEqual(2);
  expect(new Set(alpn.alpn)).toEqual(new Set(["acme-tls/1"]));
  expect(m.orders).toEqual({ issued: 1, failed: 0 });
  // The account key follows key_type too.
  const account = new AcmeStorage(storage).readAccount(pebble.directory)!;
  expect(keyType(keyFromPem(account.keyPem))).toBe("rsa");
});

test("renewal: a stored certificate past two thirds of its life is served, then replaced by a new one that is stored", async () => {
  const tokens = new MemoryHttp01Tokens();
  const answerer = http01Answerer(pebble.httpPort, tokens);
  cleanups.push(answerer.stop);
  const storage = tempDir("plb-acme-renew-");
  const names = ["c.test"];
  // 60 days old, ends in an hour (as a 90-day certificate near its end).
  const key = generateKey("ecdsa");
  const old = pem("CERTIFICATE", selfSigned({ names, key, notBefore: new Date(Date.now() - 60 * 86_400_000), notAfter: new Date(Date.now() + 3_600_000) }));
  new AcmeStorage(storage).writeCertificate(names, old, keyToPem(key), pebble.directory);
  const got: CertificateUpdate[] = [];
  const m = manager(storage, { challenge: "http-01" }, { http01: tokens }, got);
  m.start([names]);
  expect(got.map((u) => [u.source, u.chainPem === old])).toEqual([["stored", true]]);
  await until(() => issued(got).length === 1, "the renewed certificate", 30_000);
  const fresh = issued(got)[0];
  expect(fresh.notAfter.getTime()).toBeGreaterThan(Date.now() + 30 * 86_400_000);
  expect(verify(fresh.chainPem, "c.test")).toBe("leaf.pem: OK");
  const stored = new AcmeStorage(storage).loadCertificates().certificates;
  expect(stored.map((c) => c.chainPem)).toEqual([fresh.chainPem]);
  expect(m.status()[0].validUntil).toBe(fresh.notAfter.toISOString());
  answerer.stop();
});

test("a stored certificate from another CA directory (staging → production) is served until the configured CA issues one", async () => {
  const tokens = new MemoryHttp01Tokens();
  const answerer = http01Answerer(pebble.httpPort, tokens);
  cleanups.push(answerer.stop);
  const storage = tempDir("plb-acme-other-ca-");
  const key = generateKey("ecdsa");
  const staging = pem("CERTIFICATE", selfSigned({ names: ["f.test"], key, notAfter: new Date(Date.now() + 80 * 86_400_000) }));
  new AcmeStorage(storage).writeCertificate(["f.test"], staging, keyToPem(key), "https://acme-staging-v02.api.letsencrypt.org/directory");
  const got: CertificateUpdate[] = [];
  const m = manager(storage, { challenge: "http-01" }, { http01: tokens }, got);
  m.start([["f.test"]]);
  expect(got.map((u) => u.source)).toEqual(["stored"]);
  await until(() => issued(got).length === 1, "a certificate from the configured CA", 30_000);
  expect(verify(issued(got)[0].chainPem, "f.test")).toBe("leaf.pem: OK");
  expect(new AcmeStorage(storage).loadCertificates().certificates[0].directory).toBe(pebble.directory);
  answerer.stop();
});
