/**
 * TLS from plb to a backend's servers (`server_tls`): the files read and
 * checked (start, `--check`, reload; through process/files.ts, so also
 * after chroot), the options handed to Bun.connect, the SNI name per
 * server, session resumption, and what a failed handshake is called in the
 * log and in /status.json.
 *
 * Bun 1.4.5, measured (tests/tls-client.test.ts pins these down):
 * - `Bun.connect({ tls })` fires `open` at the TCP connect, then
 *   `handshake(socket, ok, error)` once the handshake is over; with
 *   `rejectUnauthorized` it closes the socket after a failed verification.
 * - `serverName` sets SNI; "" sends none (the certificate is then checked
 *   against the address connected to, IP SANs included).
 * - Resumption: a `tls.session` connect option is ignored; `setSession()`
 *   in `open` resumes (TLS 1.2 and 1.3). `getSession()` at `handshake` time
 *   gives a TLS 1.3 session that does not resume (the ticket comes after
 *   the handshake): it is taken at the server's first bytes. It is gone in
 *   `close`.
 */
import { isIP } from "node:net";
import type { ServerTlsConfig } from "../config/types.ts";
import { fileErrorReason } from "../errors.ts";
import { checkCertificates, checkTlsPair } from "./pair.ts";
import { alpnWire } from "./profile.ts";
import { logger } from "../log.ts";
import { readConfigured } from "../process/files.ts";

const log = logger("tls");

/** A problem with the files of `server_tls`: `path` "server_tls.ca", "server_tls.cert", … */
export interface ServerTlsProblem {
  readonly path: string;
  readonly message: string;
}

/** What Bun.connect's `tls` option takes (the part plb sets). */
interface ConnectTlsOptions {
  readonly serverName: string;
  readonly rejectUnauthorized: boolean;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  /** ALPN offered (wire format): h2 only, for server_protocol = "h2". */
  readonly ALPNProtocols?: Uint8Array;
}

/** What a connection for server_protocol = "h2" offers by ALPN: h2 only. */
const H2_ONLY = alpnWire(["h2"]);

/** The socket calls resumption needs (Bun's TLS socket; missing from bun-types). */
interface SessionSocket {
  getSession(): Uint8Array | undefined;
  setSession(session: Uint8Array): void;
}

/** Most remembered sessions per backend (one per server and name). */
const MAX_SESSIONS = 4096;

/** A backend's TLS to its servers, ready to connect with. */
export class ServerTls {
  readonly verify: boolean;
  /** As configured, for comparing two reloads' settings. */
  readonly cfg: ServerTlsConfig;
  /** Bun.connect options by SNI name ("" = none): one object per name, not one per connect. */
  private readonly options = new Map<string, ConnectTlsOptions>();
  /** The last session per server ("host:port|name"), offered on the next connect. */
  private readonly sessions = new Map<string, Uint8Array>();
  private readonly pems: { ca?: string; cert?: string; key?: string };

  constructor(cfg: ServerTlsConfig, pems: { ca?: string; cert?: string; key?: string }) {
    this.cfg = cfg;
    this.verify = cfg.verify;
    this.pems = pems;
  }

  /** The SNI name for a server named `host` (its host, or the DNS name it was found under): server_name, else a host name, else none (""). */
  serverName(host: string): string {
    return this.cfg.server_name ?? (isIP(host) === 0 ? host.replace(/\.$/, "").toLowerCase() : "");
  }

  /** Bun.connect's `tls` option for a server named `name` (`h2`: offering only h2 by ALPN). */
  connectOptions(name: string, h2 = false): ConnectTlsOptions {
    const key = h2 ? `h2|${name}` : name;
    let o = this.options.get(key);
    if (o === undefined) {
      o = { serverName: name, rejectUnauthorized: this.verify, ...this.pems, ...(h2 ? { ALPNProtocols: H2_ONLY } : {}) };
      this.options.set(key, o);
    }
    return o;
  }

  /** After the handshake of an h2 connection: undefined when the server chose h2 by ALPN, else the cause of the failure. */
  h2Refusal(sock: unknown): string | undefined {
    const chosen = (sock as { alpnProtocol?: unknown }).alpnProtocol;
    return chosen === "h2" ? undefined : `TLS: the server did not choose h2 by ALPN (${typeof chosen === "string" && chosen !== "" ? `it chose ${JSON.stringify(chosen)}` : "it chose no protocol"}): does it speak HTTP/2 on this port? (server_protocol = "h2")`;
  }

  /** In `open`: offer the session last kept for `key`, if any. */
  resume(sock: unknown, key: string): void {
    const session = this.sessions.get(key);
    if (session === undefined) return;
    try {
      (sock as SessionSocket).setSession(session);
    } catch {
      this.sessions.delete(key);
    }
  }

  /** At the server's first bytes: keep the connection's session for the next connect to `key`. */
  keep(sock: unknown, key: string): void {
    const session = (sock as SessionSocket).getSession();
    if (session === undefined || session.length === 0) return;
    if (this.sessions.size >= MAX_SESSIONS && !this.sessions.has(key)) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(key, session);
  }

  /** Sessions kept (for tests). */
  get sessionCount(): number {
    return this.sessions.size;
  }
}


/**
 * Read and check the files of `cfg` (CA bundle, client certificate and key,
 * which must match); `tls` is undefined when there are problems.
 */
export function loadServerTls(cfg: ServerTlsConfig): { tls: ServerTls | undefined; problems: ServerTlsProblem[] } {
  const problems: ServerTlsProblem[] = [];
  const read = (part: "ca" | "cert" | "key", file: string): string | undefined => {
    try {
      return readConfigured(file).toString("utf8");
    } catch (err) {
      problems.push({ path: `server_tls.${part}`, message: `cannot read ${file}: ${fileErrorReason(err)}` });
      return undefined;
    }
  };
  const pems: { ca?: string; cert?: string; key?: string } = {};
  if (cfg.ca !== undefined) {
    const ca = read("ca", cfg.ca);
    if (ca !== undefined) {
      for (const p of checkCertificates(ca, cfg.ca, "server_tls.ca")) problems.push({ path: p.key, message: p.message });
      pems.ca = ca;
    }
  }
  if (cfg.cert !== undefined && cfg.key !== undefined) {
    const cert = read("cert", cfg.cert);
    const key = read("key", cfg.key);
    for (const p of checkTlsPair(cert, key, cfg.cert, cfg.key)) problems.push({ path: `server_${p.key}`, message: p.message });
    pems.cert = cert;
    pems.key = key;
  }
  return problems.length > 0 ? { tls: undefined, problems } : { tls: new ServerTls(cfg, pems), problems };
}

/** Log once that a backend does not check its servers' certificates (start and reload). */
export function warnUnverified(backend: string): void {
  log.warn(`backend ${JSON.stringify(backend)}: server_tls.verify = false: the servers' certificates are not checked (anyone on the path can pose as a server)`);
}

/** Verification errors, by Bun's (node's) code, named as an operator looks for them. */
const VERIFY_CAUSES: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "unknown CA",
  UNABLE_TO_GET_ISSUER_CERT: "unknown CA",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "unknown CA",
  SELF_SIGNED_CERT_IN_CHAIN: "unknown CA",
  DEPTH_ZERO_SELF_SIGNED_CERT: "unknown CA (self-signed)",
  CERT_UNTRUSTED: "unknown CA",
  ERR_TLS_CERT_ALTNAME_INVALID: "name mismatch",
  CERT_HAS_EXPIRED: "certificate expired",
  CERT_NOT_YET_VALID: "certificate not yet valid",
  CERT_REVOKED: "certificate revoked",
  CERT_SIGNATURE_FAILURE: "bad certificate signature",
  INVALID_CA: "invalid CA certificate",
  INVALID_PURPOSE: "certificate not for servers",
};

/**
 * A failed handshake is a certificate that did not verify (false: the
 * handshake itself failed, e.g. the server does not speak TLS or refused
 * plb's client certificate), whatever `verify` says.
 */
export function isVerifyError(err: Error | undefined): boolean {
  const code = (err as { code?: string } | undefined)?.code ?? "";
  if (code === "" || /^E[A-Z]+$/.test(code)) return false; // EPROTO, ECONNRESET, …
  return !/SSL routines|OPENSSL_internal/.test(err?.message ?? "");
}

/**
 * The cause of a failed handshake, for the log and /status.json:
 * "TLS: unknown CA (unable to verify the first certificate)",
 * "TLS: name mismatch (Hostname/IP does not match …)", "TLS: certificate expired".
 */
export function describeTlsFailure(err: Error | undefined, name: string): string {
  const code = (err as { code?: string } | undefined)?.code ?? "";
  const message = err?.message ?? "";
  const cause = VERIFY_CAUSES[code];
  if (cause === "name mismatch") {
    // "…altnames: Host: x. is not in the cert's altnames: DNS:a, IP Address:b" / "…: IP: 127.0.0.1 is not in the cert's list: "
    const names = /(?:altnames|list): ([^:]*(?::[^:]*)*)$/.exec(message.slice(message.lastIndexOf("cert's ")))?.[1]?.trim();
    const listed = names ? `it names ${names}` : name === "" ? "it names no IP address" : "it names no host name";
    return `TLS: name mismatch: ${name === "" ? "the server's address" : JSON.stringify(name)} is not in the certificate (${listed})`;
  }
  if (cause === "certificate expired" || cause === "certificate not yet valid") return `TLS: ${cause}`;
  if (cause !== undefined) return `TLS: ${cause} (${message})`;
  if (code === "ECONNRESET" || /disconnected before secure TLS/.test(message)) return "TLS: handshake failed: the server closed the connection";
  if (/NO_APPLICATION_PROTOCOL/.test(message)) return "TLS: handshake failed: the server speaks none of the protocols offered by ALPN (h2 for server_protocol = \"h2\"; does it speak HTTP/2?)";
  const reason = /:([A-Z0-9_]+)$/.exec(message);
  if (reason) return `TLS: handshake failed: ${reason[1].toLowerCase().replace(/_/g, " ")}${reason[1] === "WRONG_VERSION_NUMBER" ? " (does the server speak TLS on this port?)" : ""}`;
  return `TLS: handshake failed${message ? `: ${message}` : ""}`;
}
