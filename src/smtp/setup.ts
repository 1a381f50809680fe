/**
 * What an smtp service shares among its sessions: with `starttls`, the
 * certificate plb answers STARTTLS with (files read and checked at start
 * before any chroot, and again on each reload) and `require_tls`.
 */
import type { Diagnostic } from "../config/diagnostics.ts";
import type { ServiceConfig, SmtpSettings } from "../config/types.ts";
import { PlbError } from "../errors.ts";
import { logger } from "../log.ts";
import { prepareListenTls } from "../tls/listener.ts";
import type { ProtocolSetup } from "../protocol.ts";
import type { Converse } from "../relay/conversation.ts";
import type { ServerTls } from "../tls/upgrade.ts";
import { starttlsConversation } from "./starttls.ts";

/** `service.shared` of an smtp service. */
export interface SmtpRuntime {
  /** Speaks for the service after the greeting (STARTTLS at plb); undefined without starttls. */
  readonly converse: Converse | undefined;
}

type Report = (path: string, message: string) => void;

const log = logger("smtp");

/**
 * The one place that turns the parsed `starttls` value into what the
 * server side of an upgraded connection needs, through the listener's TLS
 * module (the same files, checks and profile as `tls`; problems under
 * `key`). An upgrade takes one certificate (Bun calls no SNI callback
 * after upgradeTLS): with several, the first serves every name (warned).
 */
export function serverTlsFrom(value: NonNullable<SmtpSettings["starttls"]>, key: string, report: Report, warn: (message: string) => void = () => {}): ServerTls | undefined {
  const prepared = prepareListenTls(value, [], key);
  for (const p of prepared.problems) report(p.key, p.message);
  for (const w of prepared.warnings) warn(w);
  const tls = prepared.tls;
  if (tls === undefined || prepared.problems.length > 0) return undefined;
  if (tls.certificates.entries.length > 1) {
    warn(`${key}: ${tls.certificates.entries.length} certificates, but a STARTTLS upgrade serves one: the first (${tls.certificates.entries[0].names.join(", ") || "no name"}) serves every client`);
  }
  return tls.options as ServerTls;
}

export function setupSmtp(cfg: ServiceConfig, name: string): ProtocolSetup {
  const s = cfg.smtp;
  if (s.starttls === undefined) return { shared: { converse: undefined } satisfies SmtpRuntime };
  const label = `service ${JSON.stringify(name)}`;
  const problems: Diagnostic[] = [];
  const tls = serverTlsFrom(s.starttls, "starttls", (path, message) => void problems.push({ path, service: label, message: `${path}: ${message}` }), (w) => log.warn(`${label}: ${w}`));
  if (tls === undefined || problems.length > 0) {
    throw new PlbError("CONFIG_INVALID", problems.map((d) => `${d.service}: ${d.message}`).join("\n"), { cause: problems });
  }
  const shared: SmtpRuntime = { converse: starttlsConversation({ tls, requireTls: s.require_tls }) };
  return { shared };
}
