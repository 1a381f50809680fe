/**
 * What an http service shares among its sessions: limits, the connection
 * pool, and the replies plb gives itself (with the operator's error pages).
 * Built before the service listens, so files are read before any chroot.
 */
import { readFileSync } from "node:fs";
import { PlbError } from "../errors.ts";
import type { Service } from "../service.ts";
import { IdlePool } from "../servers/pool.ts";
import type { Server } from "../servers/state.ts";
import { customReply, errorReply } from "./replies.ts";
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

const runtimes = new WeakMap<Service, HttpRuntime>();

function readSetting(service: Service, key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new PlbError("CONFIG_INVALID", `service "${service.name}": ${key}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** Build (once) the runtime of an http service; reads error pages and TLS files. */
export function initHttp(service: Service): { tls?: { cert: string; key: string } } {
  const h = service.cfg.http;
  const pages = new Map<number, Uint8Array>();
  for (const [status, file] of Object.entries(h.error_pages ?? {})) {
    pages.set(Number(status), customReply(Number(status), readSetting(service, `error_pages.${status}`, file)));
  }
  const tls = h.tls && {
    cert: readSetting(service, "tls.cert", h.tls.cert).toString(),
    key: readSetting(service, "tls.key", h.tls.key).toString(),
  };
  runtimes.set(service, {
    limits: { maxRequestLine: h.max_request_line, maxHeaderBytes: h.max_header_size, maxHeaders: h.max_headers },
    pool: new IdlePool<Server, Upstream>(h.pool_max_idle, h.timeout_pool_idle),
    proto: tls ? "https" : "http",
    failOn5xx: h.fail_on_5xx,
    reply: (status) => pages.get(status) ?? errorReply(status),
  });
  return tls ? { tls } : {};
}

export function httpRuntime(service: Service): HttpRuntime {
  const rt = runtimes.get(service);
  if (rt === undefined) throw new Error(`http service "${service.name}" was not initialised`);
  return rt;
}
