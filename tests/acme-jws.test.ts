import { expect, test } from "bun:test";
import { createPublicKey, verify } from "node:crypto";
import { signedRequest } from "../src/acme/jws.ts";
import { generateKey, jwsAlgorithm, keyFromPem, keyToPem, keyType, publicJwk, thumbprint } from "../src/acme/keys.ts";

const decode = (s: string) => JSON.parse(Buffer.from(s, "base64url").toString("utf8"));

for (const type of ["ecdsa", "rsa"] as const) {
  test(`${type}: the JWS verifies with node:crypto over protected.payload, with alg, nonce, url and jwk or kid`, () => {
    const key = generateKey(type);
    const alg = type === "ecdsa" ? "ES256" : "RS256";
    const withJwk = signedRequest({ key, url: "https://ca/new-acct", nonce: "n1", payload: { termsOfServiceAgreed: true } });
    const header = decode(withJwk.protected);
    expect(header).toEqual({ alg, jwk: publicJwk(key), nonce: "n1", url: "https://ca/new-acct" });
    expect(decode(withJwk.payload)).toEqual({ termsOfServiceAgreed: true });
    const data = Buffer.from(`${withJwk.protected}.${withJwk.payload}`);
    const sig = Buffer.from(withJwk.signature, "base64url");
    const pub = createPublicKey(key);
    if (type === "ecdsa") {
      expect(sig.length).toBe(64); // raw r||s, not DER (RFC 7518 §3.4)
      expect(verify("sha256", data, { key: pub, dsaEncoding: "ieee-p1363" }, sig)).toBe(true);
    } else {
      expect(verify("sha256", data, pub, sig)).toBe(true);
    }
    // A tampered payload does not verify.
    expect(verify("sha256", Buffer.from(`${withJwk.protected}.e30`), type === "ecdsa" ? { key: pub, dsaEncoding: "ieee-p1363" } : pub, sig)).toBe(false);

    const asGet = signedRequest({ key, url: "https://ca/order/1", nonce: "n2", kid: "https://ca/acct/7" });
    expect(asGet.payload).toBe(""); // POST-as-GET
    expect(decode(asGet.protected)).toEqual({ alg, kid: "https://ca/acct/7", nonce: "n2", url: "https://ca/order/1" });
    expect(jwsAlgorithm(key)).toBe(alg);
    expect(keyType(keyFromPem(keyToPem(key)))).toBe(type);
  });
}

test("the thumbprint is RFC 7638's for its example key", () => {
  const n =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
  const key = createPublicKey({ key: { kty: "RSA", n, e: "AQAB" }, format: "jwk" });
  // thumbprint() takes a private key in plb; the public half is what it hashes, so a public KeyObject works too.
  expect(thumbprint(key as never)).toBe("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
});

test("keys other than P-256 or RSA ≥ 2048 are refused by name", () => {
  const { generateKeyPairSync } = require("node:crypto") as typeof import("node:crypto");
  expect(() => keyType(generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey)).toThrow(/unsupported key: ec secp384r1/);
  expect(() => keyType(generateKeyPairSync("ed25519").privateKey)).toThrow(/unsupported key: ed25519/);
});
