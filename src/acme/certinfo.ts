/**
 * What ACME needs to know of a certificate, read from its DER: validity,
 * serial and Authority Key Identifier (for the RFC 9773 certID), names and
 * issuer. Pure: PEM text in, facts out.
 */
import { X509Certificate } from "node:crypto";
import * as der from "./der.ts";

export interface CertInfo {
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The serial's DER content bytes (a leading 0 kept), as RFC 9773 wants them. */
  readonly serial: Uint8Array;
  /** The keyIdentifier of the Authority Key Identifier extension, when present. */
  readonly authorityKeyId: Uint8Array | undefined;
  /** DNS names of the subjectAltName extension. */
  readonly names: readonly string[];
  /** The issuer's distinguished name, one line ("CN=Pebble Intermediate CA 6d0bd3"). */
  readonly issuer: string;
}

/** The PEM blocks of a chain, leaf first. */
export function splitPem(chain: string): string[] {
  return chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

function readTime(buf: Uint8Array, e: der.Element): Date {
  const s = new TextDecoder().decode(buf.subarray(e.start, e.end));
  const full = e.tag === 0x17 ? `${Number(s.slice(0, 2)) >= 50 ? "19" : "20"}${s}` : s;
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(full);
  if (!m) throw new RangeError(`certificate time ${JSON.stringify(s)} is not YYMMDDHHMMSSZ`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

/** Reads the leaf (first certificate) of a PEM chain; throws RangeError when it is not a certificate. */
export function certInfo(chainPem: string): CertInfo {
  const first = splitPem(chainPem)[0];
  if (first === undefined) throw new RangeError("no PEM certificate found");
  const x = new X509Certificate(first);
  const buf = new Uint8Array(x.raw);
  const tbs = der.children(buf, der.read(buf, 0))[0];
  const fields = der.children(buf, tbs);
  const at = fields[0].tag === 0xa0 ? 1 : 0; // [0] version
  const serialEl = fields[at];
  const validity = der.children(buf, fields[at + 3]);
  let authorityKeyId: Uint8Array | undefined;
  const extsWrapper = fields.find((f) => f.tag === 0xa3);
  if (extsWrapper) {
    const exts = der.children(buf, der.children(buf, extsWrapper)[0]);
    for (const ext of exts) {
      const parts = der.children(buf, ext);
      if (der.readOid(buf, parts[0]) !== "2.5.29.35") continue;
      const value = parts[parts.length - 1]; // OCTET STRING
      const aki = der.read(buf, value.start);
      const keyId = der.children(buf, aki).find((c) => c.tag === 0x80);
      if (keyId) authorityKeyId = buf.slice(keyId.start, keyId.end);
    }
  }
  const names = (x.subjectAltName ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4));
  return {
    notBefore: readTime(buf, validity[0]),
    notAfter: readTime(buf, validity[1]),
    serial: buf.slice(serialEl.start, serialEl.end),
    authorityKeyId,
    names,
    issuer: x.issuer.split("\n").join(", "),
  };
}
