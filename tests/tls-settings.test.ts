/** The `tls` value: the three certificate forms, the profile knobs, client certificates, and a message naming the key for each mistake. */
import { describe, expect, test } from "bun:test";
import { checkListenTls } from "../src/tls/settings.ts";
import { INTERMEDIATE_CIPHERS, alpnWire, profileFor } from "../src/tls/profile.ts";

const ok = (v: unknown) => {
  const r = checkListenTls("tls", v);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};
const error = (v: unknown, k = "tls") => {
  const r = checkListenTls(k, v);
  return r.ok ? "accepted" : r.error;
};

describe("checkListenTls", () => {
  test("the three forms, with the defaults", () => {
    const defaults = { strict_sni: false, min_version: "1.2" as const, ciphers: undefined, client_ca: undefined, client_verify: undefined };
    expect(ok({ cert: "a.pem", key: "a.key" })).toEqual({ source: { kind: "pairs", pairs: [{ cert: "a.pem", key: "a.key" }], form: "cert" }, ...defaults });
    expect(ok({ certs: [{ cert: "a.pem", key: "a.key" }, { cert: "b.pem", key: "b.key" }] }).source).toEqual({
      kind: "pairs",
      pairs: [{ cert: "a.pem", key: "a.key" }, { cert: "b.pem", key: "b.key" }],
      form: "certs",
    });
    expect(ok({ dir: "/etc/plb/certs", strict_sni: true }).source).toEqual({ kind: "dir", dir: "/etc/plb/certs" });
  });

  test("min_version, ciphers, client_ca (client_verify defaults to required)", () => {
    expect(ok({ dir: "d", min_version: "1.3" }).min_version).toBe("1.3");
    expect(ok({ dir: "d", min_version: 1.3 }).min_version).toBe("1.3");
    expect(ok({ dir: "d", ciphers: "ECDHE-RSA-AES128-GCM-SHA256" }).ciphers).toBe("ECDHE-RSA-AES128-GCM-SHA256");
    expect(ok({ dir: "d", client_ca: "ca.pem" }).client_verify).toBe("required");
    expect(ok({ dir: "d", client_ca: "ca.pem", client_verify: "optional" }).client_verify).toBe("optional");
  });

  test("mistakes name the key", () => {
    expect(error("a.pem")).toStartWith('tls must be a table { cert = "…", key = "…" }');
    expect(error({})).toBe("tls needs its certificates: cert and key, certs = [{ cert, key }, …], dir, or acme");
    expect(error({ cert: "a", key: "b", dir: "d" })).toBe("tls: give one of cert/key, certs and dir, not cert/key and dir");
    expect(error({ cert: "a" })).toBe("tls.key must be the path of a PEM file, got undefined");
    expect(error({ certs: [] })).toBe("tls.certs must not be empty");
    expect(error({ certs: [{ cert: "a", key: "b" }, { cert: "c", kye: "d" }] })).toBe('tls.certs[1] has unknown key "kye" (expected cert and key)');
    expect(error({ certs: [{ cert: "a", key: 3 }] }, "starttls")).toBe("starttls.certs[0].key must be the path of a PEM file, got integer 3");
    expect(error({ dir: "d", strict_sin: true })).toStartWith('tls has unknown key "strict_sin" (did you mean "strict_sni"?)');
    expect(error({ dir: "d", min_version: "1.1" })).toBe('tls.min_version must be "1.2" or "1.3", got string "1.1"');
    expect(error({ dir: "d", ciphers: "NOT-A-CIPHER" })).toStartWith("tls.ciphers cannot be used: ");
    expect(error({ dir: "d", min_version: "1.3", ciphers: "ECDHE-RSA-AES128-GCM-SHA256" })).toStartWith('tls.ciphers chooses TLS 1.2 suites, and min_version = "1.3"');
    expect(error({ dir: "d", client_verify: "optional" })).toBe("tls.client_verify needs client_ca (the CAs client certificates are checked against)");
    expect(error({ dir: "d", client_ca: "ca.pem", client_verify: "maybe" })).toBe('tls.client_verify must be "required" or "optional", got string "maybe"');
  });
});

describe("profile", () => {
  test("intermediate: ECDHE with AEAD only (no CBC, no DHE), TLS 1.2 and 1.3; 1.3: modern", () => {
    const p = profileFor({ min_version: "1.2", ciphers: undefined });
    expect(p.ciphers).toBe(INTERMEDIATE_CIPHERS);
    for (const c of p.ciphers.split(":")) expect(c).toMatch(/^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    expect([p.minVersion, p.maxVersion]).toEqual([771, 772]);
    expect(profileFor({ min_version: "1.3", ciphers: undefined }).minVersion).toBe(772);
    expect(profileFor({ min_version: "1.2", ciphers: "ECDHE-RSA-AES128-GCM-SHA256" }).node.ciphers).toBe("ECDHE-RSA-AES128-GCM-SHA256");
  });

  test("ALPN names in the wire format, in the protocol's order", () => {
    expect([...alpnWire(["h2", "http/1.1"])!]).toEqual([2, ...Buffer.from("h2"), 8, ...Buffer.from("http/1.1")]);
    expect(alpnWire([])).toBeUndefined();
  });
});

test("acme names: DNS names only, and only for tls (smtp's starttls takes files)", () => {
  expect(ok({ acme: ["a.test"] })).toMatchObject({ source: { kind: "acme" }, acme: ["a.test"] });
  expect(ok({ acme: true, dir: "d" })).toMatchObject({ source: { kind: "dir", dir: "d" }, acme: true });
  expect(error({ acme: ["a.test"] }, "starttls")).toBe("starttls.acme: certificates from ACME are for a service's tls, not starttls");
  expect(error({ acme: ["a..test"] })).toBe('tls.acme[0]: "a..test" is not a DNS name a CA can issue for (labels of letters, digits and hyphens, at least two labels)');
  expect(error({ acme: ["-a.test"] })).toContain("is not a DNS name");
  expect(error({ acme: ["[::1]"] })).toContain("is an IP address");
});
