/**
 * What the ACME manager publishes for the listeners to serve, in one
 * place for every process: certificates (src/tls/managed.ts), HTTP-01
 * tokens and TLS-ALPN-01 validation certificates. The manager's process
 * (the single process, or the master of workers) applies each change here
 * and hands it to `forward` (workers/master.ts sends it to every worker,
 * which applies it with `applyAcmePush`; a worker that starts gets
 * `acmeSnapshot()`).
 */
import { type ManagedCertificate, managedCertificates } from "../tls/managed.ts";
import { type Http01Tokens, MemoryHttp01Tokens, MemoryTlsAlpn01Certs, type Responders, type TlsAlpn01Certs, type ValidationCert } from "./challenges.ts";

/** This process's pending HTTP-01 answers (src/http/acme-challenge.ts reads them). */
export const http01Tokens = new MemoryHttp01Tokens();
/** This process's TLS-ALPN-01 validation certificates, by name. */
export const tlsAlpn01Certs = new MemoryTlsAlpn01Certs();

export type AcmePush =
  | { readonly kind: "certificate"; readonly certificate: ManagedCertificate }
  | { readonly kind: "http-01"; readonly token: string; readonly keyAuthorization: string | undefined }
  | { readonly kind: "tls-alpn-01"; readonly name: string; readonly cert: ValidationCert | undefined };

/** Put one change in force in this process. */
export function applyAcmePush(p: AcmePush): void {
  switch (p.kind) {
    case "certificate":
      return managedCertificates.put(p.certificate);
    case "http-01":
      return p.keyAuthorization === undefined ? http01Tokens.delete(p.token) : http01Tokens.set(p.token, p.keyAuthorization);
    case "tls-alpn-01":
      if (p.cert === undefined) tlsAlpn01Certs.delete(p.name);
      else tlsAlpn01Certs.set(p.name, p.cert);
      return managedCertificates.setValidation(p.name, p.cert);
  }
}

/** Everything in force, as pushes (for a worker that starts). */
export function acmeSnapshot(): AcmePush[] {
  return [
    ...managedCertificates.all().map((certificate) => ({ kind: "certificate", certificate }) as const),
    ...http01Tokens.entries().map(([token, keyAuthorization]) => ({ kind: "http-01", token, keyAuthorization }) as const),
    ...tlsAlpn01Certs.entries().map(([name, cert]) => ({ kind: "tls-alpn-01", name, cert }) as const),
  ];
}

/** Where a change goes besides this process (workers); none in a single process. */
export type Forward = (p: AcmePush) => void;

let forward: Forward = () => {};

/** The master sends every change to its workers from now on. */
export function forwardAcme(f: Forward): void {
  forward = f;
}

/** Apply `p` here and forward it. */
export function publish(p: AcmePush): void {
  applyAcmePush(p);
  forward(p);
}

/** The manager's responders: every set and delete is published. */
export function publishingResponders(which: { readonly http01: boolean; readonly tlsAlpn01: boolean }): Responders {
  const http01: Http01Tokens = {
    set: (token, keyAuthorization) => publish({ kind: "http-01", token, keyAuthorization }),
    delete: (token) => publish({ kind: "http-01", token, keyAuthorization: undefined }),
    get: (token) => http01Tokens.get(token),
  };
  const tlsAlpn01: TlsAlpn01Certs = {
    set: (name, cert) => publish({ kind: "tls-alpn-01", name, cert }),
    delete: (name) => publish({ kind: "tls-alpn-01", name, cert: undefined }),
    get: (name) => tlsAlpn01Certs.get(name),
  };
  return { ...(which.http01 ? { http01 } : {}), ...(which.tlsAlpn01 ? { tlsAlpn01 } : {}) };
}
