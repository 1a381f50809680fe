/**
 * The smtp protocol module: the tcp relay with a greeting check in front
 * (greeting.ts), a 421 reply when no server can take the client, STARTTLS
 * at plb with `starttls` (setup.ts, starttls.ts), and probes that speak SMTP
 * (probe.ts).
 */
import { proxyHeaderFor, proxyHeaderForProbe } from "../net/client-address.ts";
import type { Protocol } from "../protocol.ts";
import { RelaySession, type RelayOptions } from "../relay/session.ts";
import { greetingHandshake } from "./greeting.ts";
import { smtpCheck } from "./probe.ts";
import { setupSmtp, type SmtpRuntime } from "./setup.ts";

const NO_SERVER = new TextEncoder().encode("421 4.3.2 Service not available, closing transmission channel\r\n");

export const smtp: Protocol = {
  name: "smtp",
  backendSetup(cfg) {
    const mode = cfg.client_address;
    const options: RelayOptions = {
      noServer: NO_SERVER,
      handshake: greetingHandshake({
        timeoutMs: cfg.smtp.timeout_smtp_greeting,
        preamble: (ctx) => proxyHeaderFor(mode, ctx.client),
        xclient: mode === "xclient",
        helo: "plb",
      }),
    };
    return { shared: options };
  },
  setup: setupSmtp,
  accept: (client, service) => new RelaySession(client, service, undefined, (service.shared as SmtpRuntime | undefined)?.converse),
  probe: ({ cfg, tls }) =>
    smtpCheck({
      tls,
      connectMs: cfg.timeout_connect,
      timeoutMs: cfg.health?.timeout ?? cfg.smtp.timeout_smtp_greeting,
      whole: cfg.health !== undefined,
      ehlo: cfg.health !== undefined,
      preamble: () => proxyHeaderForProbe(cfg.client_address),
    }),
};
