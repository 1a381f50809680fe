/** What an http service shares among its sessions: limits and the connection pool. */
import type { Service } from "../service.ts";
import { IdlePool } from "../servers/pool.ts";
import type { Server } from "../servers/state.ts";
import type { HeadLimits } from "./types.ts";
import type { Upstream } from "./upstream.ts";

export interface HttpRuntime {
  readonly limits: HeadLimits;
  readonly pool: IdlePool<Server, Upstream>;
  readonly proto: "http" | "https";
  readonly failOn5xx: boolean;
}

const runtimes = new WeakMap<Service, HttpRuntime>();

export function httpRuntime(service: Service): HttpRuntime {
  let rt = runtimes.get(service);
  if (rt === undefined) {
    const h = service.cfg.http;
    rt = {
      limits: { maxRequestLine: h.max_request_line, maxHeaderBytes: h.max_header_size, maxHeaders: h.max_headers },
      pool: new IdlePool<Server, Upstream>(h.pool_max_idle, h.timeout_pool_idle),
      proto: "http",
      failOn5xx: h.fail_on_5xx,
    };
    runtimes.set(service, rt);
  }
  return rt;
}
