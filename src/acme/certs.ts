/**
 * The DER documents plb makes itself: the PKCS#10 request sent to finalize
 * an order (names in a subjectAltName extension), the TLS-ALPN-01
 * validation certificate (RFC 8737: self-signed, SAN = the name, critical
 * id-pe-acmeIdentifier with the SHA-256 of the key authorization), and the
 * self-signed placeholder served for a name until its certificate comes.
 */
import { createHash, type KeyObject, randomBytes } from "node:crypto";
import * as der from "./der.ts";
import { signatureAlgorithm, signDer, spki } from "./keys.ts";

const OID = {
  commonName: "2.5.4.3",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  extensionRequest: "1.2.840.113549.1.9.14",
  acmeIdentifier: "1.3.6.1.5.5.7.1.31",
} as const;

/** A Name with one CN (empty when `cn` is undefined or too long for a CN: 64 characters). */
function name(cn: string | undefined): der.Der {
  if (cn === undefined || cn.length > 64) return der.sequence();
  return der.sequence(der.set(der.sequence(der.oid(OID.commonName), der.utf8String(cn))));
}

function extension(id: string, critical: boolean, value: der.Der): der.Der {
  return critical ? der.sequence(der.oid(id), der.boolean(true), der.octetString(value)) : der.sequence(der.oid(id), der.octetString(value));
}

/** subjectAltName with one dNSName per name (names are ASCII: A-labels). */
function subjectAltName(names: readonly string[]): der.Der {
  if (names.length === 0) throw new RangeError("a certificate needs at least one name");
  return extension(OID.subjectAltName, false, der.sequence(...names.map((n) => der.implicitPrimitive(2, new TextEncoder().encode(n)))));
}

function signed(key: KeyObject, body: der.Der): der.Der {
  return der.sequence(body, signatureAlgorithm(key), der.bitString(signDer(key, body)));
}

/** A PKCS#10 certification request for `names` (CN = the first name when it fits), signed by `key`. */
export function csr(names: readonly string[], key: KeyObject): Uint8Array {
  const attributes = der.implicitConstructed(0, der.sequence(der.oid(OID.extensionRequest), der.set(der.sequence(subjectAltName(names)))));
  const info = der.sequence(der.integer(0), name(names[0]), spki(key), attributes);
  return signed(key, info);
}

export interface SelfSignedOptions {
  readonly names: readonly string[];
  readonly key: KeyObject;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** RFC 8737: the key authorization whose SHA-256 goes in the critical acmeIdentifier extension. */
  readonly keyAuthorization?: string;
}

/** A self-signed X.509 v3 certificate (DER) for `names`. */
export function selfSigned(o: SelfSignedOptions): Uint8Array {
  const now = Date.now();
  const notBefore = o.notBefore ?? new Date(now - 60_000);
  const notAfter = o.notAfter ?? new Date(now + 7 * 86_400_000);
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  serial[0] |= 0x01; // positive and 16 bytes long
  const extensions = [
    subjectAltName(o.names),
    extension(OID.basicConstraints, true, der.sequence()),
    extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
  ];
  if (o.keyAuthorization !== undefined) {
    const digest = createHash("sha256").update(o.keyAuthorization).digest();
    extensions.push(extension(OID.acmeIdentifier, true, der.octetString(new Uint8Array(digest))));
  }
  const subject = name(o.names[0]);
  const tbs = der.sequence(
    der.explicit(0, der.integer(2)),
    der.unsignedInteger(serial),
    signatureAlgorithm(o.key),
    subject,
    der.sequence(der.time(notBefore), der.time(notAfter)),
    subject,
    spki(o.key),
    der.explicit(3, der.sequence(...extensions)),
  );
  return signed(o.key, tbs);
}

/** PEM armour around DER. */
export function pem(label: "CERTIFICATE" | "CERTIFICATE REQUEST", bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString("base64");
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, "$&\n")}-----END ${label}-----\n`;
}
