/**
 * Protocol versions and TLS 1.2 suites a listener offers. The default is
 * Mozilla's "intermediate" profile without its DHE suites (BoringSSL, which
 * Bun uses, has no finite-field DHE): TLS 1.2 with ECDHE key exchange and
 * AEAD ciphers only (AES-GCM, ChaCha20-Poly1305; no CBC, so no LUCKY13),
 * and TLS 1.3. `min_version = "1.3"` is Mozilla's "modern". `ciphers`
 * replaces the TLS 1.2 list. TLS 1.3 suites cannot be limited in Bun
 * (BoringSSL fixes them: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305).
 */
import { constants } from "node:crypto";
import type { ListenTlsConfig } from "../config/types.ts";

/**
 * The server's TLS 1.2 suite order wins over the client's (OpenSSL's
 * SSL_OP_CIPHER_SERVER_PREFERENCE, what nginx's ssl_prefer_server_ciphers
 * and HAProxy's default do): testssl.sh rates a server without an order
 * HIGH. Bun's listener takes it as `secureOptions` (its `honorCipherOrder`
 * is ignored: measured on Bun 1.4.5), node:tls contexts alike.
 */
const SERVER_ORDER = constants.SSL_OP_CIPHER_SERVER_PREFERENCE;

/** Mozilla intermediate (v5.7), ECDHE suites only, in its order. */
export const INTERMEDIATE_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** Bun.listen's version numbers: 771 = TLS 1.2, 772 = TLS 1.3. */
const WIRE_VERSION = { "1.2": 771, "1.3": 772 } as const;

export interface TlsProfile {
  /** For Bun.listen's `tls`. */
  readonly minVersion: number;
  readonly maxVersion: number;
  readonly ciphers: string;
  readonly secureOptions: number;
  /** The same, as node:tls createSecureContext spells them (the per-name certificates). */
  readonly node: { readonly minVersion: "TLSv1.2" | "TLSv1.3"; readonly maxVersion: "TLSv1.3"; readonly ciphers: string; readonly secureOptions: number };
}

export function profileFor(cfg: Pick<ListenTlsConfig, "min_version" | "ciphers">): TlsProfile {
  const ciphers = cfg.ciphers ?? INTERMEDIATE_CIPHERS;
  return {
    minVersion: WIRE_VERSION[cfg.min_version],
    maxVersion: WIRE_VERSION["1.3"],
    ciphers,
    secureOptions: SERVER_ORDER,
    node: { minVersion: cfg.min_version === "1.3" ? "TLSv1.3" : "TLSv1.2", maxVersion: "TLSv1.3", ciphers, secureOptions: SERVER_ORDER },
  };
}

/** ALPN protocol names in the wire format ("\x08http/1.1"): what a protocol speaks, in its order of preference. */
export function alpnWire(names: readonly string[]): Uint8Array | undefined {
  if (names.length === 0) return undefined;
  const enc = new TextEncoder();
  const parts = names.map((n) => enc.encode(n));
  const out = new Uint8Array(parts.reduce((s, p) => s + 1 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out[at++] = p.length;
    out.set(p, at);
    at += p.length;
  }
  return out;
}
