/**
 * Keys for ACME accounts and certificates (node:crypto): ECDSA P-256 by
 * default, RSA 2048 on request; their JWK (RFC 7517), thumbprint (RFC 7638)
 * and the two signature forms ACME needs (JWS: raw r||s for ES256; X.509
 * and PKCS#10: DER).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import * as der from "./der.ts";

export type KeyType = "ecdsa" | "rsa";

export function generateKey(type: KeyType): KeyObject {
  return type === "rsa"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey
    : generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
}

/** PKCS#8 PEM of a private key (what storage writes). */
export function keyToPem(key: KeyObject): string {
  return key.export({ type: "pkcs8", format: "pem" }) as string;
}

export function keyFromPem(pem: string): KeyObject {
  return createPrivateKey(pem);
}

/** "ecdsa" or "rsa"; anything else (another curve, Ed25519, a small RSA key) is refused. */
export function keyType(key: KeyObject): KeyType {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === "ec" && d.namedCurve === "prime256v1") return "ecdsa";
  if (key.asymmetricKeyType === "rsa" && (d.modulusLength ?? 0) >= 2048) return "rsa";
  throw new RangeError(`unsupported key: ${key.asymmetricKeyType} ${d.namedCurve ?? d.modulusLength ?? ""} (ECDSA P-256 or RSA 2048+)`);
}

/** The public half (Bun's createPublicKey refuses a key that is public already). */
function publicOf(key: KeyObject): KeyObject {
  return key.type === "public" ? key : createPublicKey(key);
}

export function base64url(bytes: Uint8Array | string): string {
  return Buffer.from(bytes).toString("base64url");
}

/** The public JWK with only its required members, in lexicographic order (RFC 7638 §3). */
export function publicJwk(key: KeyObject): Record<string, string> {
  const jwk = publicOf(key).export({ format: "jwk" }) as Record<string, string>;
  return keyType(key) === "ecdsa" ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
}

/** RFC 7638 thumbprint (SHA-256, base64url): the second half of every key authorization. */
export function thumbprint(key: KeyObject): string {
  return base64url(createHash("sha256").update(JSON.stringify(publicJwk(key))).digest());
}

export function jwsAlgorithm(key: KeyObject): "ES256" | "RS256" {
  return keyType(key) === "ecdsa" ? "ES256" : "RS256";
}

/** A JWS signature: ES256 as the raw 64-byte r||s (RFC 7518 §3.4), RS256 as PKCS#1 v1.5. */
export function signJws(key: KeyObject, data: Uint8Array): Uint8Array {
  return keyType(key) === "ecdsa" ? sign("sha256", data, { key, dsaEncoding: "ieee-p1363" }) : sign("sha256", data, key);
}

/** The AlgorithmIdentifier for a signature by `key`: ecdsa-with-SHA256, or sha256WithRSAEncryption with NULL parameters. */
export function signatureAlgorithm(key: KeyObject): der.Der {
  return keyType(key) === "ecdsa" ? der.sequence(der.oid("1.2.840.10045.4.3.2")) : der.sequence(der.oid("1.2.840.113549.1.1.11"), der.nullValue());
}

/** A signature for X.509 and PKCS#10 (ECDSA as a DER Ecdsa-Sig-Value). */
export function signDer(key: KeyObject, data: Uint8Array): Uint8Array {
  return sign("sha256", data, key);
}

/** The SubjectPublicKeyInfo DER of `key`'s public half. */
export function spki(key: KeyObject): Uint8Array {
  return new Uint8Array(publicOf(key).export({ type: "spki", format: "der" }));
}
