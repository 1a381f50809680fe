/**
 * A listener's TLS, prepared from its `tls` value: the certificates read
 * and checked (store.ts), the profile (profile.ts), ALPN as the protocol
 * gives it, the client CA. src/net/listen.ts gives `options` to Bun.listen
 * and calls `attach` on every Bun listener it makes (start, resume, reload),
 * and asks `refusal` of every accepted socket before a protocol sees it.
 * Names under `acme` are served with the managed certificates (managed.ts)
 * instead of the files', and follow each new one without a reload; a
 * listener with only ACME names has no default certificate (as strict_sni).
 */
import type { SecureContext } from "node:tls";
import { createHash } from "node:crypto";
import type { ListenTlsConfig } from "../config/types.ts";
import { fileErrorReason } from "../errors.ts";
import { readConfigured } from "../process/files.ts";
import { checkCertificates, type TlsProblem } from "./pair.ts";
import { refusal, type VerifyMode } from "./peer.ts";
import { alpnWire, profileFor } from "./profile.ts";
import { addServerNames, type NamedContext, secureContext } from "./sni.ts";
import { type CertificateSet, loadCertificates } from "./store.ts";
import { managedCertificates } from "./managed.ts";
import { ACME_TLS_ALPN } from "../acme/challenges.ts";

export interface ListenTls {
  /** Same certificates, CA and settings: a reload keeps the running listener. */
  readonly fingerprint: string;
  /** Bun.listen's `tls` option. */
  readonly options: Readonly<Record<string, unknown>>;
  readonly certificates: CertificateSet;
  readonly verify: VerifyMode;
  /** Give a new Bun listener the per-name certificates. */
  attach(listener: unknown): void;
  /** Why an accepted socket must be closed (failed handshake, missing client certificate), or undefined. */
  refusal(sock: unknown): string | undefined;
}

export interface PreparedTls {
  readonly tls: ListenTls | undefined;
  readonly problems: TlsProblem[];
  readonly warnings: string[];
}

/** Read and check everything `cfg` names; `alpn`: the protocol's names ([] for none); `key`: "tls" or "starttls". */
export function prepareListenTls(cfg: ListenTlsConfig, alpn: readonly string[], key = "tls", now = new Date()): PreparedTls {
  const { set, problems, warnings } = loadCertificates(cfg, key, now);
  let ca: string | undefined;
  if (cfg.client_ca !== undefined) {
    try {
      ca = readConfigured(cfg.client_ca).toString();
      problems.push(...checkCertificates(ca, cfg.client_ca, `${key}.client_ca`));
    } catch (err) {
      const e = err as Error & { code?: string };
      problems.push({ key: `${key}.client_ca`, message: `cannot read ${cfg.client_ca}: ${e.code ? fileErrorReason(err) : e.message}` });
    }
  }
  if (set === undefined || problems.length > 0) return { tls: undefined, problems, warnings };

  const profile = profileFor(cfg);
  const verify: VerifyMode = ca === undefined ? undefined : cfg.client_verify;
  const client = ca === undefined ? {} : { ca, requestCert: true, rejectUnauthorized: verify === "required" };
  // ACME names: TLS-ALPN-01 validation handshakes offer only acme-tls/1 (no other client does).
  const acme = Array.isArray(cfg.acme) ? (cfg.acme as readonly string[]) : [];
  const wire = alpnWire(acme.length > 0 ? [...alpn, ACME_TLS_ALPN] : alpn);
  const base = { minVersion: profile.minVersion, maxVersion: profile.maxVersion, ciphers: profile.ciphers, secureOptions: profile.secureOptions, ...client, ...(wire ? { ALPNProtocols: wire } : {}) };
  const first = set.entries[0];
  // strict_sni: the listener has no certificate of its own, so a name the SNI tree does not hold fails the handshake.
  const options = set.strict ? base : { ...base, cert: first.cert, key: first.key };
  const contexts = new Map<unknown, SecureContext>();
  const named: NamedContext[] = [];
  // ACME names are served with the managed certificates (they win over the files for those names).
  for (const [name, e] of set.byName) {
    if (acme.includes(name)) continue;
    let context = contexts.get(e);
    if (context === undefined) {
      context = secureContext({ cert: e.cert, key: e.key, ...profile.node, ...(ca === undefined ? {} : { ca }) });
      contexts.set(e, context);
    }
    named.push({ name, context });
  }
  // A context per managed certificate, made with this listener's profile and client CA.
  // A TLS-ALPN-01 validation certificate, while there is one, wins over the name's certificate.
  const managedContexts = new WeakMap<object, SecureContext>();
  const reattach = (listener: unknown, only: readonly string[] | undefined) => {
    const list: NamedContext[] = [];
    for (const name of only ?? acme) {
      if (!acme.includes(name)) continue;
      const v = managedCertificates.validation(name);
      const c = managedCertificates.get(name);
      const pair = v ?? (c && { certPem: c.chainPem, keyPem: c.keyPem });
      if (pair === undefined) continue;
      const owner = v ?? c!;
      let context = managedContexts.get(owner);
      if (context === undefined) {
        context = secureContext({ cert: pair.certPem, key: pair.keyPem, ...profile.node, ...(ca === undefined ? {} : { ca }) });
        managedContexts.set(owner, context);
      }
      list.push({ name, context });
    }
    addServerNames(listener, list);
  };
  const h = createHash("sha256");
  h.update(JSON.stringify({ cfg: { ...cfg, source: undefined }, alpn, ca: ca ?? "" }));
  for (const e of set.entries) h.update(`\0${e.cert}\0${e.key}\0${e.names.join(",")}`);
  const fingerprint = h.digest("hex");
  return {
    tls: {
      fingerprint,
      options,
      certificates: set,
      verify,
      attach: (listener) => {
        addServerNames(listener, named);
        if (acme.length === 0) return;
        reattach(listener, undefined);
        managedCertificates.track(listener, reattach);
      },
      refusal: (sock) => (acme.length > 0 && (sock as { alpnProtocol?: unknown }).alpnProtocol === ACME_TLS_ALPN ? "a TLS-ALPN-01 validation handshake (acme-tls/1), closed as RFC 8737 says" : refusal(sock, verify)),
    },
    problems,
    warnings,
  };
}
