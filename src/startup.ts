/**
 * The start-up steps a single process (main.ts) and the master of workers
 * (workers/master.ts) share, written once: the resolver, servers from DNS,
 * names resolved before serving, the line each service logs, and the
 * announced stop. (Each backend is looked after by reload.ts's
 * `lookAfter`, at start as on a reload.)
 */
import type { Backend } from "./backend.ts";
import type { Config } from "./config/types.ts";
import { Discovery, type DiscoveryListener } from "./discovery.ts";
import { logger } from "./log.ts";
import { Resolver } from "./net/resolve.ts";
import { serverSetChanged, type Running } from "./reload.ts";
import type { Service } from "./service.ts";

const log = logger("main");
const dnsLog = logger("dns");

/**
 * The system's resolver configuration, snapshot now (the chroot has no
 * /etc); PLB_RESOLV_CONF, PLB_HOSTS and PLB_NAMESERVERS ("ip[:port],…")
 * override it (tests, containers without /etc), and the `nameservers` key
 * overrides resolv.conf's nameservers and PLB_NAMESERVERS.
 */
export function systemResolver(config?: Config): Resolver {
  const env = process.env;
  return Resolver.fromSystem({
    resolvConf: env.PLB_RESOLV_CONF,
    hosts: env.PLB_HOSTS,
    nameservers: config?.global.nameservers ? [...config.global.nameservers] : env.PLB_NAMESERVERS?.split(",").filter(Boolean),
  });
}

/** Servers from DNS, asked through `resolver`; each change goes through reload's server-set path. */
export function discoveryFor(running: () => Running, resolver: Resolver, told?: DiscoveryListener): Discovery {
  return new Discovery(resolver, () => running().config.global, (backend, source, change, answer) => {
    serverSetChanged(running(), backend, change, `${source.key} answered`, dnsLog);
    told?.(backend, source, change, answer);
  });
}

/** What a start logs of each service: `service "web" (http, roundrobin) listening on *:80, 2 server(s)`. */
export function listeningLine(svc: Service): string {
  const b = svc.backend;
  const routes = svc.cfg.routes.length > 0 ? `, ${svc.cfg.routes.length} route(s)` : "";
  const via = b === undefined ? "no default backend" : b.cfg.declared ? `backend "${b.name}"` : `${b.pool.servers.length} server(s)`;
  const balance = b === undefined ? "" : `, ${b.cfg.balance}`;
  return `service "${svc.name}" (${svc.cfg.protocol}${balance}) listening on ${svc.cfg.listen.map((l) => l.text).join(", ")}, ${via}${routes}`;
}

/**
 * shutdown_delay: keep serving (and accepting) for `ms` once /healthz says
 * 503, so that whoever sends clients here (keepalived, a front balancer)
 * has moved them before plb stops accepting.
 */
export async function announceStop(ms: number): Promise<void> {
  log.info(`stopping: still accepting for ${ms} ms (shutdown_delay) while /healthz answers 503`);
  await Bun.sleep(ms);
}

/** Resolve host names before serving; a name that fails makes its server down. */
export async function resolveServers(backends: readonly Backend[], resolver: Resolver): Promise<void> {
  const jobs: Promise<void>[] = [];
  for (const svc of backends) {
    for (const server of svc.pool.servers) {
      if (server.address !== undefined) continue;
      jobs.push(
        resolver.resolve(server.host).then(
          (addrs) => {
            server.address = addrs[0];
          },
          (err: Error) => svc.pool.report(server, "unreachable", err.message, "start"),
        ),
      );
    }
  }
  await Promise.all(jobs);
}
