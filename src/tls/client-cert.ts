/**
 * What plb tells of a client's certificate (client_ca set): the request
 * fields an http server gets, and the route condition `client_cert`.
 * Pure functions over node:crypto's X509Certificate.
 *
 * Fields (nginx's variables in brackets), added to every request of a
 * connection of a service with client_ca, whatever the route:
 *   X-Client-Cert-Verified     SUCCESS | FAILED | NONE   ($ssl_client_verify, without FAILED's reason)
 *   X-Client-Cert-Subject      subject DN, RFC 4514      ($ssl_client_s_dn)
 *   X-Client-Cert-Issuer       issuer DN, RFC 4514       ($ssl_client_i_dn)
 *   X-Client-Cert-Fingerprint  SHA-256 of the DER, hex lowercase (nginx: SHA-1 in $ssl_client_fingerprint)
 *   X-Client-Cert              the PEM, URL-encoded      ($ssl_client_escaped_cert)
 * Fields of those names that a client sends are always removed (every http
 * service), so a server behind plb can trust them.
 */
import type { X509Certificate } from "node:crypto";

/** The fields plb sets, lowercased (always removed from what clients send). */
export const CLIENT_CERT_FIELDS = ["x-client-cert-verified", "x-client-cert-subject", "x-client-cert-issuer", "x-client-cert-fingerprint", "x-client-cert"] as const;

export interface ClientCertificate {
  /** Chains to client_ca. */
  readonly verified: boolean;
  readonly subject: string;
  readonly issuer: string;
  /** SHA-256 of the DER, hex lowercase without colons. */
  readonly fingerprint: string;
  /** subjectAltName values without their type: DNS names lowercased, e-mail addresses, URIs. */
  readonly san: readonly string[];
  readonly pem: string;
}

/** A route's requirement on the client certificate: a verified one, with this subject or one of these SAN values when given. */
export interface ClientCertCondition {
  readonly subject: string | undefined;
  readonly san: readonly string[] | undefined;
}

/**
 * "CN=alice\nO=Example" (node's, certificate order, RFC 4514 specials
 * already escaped by OpenSSL) → "O=Example,CN=alice" (RFC 4514: last RDN
 * first), with bytes outside visible ASCII escaped as \XX (UTF-8).
 */
export function distinguishedName(lines: string): string {
  const rdns = lines.split("\n").filter((l) => l !== "");
  return rdns.reverse().map(escapeRdn).join(",");
}

function escapeRdn(rdn: string): string {
  const eq = rdn.indexOf("=");
  const type = rdn.slice(0, eq);
  const value = rdn.slice(eq + 1);
  let out = "";
  const bytes = new TextEncoder().encode(value);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    out += b < 0x20 || b > 0x7e ? `\\${b.toString(16).padStart(2, "0").toUpperCase()}` : String.fromCharCode(b);
  }
  return `${type}=${out}`;
}

/** The certificate as the fields and conditions see it. */
export function describeClientCert(cert: X509Certificate, verified: boolean): ClientCertificate {
  const san = (cert.subjectAltName ?? "")
    .split(", ")
    .map((e) => {
      const colon = e.indexOf(":");
      const kind = e.slice(0, colon);
      const v = e.slice(colon + 1).replace(/^"(.*)"$/, "$1");
      return kind === "DNS" ? v.toLowerCase() : kind === "email" || kind === "URI" ? v : "";
    })
    .filter((v) => v !== "");
  return {
    verified,
    subject: distinguishedName(cert.subject),
    issuer: distinguishedName(cert.issuer),
    fingerprint: cert.fingerprint256.replace(/:/g, "").toLowerCase(),
    san,
    pem: cert.toString(),
  };
}

/** The request fields for a connection's certificate (undefined: the client showed none). */
export function clientCertFields(c: ClientCertificate | undefined): [string, string][] {
  if (c === undefined) return [["X-Client-Cert-Verified", "NONE"]];
  return [
    ["X-Client-Cert-Verified", c.verified ? "SUCCESS" : "FAILED"],
    ["X-Client-Cert-Subject", c.subject],
    ["X-Client-Cert-Issuer", c.issuer],
    ["X-Client-Cert-Fingerprint", c.fingerprint],
    ["X-Client-Cert", encodeURIComponent(c.pem)],
  ];
}

/** Does the connection's certificate meet `cond`? Only a verified certificate can. */
export function certSatisfies(cond: ClientCertCondition, c: ClientCertificate | undefined): boolean {
  if (c === undefined || !c.verified) return false;
  if (cond.subject !== undefined && c.subject !== cond.subject) return false;
  if (cond.san !== undefined && !cond.san.some((s) => c.san.includes(s.includes("@") || s.includes(":") ? s : s.toLowerCase()))) return false;
  return true;
}
