/**
 * `GET /healthz` (and HEAD) on the stats listener: whether this plb should
 * get new clients, for an orchestrator's readiness probe, a front
 * balancer's check or keepalived's check script.
 *
 * - 200 `ok` while serving;
 * - 503 `stopping` from the moment a stop begins (SIGTERM, SIGINT), while
 *   open connections drain for up to timeout_shutdown: whoever sends
 *   clients here takes this instance out before it is gone;
 * - with `healthz_requires_servers = true`, 503 while a service has no
 *   server that can take a client (up, weight above 0; a backup counts) in
 *   any backend it sends to (its own, its routes').
 *
 * It needs no token (a probe has none), so with `read_token = true` it
 * does not name the services.
 */

/** What /healthz looks at of a service: the servers of every backend it sends to. */
export interface HealthService {
  readonly name: string;
  readonly pools: readonly { readonly servers: readonly { readonly up: boolean; readonly weight: number }[] }[];
}

export interface HealthInput {
  /** A stop began. */
  readonly stopping: boolean;
  /** `healthz_requires_servers`. */
  readonly requireServers: boolean;
  /** `read_token`: keep the service names to ourselves. */
  readonly private: boolean;
  readonly services: readonly HealthService[];
}

export interface HealthAnswer {
  readonly status: 200 | 503;
  readonly body: string;
}

/** The answer to /healthz now. */
export function healthz(input: HealthInput): HealthAnswer {
  if (input.stopping) return { status: 503, body: "stopping\n" };
  if (input.requireServers) {
    const empty = input.services.filter((svc) => !svc.pools.some((p) => p.servers.some((s) => s.up && s.weight > 0))).map((svc) => svc.name);
    if (empty.length > 0) {
      const which = input.private ? `${empty.length} service(s)` : empty.map((n) => JSON.stringify(n)).join(", ");
      return { status: 503, body: `no server up: ${which}\n` };
    }
  }
  return { status: 200, body: "ok\n" };
}
