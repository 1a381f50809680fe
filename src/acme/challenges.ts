/**
 * Where the answers to pending challenges live while the CA checks them.
 * The ACME manager puts them in; whatever answers the CA reads them:
 *
 * - Http01Tokens: token → key authorization. An http service answers
 *   `GET /.well-known/acme-challenge/TOKEN` with it (200, text/plain)
 *   before any route (see `http01Token` for the path).
 * - TlsAlpn01Certs: name → the RFC 8737 validation certificate and key,
 *   served to a ClientHello with SNI = name and ALPN exactly `acme-tls/1`.
 *
 * The in-memory classes below serve one process; with workers the
 * integrator's implementation forwards set/delete to every worker.
 */

export type ChallengeType = "http-01" | "tls-alpn-01";

export interface Http01Tokens {
  set(token: string, keyAuthorization: string): void;
  delete(token: string): void;
  get(token: string): string | undefined;
}

export interface ValidationCert {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface TlsAlpn01Certs {
  set(name: string, cert: ValidationCert): void;
  delete(name: string): void;
  get(name: string): ValidationCert | undefined;
}

/** The challenge answerers plb has; a type without one is never chosen. */
export interface Responders {
  readonly http01?: Http01Tokens;
  readonly tlsAlpn01?: TlsAlpn01Certs;
}

/** The ALPN protocol of TLS-ALPN-01 validation handshakes. */
export const ACME_TLS_ALPN = "acme-tls/1";

const PREFIX = "/.well-known/acme-challenge/";

/** The token of an HTTP-01 request path, or undefined when the path is not one (tokens are base64url). */
export function http01Token(path: string): string | undefined {
  if (!path.startsWith(PREFIX)) return undefined;
  const token = path.slice(PREFIX.length);
  return /^[A-Za-z0-9_-]{1,256}$/.test(token) ? token : undefined;
}

export class MemoryHttp01Tokens implements Http01Tokens {
  private readonly map = new Map<string, string>();
  set(token: string, keyAuthorization: string): void {
    this.map.set(token, keyAuthorization);
  }
  delete(token: string): void {
    this.map.delete(token);
  }
  get(token: string): string | undefined {
    return this.map.get(token);
  }
  entries(): [string, string][] {
    return [...this.map];
  }
  get size(): number {
    return this.map.size;
  }
}

export class MemoryTlsAlpn01Certs implements TlsAlpn01Certs {
  private readonly map = new Map<string, ValidationCert>();
  set(name: string, cert: ValidationCert): void {
    this.map.set(name.toLowerCase(), cert);
  }
  delete(name: string): void {
    this.map.delete(name.toLowerCase());
  }
  get(name: string): ValidationCert | undefined {
    return this.map.get(name.toLowerCase());
  }
  entries(): [string, ValidationCert][] {
    return [...this.map];
  }
  get size(): number {
    return this.map.size;
  }
}
