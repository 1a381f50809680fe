/**
 * The certificate store: which certificate serves which SNI name (RFC 6125:
 * exact names, wildcards for one left-most label), duplicates, expired
 * certificates, directories paired by content, and the problems a start
 * and --check refuse. Certificates are made by openssl in the test.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ListenTlsConfig } from "../src/config/types.ts";
import { isServableName, nameMatches, normalizeName, wildcardFor } from "../src/tls/names.ts";
import { choose, loadCertificates, serving } from "../src/tls/store.ts";
import { CertDir, type Pair } from "./support/certs.ts";

const d = new CertDir();
let ca: Pair;
let a: Pair; // a.test, *.a.test
let b: Pair; // b.test, www.a.test (exact beats a's wildcard)
let dup: Pair; // a.test again
let expired: Pair;
let noSan: Pair;

beforeAll(async () => {
  ca = await d.ca("ca");
  [a, b, dup, expired, noSan] = await Promise.all([
    d.cert("a", { dns: ["a.test", "*.a.test"], ca }),
    d.cert("b", { dns: ["b.test", "WWW.A.test"], ca, type: "rsa" }),
    d.cert("dup", { dns: ["a.test", "dup.test"], ca }),
    d.cert("expired", { dns: ["old.test"], days: -1 }),
    d.cert("nosan", { subject: "/CN=cn-only.test" }),
  ]);
});

const cfg = (source: ListenTlsConfig["source"], o: Partial<ListenTlsConfig> = {}): ListenTlsConfig => ({
  source,
  strict_sni: false,
  min_version: "1.2",
  ciphers: undefined,
  client_ca: undefined,
  client_verify: undefined,
  ...o,
});
const pairs = (...p: Pair[]): ListenTlsConfig["source"] => ({ kind: "pairs", pairs: p, form: p.length === 1 ? "cert" : "certs" });

describe("names (RFC 6125)", () => {
  test("a wildcard covers exactly one left-most label", () => {
    expect(nameMatches("*.a.test", "x.a.test")).toBe(true);
    expect(nameMatches("*.a.test", "a.test")).toBe(false);
    expect(nameMatches("*.a.test", "y.x.a.test")).toBe(false);
    expect(nameMatches("*.a.test", ".a.test")).toBe(false);
    expect(nameMatches("a.test", "a.test")).toBe(true);
    expect(nameMatches("a.test", "b.a.test")).toBe(false);
  });

  test("names compare without case and trailing dot; wildcards must be whole labels with two labels after them", () => {
    expect(normalizeName("WWW.Example.COM.")).toBe("www.example.com");
    expect(wildcardFor("x.a.test")).toBe("*.a.test");
    expect(wildcardFor("a.test")).toBeUndefined();
    expect(isServableName("*.a.test")).toBe(true);
    expect(isServableName("*.test")).toBe(false);
    expect(isServableName("w*.a.test")).toBe(false);
    expect(isServableName("a.*.test")).toBe(false);
    expect(isServableName("a..test")).toBe(false);
  });
});

describe("loadCertificates", () => {
  test("certs: names from each SAN; exact before wildcard; the first is the default", () => {
    const r = loadCertificates(cfg(pairs(a, b)));
    expect(r.problems).toEqual([]);
    expect(r.warnings).toEqual([]);
    const set = r.set!;
    expect(set.entries.map((e) => e.names)).toEqual([["a.test", "*.a.test"], ["b.test", "www.a.test"]]);
    expect(serving(set, "a.test")?.certFile).toBe(a.cert);
    expect(serving(set, "X.A.TEST")?.certFile).toBe(a.cert);
    expect(serving(set, "www.a.test")?.certFile).toBe(b.cert);
    expect(serving(set, "b.test.")?.certFile).toBe(b.cert);
    expect(serving(set, "y.x.a.test")).toBeUndefined();
    expect(choose(set, "y.x.a.test")?.certFile).toBe(a.cert); // default
    expect(choose(set, undefined)?.certFile).toBe(a.cert);
  });

  test("strict_sni: no certificate for an unknown name or no SNI", () => {
    const set = loadCertificates(cfg(pairs(a, b), { strict_sni: true })).set!;
    expect(choose(set, "c.test")).toBeUndefined();
    expect(choose(set, undefined)).toBeUndefined();
    expect(choose(set, "b.test")?.certFile).toBe(b.cert);
  });

  test("a name two certificates claim: a warning says which one serves it (the first)", () => {
    const r = loadCertificates(cfg(pairs(a, dup)));
    expect(r.problems).toEqual([]);
    expect(r.warnings).toEqual([`tls.certs[1]: "a.test" is also a name of ${a.cert} (tls.certs[0]), which serves it (the first wins); ${dup.cert} does not`]);
    expect(serving(r.set!, "a.test")?.certFile).toBe(a.cert);
    expect(serving(r.set!, "dup.test")?.certFile).toBe(dup.cert);
  });

  test("an expired certificate is a warning, not an error; a certificate without SAN serves its CN", () => {
    const r = loadCertificates(cfg(pairs(expired, noSan)));
    expect(r.problems).toEqual([]);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(new RegExp(`^tls.certs\\[0\\]: the certificate in ${expired.cert} expired on 20\\d\\d-`));
    expect(serving(r.set!, "cn-only.test")?.certFile).toBe(noSan.cert);
  });

  test("a pair that does not match, and a missing file: errors naming the key of the pair", () => {
    const r = loadCertificates(cfg(pairs(a, { cert: b.cert, key: a.key }, { cert: join(d.dir, "missing.pem"), key: a.key })));
    expect(r.set).toBeUndefined();
    expect(r.problems).toEqual([
      { key: "tls.certs[1].key", message: `key does not match the certificate in ${b.cert}` },
      { key: "tls.certs[2].cert", message: `cannot read ${join(d.dir, "missing.pem")}: no such file (ENOENT)` },
    ]);
  });

  test("strict_sni with certificates that name no host is an error (and without strict_sni a warning)", async () => {
    const nameless = await d.cert("nameless", { subject: "/O=No Name" });
    const r = loadCertificates(cfg(pairs(nameless), { strict_sni: true }));
    expect(r.problems.map((p) => p.key)).toEqual(["tls"]);
    expect(r.problems[0].message).toStartWith("strict_sni = true, and no certificate names a host");
    const lax = loadCertificates(cfg(pairs(nameless)));
    expect(lax.problems).toEqual([]);
    expect(lax.warnings).toEqual([`tls: the certificate in ${nameless.cert} names no host (no subjectAltName DNS name): it serves only clients that get the default`]);
  });
});

describe("dir", () => {
  test("pairs by content, whatever the file names: separate files, a combined file, certbot names; in file name order", async () => {
    const dir = join(d.dir, "certs");
    mkdirSync(dir);
    copyFileSync(b.cert, join(dir, "10-b.crt"));
    copyFileSync(b.key, join(dir, "zz-key-of-b"));
    writeFileSync(join(dir, "05-a.pem"), (await Bun.file(a.cert).text()) + (await Bun.file(a.key).text()));
    mkdirSync(join(dir, "live"));
    copyFileSync(dup.cert, join(dir, "20-fullchain.pem"));
    copyFileSync(dup.key, join(dir, "21-privkey.pem"));
    copyFileSync(ca.cert, join(dir, "30-chain.pem")); // a certificate without its key: skipped
    copyFileSync(expired.key, join(dir, "40-stray.key")); // a key without its certificate: skipped
    writeFileSync(join(dir, ".hidden.pem"), "junk");
    writeFileSync(join(dir, "README"), "not PEM");
    const r = loadCertificates(cfg({ kind: "dir", dir }));
    expect(r.problems).toEqual([]);
    expect(r.set!.entries.map((e) => [e.certFile, e.keyFile])).toEqual([
      [join(dir, "05-a.pem"), join(dir, "05-a.pem")],
      [join(dir, "10-b.crt"), join(dir, "zz-key-of-b")],
      [join(dir, "20-fullchain.pem"), join(dir, "21-privkey.pem")],
    ]);
    expect(r.warnings).toEqual([
      `tls.dir: ${join(dir, "30-chain.pem")} skipped: no key in ${dir} matches its certificate`,
      `tls.dir: ${join(dir, "40-stray.key")} skipped: a key no certificate in ${dir} matches`,
      `tls.dir: "a.test" is also a name of ${join(dir, "05-a.pem")} (tls.dir), which serves it (the first wins); ${join(dir, "20-fullchain.pem")} does not`,
    ]);
    expect(choose(r.set!, undefined)?.certFile).toBe(join(dir, "05-a.pem"));
    expect(serving(r.set!, "dup.test")?.keyFile).toBe(join(dir, "21-privkey.pem"));
  });

  test("a directory with nothing usable, and one that does not exist, are errors", () => {
    const empty = join(d.dir, "empty");
    mkdirSync(empty);
    writeFileSync(join(empty, "a.crt"), "not a certificate");
    const r = loadCertificates(cfg({ kind: "dir", dir: empty }));
    expect(r.set).toBeUndefined();
    expect(r.problems.map((p) => p.key)).toEqual(["tls.dir"]);
    expect(r.problems[0].message).toStartWith(`${empty} holds no usable certificate and key`);
    const gone = loadCertificates(cfg({ kind: "dir", dir: join(d.dir, "nowhere") }), "starttls");
    expect(gone.problems).toEqual([{ key: "starttls.dir", message: `cannot list ${join(d.dir, "nowhere")}: no such file (ENOENT)` }]);
  });
});
