/**
 * What an http service shares among its sessions: limits and the replies
 * plb gives itself (with the operator's error pages), built before the
 * service listens, so files are read before any chroot, and again on each
 * reload. And what an http backend shares: its idle server connections
 * (kept by a reload).
 */
import type { Diagnostic } from "../config/diagnostics.ts";
import { fileErrorReason, PlbError } from "../errors.ts";
import type { BackendConfig, ServiceConfig } from "../config/types.ts";
import type { BackendSetup, ProtocolSetup } from "../protocol.ts";
import { readConfigured } from "../process/files.ts";
import { IdlePool } from "./idle-pool.ts";
import type { Server } from "../servers/server.ts";
import { customReply, errorReply } from "./replies.ts";
import type { HeadLimits } from "./types.ts";
import type { Upstream } from "./upstream.ts";
import { H2ServerPool } from "./h2/server-pool.ts";

export interface HttpRuntime {
  readonly limits: HeadLimits;
  readonly proto: "http" | "https";
  /** The whole answer for a status plb gives itself. */
  reply(status: number): Uint8Array;
}

/** What the sessions share of an http backend. */
export interface HttpBackendRuntime {
  /** Idle keep-alive connections to its servers. */
  readonly pool: IdlePool<Server, Upstream>;
  readonly failOn5xx: boolean;
  /** server_tls as configured: pooled connections are kept by a reload only while it stays the same. */
  readonly tlsKey: string;
  /** server_protocol = "h2": the HTTP/2 connections to its servers (requests are streams of them); undefined for HTTP/1.1. */
  readonly h2: H2ServerPool | undefined;
}

/** An http backend's runtime: a reload keeps `previous`'s idle server connections; their limits change when it commits. */
export function setupHttpBackend(cfg: BackendConfig, previous: unknown): BackendSetup {
  const h = cfg.http;
  const tlsKey = JSON.stringify(cfg.server_tls ?? null);
  const before = previous as HttpBackendRuntime | undefined;
  // A plain connection must not serve a backend that now wants TLS (nor the other way round).
  const keep = before !== undefined && before.tlsKey === tlsKey;
  const pool = keep ? before.pool : new IdlePool<Server, Upstream>(h.pool_max_idle, h.timeout_pool_idle);
  // h2 connections are kept by a reload that keeps the protocol and server_tls: their streams (long gRPC calls) go on.
  const keepH2 = keep && before.h2 !== undefined && h.server_protocol === "h2";
  const h2 = h.server_protocol !== "h2" ? undefined : keepH2 ? before!.h2 : new H2ServerPool(h.h2_max_connections, cfg.timeout_server);
  const shared: HttpBackendRuntime = { pool, failOn5xx: h.fail_on_5xx, tlsKey, h2 };
  return {
    shared,
    commit: () => {
      if (before !== undefined && !keep) before.pool.closeAll();
      if (before?.h2 !== undefined && before.h2 !== h2) before.h2.retire();
      pool.configure(h.pool_max_idle, h.timeout_pool_idle);
      h2?.configure(h.h2_max_connections, cfg.timeout_server);
    },
  };
}

/**
 * Build the runtime of an http service: reads the error pages (the TLS
 * files are the service's: src/tls/, through service.ts). Every problem
 * of the service is reported at once: one CONFIG_INVALID error whose `cause`
 * is the Diagnostic[] (paths "error_pages.503", …), so `--check`, a start
 * and a reload print the same lines.
 */
export function setupHttp(cfg: ServiceConfig, name: string): ProtocolSetup {
  const h = cfg.http;
  const label = `service ${JSON.stringify(name)}`;
  const problems: Diagnostic[] = [];
  const report = (path: string, message: string): void => void problems.push({ path, service: label, message: `${path}: ${message}` });
  const read = (key: string, file: string): Buffer | undefined => {
    try {
      return readConfigured(file);
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
  if (problems.length > 0) {
    throw new PlbError("CONFIG_INVALID", problems.map((d) => `${d.service}: ${d.message}`).join("\n"), { cause: problems });
  }
  const shared: HttpRuntime = {
    limits: { maxRequestLine: h.max_request_line, maxHeaderBytes: h.max_header_size, maxHeaders: h.max_headers },
    proto: cfg.tls ? "https" : "http",
    reply: (status) => pages.get(status) ?? errorReply(status),
  };
  return { shared };
}
