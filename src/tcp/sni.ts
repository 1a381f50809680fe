/**
 * TLS passthrough by name: a tcp service with routes chooses each
 * connection's backend from the server_name of the client's TLS
 * ClientHello (src/tls/client-hello.ts), read without being consumed (the
 * relay session keeps every byte and sends it to the server first).
 *
 * Decisions (README: TLS passthrough by name):
 * - the first route whose `sni` names (exact or "*.suffix", lowercased)
 *   hold the client's name wins; a ClientHello without a name, or with a
 *   name no route takes, goes to the service's own backend;
 * - bytes that are not TLS at all (an HTTP request, an SSH banner) go to
 *   the service's own backend too, as HAProxy's default_backend and
 *   nginx's ssl_preread default do: one port may carry TLS and another
 *   protocol whose client speaks first;
 * - a broken ClientHello (or one above 16 KiB or 4 records), a client
 *   that ends its side first, and one that has not sent its whole
 *   ClientHello within timeout_client of the accept are closed; so is one
 *   that nothing takes when the service has no backend of its own.
 */
import { now } from "../net/clock.ts";
import type { Sock } from "../net/types.ts";
import type { BackendHandle, ServiceHandle } from "../protocol.ts";
import type { BackendReader } from "../relay/session.ts";
import type { RequestFacts } from "../routes/types.ts";
import { parseClientHello } from "../tls/client-hello.ts";
import { logEnabled, logger } from "../log.ts";
import { clientIp } from "../net/client-address.ts";

const log = logger("tcp");

const noHeader = () => false;

/** What a tcp route matches: the name as `host`. */
function nameFacts(name: string): RequestFacts {
  return { method: "", host: name, path: "", header: noHeader };
}

class SniReader implements BackendReader {
  readonly deadline: number;
  /** Bytes so far (grown by doubling: a client sending one byte at a time costs O(n)). */
  private buf: Uint8Array | undefined;
  private len = 0;

  constructor(
    private readonly service: ServiceHandle,
    private readonly client: Sock,
  ) {
    this.deadline = now() + service.cfg.timeout_client;
  }

  data(chunk: Uint8Array): BackendHandle | "refused" | "none" | undefined {
    const all = this.append(chunk);
    const r = parseClientHello(all);
    if (r.kind === "more") return undefined;
    this.buf = undefined;
    if (r.kind === "error" && !r.notTls) {
      // debug: scanners send such bytes all day; the access log has the session (cause "refused").
      if (logEnabled("debug")) log.debug(`service "${this.service.name}": ${clientIp(this.client)} sent a ClientHello plb cannot read, at byte ${r.position}: ${r.reason}; closing`);
      return "refused";
    }
    const name = r.kind === "done" ? r.serverName : undefined;
    const choice = name === undefined ? undefined : this.service.route(nameFacts(name));
    const backend = choice === undefined ? this.service.backend : (choice.backend ?? this.service.backend);
    if (logEnabled("debug")) log.debug(`service "${this.service.name}": ${clientIp(this.client)} ${r.kind === "error" ? "is not TLS" : name === undefined ? "sent no name" : `asks for ${name}`}: ${backend === undefined ? "no backend" : `backend "${backend.name}"`}${choice ? ` (route at line ${choice.route.line ?? choice.route.index})` : ""}`);
    return backend ?? "none";
  }

  private append(chunk: Uint8Array): Uint8Array {
    if (this.len === 0) {
      this.buf = chunk; // the first read is kept as it came (usually the whole ClientHello)
      this.len = chunk.length;
      return chunk;
    }
    let buf = this.buf!;
    if (this.len + chunk.length > buf.length) {
      const grown = new Uint8Array(Math.max(2 * buf.length, this.len + chunk.length, 512));
      grown.set(buf.subarray(0, this.len));
      buf = this.buf = grown;
    }
    buf.set(chunk, this.len);
    this.len += chunk.length;
    return buf.subarray(0, this.len);
  }
}

/** The reader of a session of a tcp service with routes. */
export function sniReader(service: ServiceHandle, client: Sock): BackendReader {
  return new SniReader(service, client);
}
