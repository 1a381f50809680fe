/**
 * Certificates plb manages itself (ACME: stored, placeholder, issued), by
 * name, for this process. The ACME manager (or, in a worker, the master's
 * messages) `put`s each new certificate here; every Bun listener whose
 * `tls` names it (`tls = { acme = [...] }`) is given the new certificate
 * for those names at once, through the same SNI mechanism as the files
 * (sni.ts). Bun replaces a name's context in its SNI tree when it is added
 * again: new handshakes get the new certificate, connections already open
 * keep theirs, other names are not touched (tests/tls-managed.test.ts).
 *
 * Listeners are tracked by the Bun listener object (a resume or a reload
 * makes a new one on the same socket and attaches it again); a stopped one
 * (fd < 0) is dropped at the next attach or change.
 */
import type { CertificateSource } from "../acme/manager.ts";
import { logger } from "../log.ts";

const log = logger("tls");

/** Where a managed certificate came from: the ACME manager's word for it. */
export type ManagedSource = CertificateSource;

export interface ManagedCertificate {
  /** Normalized names (lowercase), as the order named them. */
  readonly names: readonly string[];
  readonly chainPem: string;
  readonly keyPem: string;
  /** ISO time (crosses the workers' IPC unchanged). */
  readonly notAfter: string;
  readonly issuer: string;
  readonly source: ManagedSource;
}

/** Give `listener` the certificates of `names` (undefined: every managed name it serves). */
export type Reattach = (listener: unknown, names: readonly string[] | undefined) => void;

const stopped = (l: unknown) => ((l as { fd?: number }).fd ?? 0) < 0;

/** A TLS-ALPN-01 validation certificate (RFC 8737) served for one name while the CA checks it. */
export interface ValidationPair {
  readonly certPem: string;
  readonly keyPem: string;
}

export class ManagedCertificates {
  private readonly byName = new Map<string, ManagedCertificate>();
  private readonly validations = new Map<string, ValidationPair>();
  private readonly listeners = new Map<unknown, Reattach>();

  /** The TLS-ALPN-01 validation certificate served for `name` now (it wins over the managed one), or undefined. */
  validation(name: string): ValidationPair | undefined {
    return this.validations.get(name);
  }

  /**
   * Serve `pair` for `name` while the CA validates it (undefined: back to
   * its certificate). Bun picks the certificate by name before ALPN, so
   * every client of the name gets it meanwhile: acme/manager.ts uses
   * TLS-ALPN-01 only while the name has a placeholder unless told otherwise.
   */
  setValidation(name: string, pair: ValidationPair | undefined): void {
    const n = name.toLowerCase();
    if (pair === undefined) this.validations.delete(n);
    else this.validations.set(n, pair);
    this.changed([n]);
  }

  /** The certificate now served for `name`, or undefined. */
  get(name: string): ManagedCertificate | undefined {
    return this.byName.get(name);
  }

  /** Every name and its certificate, in name order. */
  entries(): [string, ManagedCertificate][] {
    return [...this.byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The distinct certificates (a worker's first snapshot). */
  all(): ManagedCertificate[] {
    return [...new Set(this.byName.values())];
  }

  /** Serve `cert` for its names from now on, on every tracked listener (new connections). */
  put(cert: ManagedCertificate): void {
    for (const n of cert.names) this.byName.set(n, cert);
    this.changed(cert.names);
  }

  private changed(names: readonly string[]): void {
    for (const [l, reattach] of this.listeners) {
      if (stopped(l)) {
        this.listeners.delete(l);
        continue;
      }
      try {
        reattach(l, names);
      } catch (err) {
        log.error(`the new certificate of ${names.join(", ")} cannot be given to a listener: ${(err as Error).message}; it keeps the previous one`);
      }
    }
  }

  /** `listener` serves managed names through `reattach` (the listener's TLS settings in force). */
  track(listener: unknown, reattach: Reattach): void {
    for (const l of this.listeners.keys()) if (stopped(l)) this.listeners.delete(l);
    this.listeners.set(listener, reattach);
  }

  /** Forget every certificate (tests). */
  clear(): void {
    this.byName.clear();
    this.validations.clear();
    this.listeners.clear();
  }
}

/** This process's managed certificates. */
export const managedCertificates = new ManagedCertificates();
