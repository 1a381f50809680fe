/**
 * What an accepted TLS socket tells of its handshake and its client's
 * certificate: the Bun socket calls, kept here. Bun calls a TLS listener's
 * `open` once the handshake is over, whether it succeeded or not (a
 * refused client certificate, no shared cipher, strict_sni): such a socket
 * has no cipher, and must not be handed to a protocol. With client_verify
 * = "required", TLS 1.3 lets the client finish before the server has
 * checked its certificate, so `open` also sees `authorized = false`
 * sockets that completed the handshake: refused here too.
 */
import type { X509Certificate } from "node:crypto";

export type VerifyMode = "required" | "optional" | undefined;

interface TlsSock {
  readonly authorized?: boolean;
  getCipher?(): { name: string | null } | undefined;
  getPeerX509Certificate?(): X509Certificate | undefined;
}

/** Why the accepted socket must be closed before anything is relayed, or undefined when it may be used. */
export function refusal(sock: unknown, verify: VerifyMode): string | undefined {
  const s = sock as TlsSock;
  if (!s.getCipher?.()?.name) return "TLS handshake failed";
  if (verify === "required" && s.authorized !== true) return "no valid client certificate";
  return undefined;
}

/** The client's certificate and whether it verified against client_ca (undefined: none was shown). */
export function peerCertificate(sock: unknown): { cert: X509Certificate; verified: boolean } | undefined {
  const s = sock as TlsSock;
  let cert: X509Certificate | undefined;
  try {
    cert = s.getPeerX509Certificate?.();
  } catch {
    cert = undefined;
  }
  return cert === undefined ? undefined : { cert, verified: s.authorized === true };
}
