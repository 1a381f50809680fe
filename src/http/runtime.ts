/**
 * What an http service shares among its sessions: limits, the connection
 * pool, and the replies plb gives itself (with the operator's error pages).
 * Built before the service listens, so files are read before any chroot.
 */
import { readFileSync } from "node:fs";
import type { Diagnostic } from "../config/diagnostics.ts";
import { fileErrorReason, PlbError } from "../errors.ts";
import type { ServiceHandle } from "../protocol.ts";
import { IdlePool } from "../servers/pool.ts";
import type { Server } from "../servers/state.ts";
import { customReply, errorReply } from "./replies.ts";
import { checkTlsPair } from "./tls.ts";
import type { HeadLimits } from "./types.ts";
import type { Upstream } from "./upstream.ts";

export interface HttpRuntime {
  readonly limits: HeadLimits;
  readonly pool: IdlePool<Server, Upstream>;
  readonly proto: "http" | "https";
  readonly failOn5xx: boolean;
  /** The whole answer for a status plb gives itself. */
  reply(status: number): Uint8Array;
}

const runtimes = new WeakMap<ServiceHandle, HttpRuntime>();

/**
 * Build (once) the runtime of an http service: reads the error pages and the
 * TLS files (this runs before any chroot) and checks that the certificate and
 * key can be used. Every problem of the service is reported at once: one
 * CONFIG_INVALID error whose `cause` is the Diagnostic[] (paths "tls.cert",
 * "error_pages.503", …), so `--check` and a start print the same lines.
 */
export function initHttp(service: ServiceHandle): { tls?: { cert: string; key: string } } {
  const h = service.cfg.http;
  const label = `service ${JSON.stringify(service.name)}`;
  const problems: Diagnostic[] = [];
  const report = (path: string, message: string): void => void problems.push({ path, service: label, message: `${path}: ${message}` });
  const read = (key: string, file: string): Buffer | undefined => {
    try {
      return readFileSync(file);
    } catch (err) {
      report(key, `cannot read ${file}: ${fileErrorReason(err)}`);
      return undefined;
    }
  };

  const pages = new Map<number, Uint8Array>();
  for (const [status, file] of Object.entries(h.error_pages ?? {})) {
    const body = read(`error_pages.${status}`, file);
    if (body) pages.set(Number(status), customReply(Number(status), body));
  }
  let tls: { cert: string; key: string } | undefined;
  if (h.tls) {
    const first = problems.length;
    const cert = read("tls.cert", h.tls.cert)?.toString();
    const key = read("tls.key", h.tls.key)?.toString();
    for (const p of checkTlsPair(cert, key, h.tls.cert, h.tls.key)) report(p.key, p.message);
    if (cert !== undefined && key !== undefined) tls = { cert, key };
    // The certificate's problems first, then the key's, then the pair's.
    const order = ["tls.cert", "tls.key", "tls"];
    problems.push(...problems.splice(first).sort((a, b) => order.indexOf(a.path) - order.indexOf(b.path)));
  }
  if (problems.length > 0) {
    throw new PlbError("CONFIG_INVALID", problems.map((d) => `${d.service}: ${d.message}`).join("\n"), { cause: problems });
  }
  runtimes.set(service, {
    limits: { maxRequestLine: h.max_request_line, maxHeaderBytes: h.max_header_size, maxHeaders: h.max_headers },
    pool: new IdlePool<Server, Upstream>(h.pool_max_idle, h.timeout_pool_idle),
    proto: tls ? "https" : "http",
    failOn5xx: h.fail_on_5xx,
    reply: (status) => pages.get(status) ?? errorReply(status),
  });
  return tls ? { tls } : {};
}

export function httpRuntime(service: ServiceHandle): HttpRuntime {
  const rt = runtimes.get(service);
  if (rt === undefined) throw new Error(`http service "${service.name}" was not initialised`);
  return rt;
}
