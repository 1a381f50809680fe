/**
 * What an smtp service shares among its sessions: with `starttls`, the
 * certificate plb answers STARTTLS with (files read and checked at start
 * before any chroot, and again on each reload) and `require_tls`.
 */
import type { Diagnostic } from "../config/diagnostics.ts";
import type { ServiceConfig, SmtpSettings } from "../config/types.ts";
import { fileErrorReason, PlbError } from "../errors.ts";
import { checkTlsPair } from "../http/tls.ts";
import { readConfigured } from "../process/files.ts";
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

/**
 * The one place that turns the parsed value of a "tls" kind key into what a
 * server side of TLS needs (reads and checks the files; problems under
 * `key`). When the listener's TLS module offers the same for `tls`, this
 * becomes a call to it.
 */
export function serverTlsFrom(value: NonNullable<SmtpSettings["starttls"]>, key: string, report: Report): ServerTls | undefined {
  const read = (part: string, file: string): string | undefined => {
    try {
      return readConfigured(file).toString();
    } catch (err) {
      report(`${key}.${part}`, `cannot read ${file}: ${fileErrorReason(err)}`);
      return undefined;
    }
  };
  const cert = read("cert", value.cert);
  const key_ = read("key", value.key);
  const problems = checkTlsPair(cert, key_, value.cert, value.key);
  for (const p of problems) report(p.key.replace(/^tls/, key), p.message);
  return problems.length === 0 && cert !== undefined && key_ !== undefined ? { cert, key: key_ } : undefined;
}

export function setupSmtp(cfg: ServiceConfig, name: string): ProtocolSetup {
  const s = cfg.smtp;
  if (s.starttls === undefined) return { shared: { converse: undefined } satisfies SmtpRuntime };
  const label = `service ${JSON.stringify(name)}`;
  const problems: Diagnostic[] = [];
  const tls = serverTlsFrom(s.starttls, "starttls", (path, message) => void problems.push({ path, service: label, message: `${path}: ${message}` }));
  if (tls === undefined || problems.length > 0) {
    throw new PlbError("CONFIG_INVALID", problems.map((d) => `${d.service}: ${d.message}`).join("\n"), { cause: problems });
  }
  const shared: SmtpRuntime = { converse: starttlsConversation({ tls, requireTls: s.require_tls }) };
  return { shared };
}
