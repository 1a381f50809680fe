/**
 * The one place that gives a Bun listener a certificate per name. Bun 1.4.5
 * has no documented way: a `tls` array throws on Bun.listen, and the
 * `serverName` socket handler is called with the name but its return value
 * does not change the certificate. What works is what node:tls's
 * `Server.addContext` does internally: Bun's native `addServerName(listener,
 * name, context)`, which puts the name in uSockets' SNI tree (exact names,
 * and "*.parent" wildcards covering one label, case-insensitively). That
 * function is not exported, so a `tls.Server` that never listens lends its
 * `addContext`, pointed at our listener (`_handle`). Names the tree does
 * not hold get the listener's own certificate (the default), or, when it has
 * none (strict_sni), a failed handshake.
 *
 * tests/tls-sni.test.ts fails loudly when a new Bun changes any of this.
 */
import { createSecureContext, type SecureContext, Server } from "node:tls";

export interface NamedContext {
  /** Normalized name or "*.parent" wildcard. */
  readonly name: string;
  /** Made by `secureContext`, once per certificate (shared by its names and by every listener). */
  readonly context: SecureContext;
}

/**
 * A context for one certificate. It must carry the listener's whole profile
 * (versions, ciphers) and client CA: after the switch the handshake uses
 * the new context's (a bare one offered TLS 1.0 and CBC suites, measured).
 */
export function secureContext(options: Parameters<typeof createSecureContext>[0]): SecureContext {
  return createSecureContext(options);
}

/** Serve each name with its context on `listener` (a Bun TCPSocketListener with TLS). Throws when Bun no longer allows it. */
export function addServerNames(listener: unknown, names: readonly NamedContext[]): void {
  if (names.length === 0) return;
  const lender = new Server({}) as Server & { _handle: unknown; addContext(name: string, ctx: unknown): void };
  lender._handle = listener;
  try {
    for (const n of names) lender.addContext(n.name, n.context);
  } finally {
    lender._handle = null;
  }
}
