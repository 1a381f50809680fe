import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate, createHash } from "node:crypto";
import * as der from "../src/acme/der.ts";
import { csr, pem, selfSigned } from "../src/acme/certs.ts";
import { generateKey, keyToPem } from "../src/acme/keys.ts";

const dir = mkdtempSync(join(tmpdir(), "plb-acme-der-"));

function openssl(args: string[], input?: string): { code: number; out: string } {
  const p = Bun.spawnSync(["openssl", ...args], { stdin: input === undefined ? "ignore" : Buffer.from(input), stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: `${p.stdout.toString()}${p.stderr.toString()}` };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

test("DER primitives encode as X.690 says (lengths, integers, OIDs, times)", () => {
  expect(hex(der.integer(0))).toBe("020100");
  expect(hex(der.integer(127))).toBe("02017f");
  expect(hex(der.integer(128))).toBe("02020080");
  expect(hex(der.unsignedInteger(Uint8Array.of(0, 0, 0x12)))).toBe("020112");
  expect(hex(der.oid("1.2.840.10045.4.3.2"))).toBe("06082a8648ce3d040302");
  expect(hex(der.oid("1.3.6.1.5.5.7.1.31"))).toBe("06082b0601050507011f");
  expect(hex(der.octetString(new Uint8Array(200))).slice(0, 6)).toBe("0481c8");
  expect(hex(der.octetString(new Uint8Array(300))).slice(0, 8)).toBe("0482012c");
  expect(new TextDecoder().decode(der.time(new Date("2026-12-07T22:58:13Z")).subarray(2))).toBe("261207225813Z");
  expect(new TextDecoder().decode(der.time(new Date("2050-01-01T00:00:00Z")).subarray(2))).toBe("20500101000000Z");
  expect(der.time(new Date("2050-01-01T00:00:00Z"))[0]).toBe(0x18);
  const seq = der.sequence(der.oid("2.5.29.17"), der.boolean(true));
  const kids = der.children(seq, der.read(seq));
  expect(kids.map((k) => k.tag)).toEqual([0x06, 0x01]);
  expect(der.readOid(seq, kids[0])).toBe("2.5.29.17");
  expect(() => der.read(Uint8Array.of(0x30, 0x05, 0x01))).toThrow(RangeError);
  expect(() => der.oid("1")).toThrow(RangeError);
});

for (const type of ["ecdsa", "rsa"] as const) {
  test(`a ${type} CSR for two names verifies with openssl req -verify and carries both names in its SAN`, () => {
    const key = generateKey(type);
    const path = join(dir, `${type}.csr`);
    writeFileSync(path, pem("CERTIFICATE REQUEST", csr(["a.test", "www.a.test"], key)));
    const r = openssl(["req", "-verify", "-noout", "-text", "-in", path]);
    expect(r.out).toContain("verify OK");
    expect(r.code).toBe(0);
    expect(r.out).toContain("Subject: CN = a.test");
    expect(r.out).toContain("DNS:a.test, DNS:www.a.test");
    expect(r.out).toContain(type === "ecdsa" ? "ecdsa-with-SHA256" : "sha256WithRSAEncryption");
    // The public key in the CSR is the key's own.
    const pub = openssl(["req", "-pubkey", "-noout", "-in", path]).out;
    const mine = openssl(["pkey", "-pubout"], keyToPem(key)).out;
    expect(pub.trim()).toBe(mine.trim());
    expect(openssl(["asn1parse", "-in", path]).out).toContain(":Extension Request");
  });
}

test("a name too long for a CN leaves the subject empty; the SAN still names it", () => {
  const long = `${"x".repeat(60)}.example.com`;
  const path = join(dir, "long.csr");
  writeFileSync(path, pem("CERTIFICATE REQUEST", csr([long], generateKey("ecdsa"))));
  const r = openssl(["req", "-verify", "-noout", "-text", "-in", path]);
  expect(r.code).toBe(0);
  expect(r.out).not.toContain("CN =");
  expect(r.out).toContain(`DNS:${long}`);
});

test("the TLS-ALPN-01 certificate: self-signed, SAN = the name, critical acmeIdentifier with SHA-256 of the key authorization (RFC 8737)", () => {
  const key = generateKey("ecdsa");
  const keyAuthorization = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
  const cert = selfSigned({ names: ["a.test"], key, keyAuthorization });
  const path = join(dir, "alpn.pem");
  writeFileSync(path, pem("CERTIFICATE", cert));
  const text = openssl(["x509", "-noout", "-text", "-in", path]).out;
  expect(text).toContain("DNS:a.test");
  expect(text).toContain("1.3.6.1.5.5.7.1.31: critical");
  // Signed by its own key.
  const x = new X509Certificate(pem("CERTIFICATE", cert));
  expect(x.verify(x.publicKey)).toBe(true);
  // The extension's value is an OCTET STRING holding the 32-byte digest.
  const parsed = openssl(["asn1parse", "-in", path]).out;
  const digest = createHash("sha256").update(keyAuthorization).digest("hex").toUpperCase();
  expect(parsed).toContain(`[HEX DUMP]:0420${digest}`);
});

test("a placeholder certificate names every name, is valid now, and openssl verifies it against itself once trusted", () => {
  const key = generateKey("rsa");
  const path = join(dir, "placeholder.pem");
  writeFileSync(path, pem("CERTIFICATE", selfSigned({ names: ["a.test", "b.test"], key })));
  const text = openssl(["x509", "-noout", "-text", "-in", path]).out;
  expect(text).toContain("DNS:a.test, DNS:b.test");
  expect(openssl(["x509", "-noout", "-checkend", "3600", "-in", path]).code).toBe(0);
  const v = openssl(["verify", "-partial_chain", "-trusted", path, path]);
  expect(v.out).toContain("OK");
});

test("the same code in a compiled single binary (bun build --compile) makes CSRs openssl verifies", () => {
  const out = join(dir, "acme-in-binary");
  const entry = join(import.meta.dir, "support", "acme-in-binary.ts");
  const b = Bun.spawnSync([process.execPath, "build", "--compile", entry, "--outfile", out], { stdout: "pipe", stderr: "pipe" });
  expect(b.stderr.toString()).not.toContain("error");
  expect(b.exitCode).toBe(0);
  for (const type of ["ecdsa", "rsa"]) {
    const r = Bun.spawnSync([out, type], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    const made = JSON.parse(r.stdout.toString()) as { csr: string; cert: string; names: string[]; thumbprint: string };
    writeFileSync(join(dir, `bin-${type}.csr`), made.csr);
    const v = openssl(["req", "-verify", "-noout", "-text", "-in", join(dir, `bin-${type}.csr`)]);
    expect(v.out).toContain("verify OK");
    expect(v.out).toContain("DNS:bin.test, DNS:www.bin.test");
    expect(made.names).toEqual(["bin.test"]);
    expect(made.thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
  }
}, 60_000);
