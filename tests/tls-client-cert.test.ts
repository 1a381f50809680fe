/** Client certificates as plb tells them: RFC 4514 names, the request fields, and the route condition. */
import { beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { certSatisfies, clientCertFields, describeClientCert, distinguishedName } from "../src/tls/client-cert.ts";
import { CertDir } from "./support/certs.ts";

let alice: X509Certificate;

beforeAll(async () => {
  const d = new CertDir();
  const ca = await d.ca("Test CA");
  const p = await d.cert("alice", { subject: "/CN=alice/O=Example, Inc.", dns: ["Alice.Example"], extraSan: ["email:alice@example.com"], ca, client: true });
  alice = new X509Certificate(readFileSync(p.cert));
});

describe("client certificates", () => {
  test("distinguished names: last RDN first, special characters and non-ASCII escaped", () => {
    expect(distinguishedName("CN=alice\nO=Example\\, Inc.")).toBe("O=Example\\, Inc.,CN=alice");
    expect(distinguishedName("CN=Jürgen")).toBe("CN=J\\C3\\BCrgen");
    expect(distinguishedName("CN=a\tb")).toBe("CN=a\\09b");
  });

  test("fields: verified, subject, issuer, SHA-256 fingerprint, URL-encoded PEM; NONE without a certificate", () => {
    const c = describeClientCert(alice, true);
    expect(c.san).toEqual(["alice.example", "alice@example.com"]);
    const f = Object.fromEntries(clientCertFields(c));
    expect(f["X-Client-Cert-Verified"]).toBe("SUCCESS");
    expect(f["X-Client-Cert-Subject"]).toBe("O=Example\\, Inc.,CN=alice");
    expect(f["X-Client-Cert-Issuer"]).toBe("CN=Test CA");
    expect(f["X-Client-Cert-Fingerprint"]).toMatch(/^[0-9a-f]{64}$/);
    expect(f["X-Client-Cert-Fingerprint"]).toBe(alice.fingerprint256.replace(/:/g, "").toLowerCase());
    expect(decodeURIComponent(f["X-Client-Cert"])).toBe(alice.toString());
    expect(f["X-Client-Cert"]).not.toMatch(/[\r\n ]/);
    expect(Object.fromEntries(clientCertFields(describeClientCert(alice, false)))["X-Client-Cert-Verified"]).toBe("FAILED");
    expect(clientCertFields(undefined)).toEqual([["X-Client-Cert-Verified", "NONE"]]);
  });

  test("route condition: only a verified certificate, with the subject or one of the SAN values given", () => {
    const c = describeClientCert(alice, true);
    const any = { subject: undefined, san: undefined };
    expect(certSatisfies(any, c)).toBe(true);
    expect(certSatisfies(any, describeClientCert(alice, false))).toBe(false);
    expect(certSatisfies(any, undefined)).toBe(false);
    expect(certSatisfies({ subject: "O=Example\\, Inc.,CN=alice", san: undefined }, c)).toBe(true);
    expect(certSatisfies({ subject: "CN=alice", san: undefined }, c)).toBe(false);
    expect(certSatisfies({ subject: undefined, san: ["bob.example", "ALICE.example"] }, c)).toBe(true);
    expect(certSatisfies({ subject: undefined, san: ["alice@example.com"] }, c)).toBe(true);
    expect(certSatisfies({ subject: undefined, san: ["bob.example"] }, c)).toBe(false);
  });
});
