/**
 * Wires a validated Config into a running balancer, in the order that makes
 * privileges safe: resolve names, write the pid file (refusing a live
 * one), bind every listener (privileged ports included) and set backlogs,
 * chroot and drop privileges, then start probing. `stop()` undoes it: stop accepting, drain, close.
 */
import { Admission } from "./admission.ts";
import type { Config } from "./config/types.ts";
import { logger } from "./log.ts";
import { descriptorsFree, FD_RESERVE, maxconnForLimit, raiseFdLimit } from "./net/fd-limit.ts";
import { Sweeper } from "./net/sweep.ts";
import { Resolver } from "./net/resolve.ts";
import { dropPrivileges } from "./process/privileges.ts";
import { removePidFile, writePidFile } from "./process/pidfile.ts";
import { Scheduler } from "./scheduler.ts";
import { prepare } from "./prepare.ts";
import type { Service } from "./service.ts";
import type { Listener } from "./net/listen.ts";

const log = logger("main");

export interface StartOptions {
  /** Pid file to write (undefined: none). */
  pidfile?: string;
}

export interface Runtime {
  readonly services: readonly Service[];
  readonly scheduler: Scheduler;
  readonly sessions: Sweeper;
  readonly admission: Admission;
  /** Stop accepting, let sessions finish for up to timeout_shutdown, close the rest. */
  stop(): Promise<void>;
  /** Close everything at once (second signal). */
  stopNow(): void;
}

export async function start(config: Config, opts: StartOptions = {}): Promise<Runtime> {
  const g = config.global;
  // Snapshot /etc/resolv.conf and /etc/hosts now: the chroot has neither.
  // PLB_RESOLV_CONF, PLB_HOSTS and PLB_NAMESERVERS ("ip[:port],…") override
  // them (tests, containers without /etc).
  const env = process.env;
  const resolver = Resolver.fromSystem({
    resolvConf: env.PLB_RESOLV_CONF,
    hosts: env.PLB_HOSTS,
    nameservers: env.PLB_NAMESERVERS?.split(",").filter(Boolean),
  });
  const all = config.services.flatMap((s) => [s.timeout_client, s.timeout_server, ...(s.protocol === "http" ? [s.http.timeout_http_request] : [])]);
  const sessions = new Sweeper(Sweeper.intervalFor(all));
  const limits = connectionLimits(config);
  const admission = new Admission({ maxconn: limits.maxconn, descriptorsFree });
  // Everything --check checks too (files, certificates, user/group/chroot_dir), before any port is bound.
  const services = prepare(config, { context: { sessions, admission, backlog: g.backlog } });
  limits.log();
  const scheduler = new Scheduler(resolver);
  let pidWritten: string | undefined;

  await resolveServers(services, resolver);

  const listeners: Listener[] = [];
  try {
    // First: a second plb refuses a pid file naming a live one before it
    // touches any port.
    if (opts.pidfile) {
      writePidFile(opts.pidfile);
      pidWritten = opts.pidfile;
    }
    for (const svc of services) {
      svc.listen((l) => listeners.push(l));
      log.info(
        `service "${svc.name}" (${svc.cfg.protocol}, ${svc.cfg.balance}) listening on ${svc.cfg.listen.map((l) => l.text).join(", ")}, ${svc.pool.servers.length} server(s)`,
      );
    }
    // Logs its own warnings (not root, or staying root).
    dropPrivileges({ user: g.user, group: g.group, chroot_dir: g.chroot_dir });
  } catch (err) {
    for (const l of listeners) l.stop();
    if (pidWritten) removePidFile(pidWritten);
    throw err;
  }

  for (const svc of services) scheduler.watch(svc.pool, svc.protocol.probe(svc), svc.cfg.timeout_cleanup);

  let stopping: Promise<void> | undefined;
  const finish = () => {
    sessions.stop();
    admission.stop();
    if (pidWritten) removePidFile(pidWritten);
    pidWritten = undefined;
  };
  const stopNow = () => {
    for (const svc of services) svc.stopAccepting();
    scheduler.stop();
    for (const s of sessions.all()) s.abort();
    finish();
  };
  const stop = () =>
    (stopping ??= (async () => {
      for (const svc of services) svc.stopAccepting();
      scheduler.stop();
      for (const s of sessions.all()) s.drain?.();
      const open = sessions.size;
      if (open > 0) log.info(`stopping: waiting up to ${g.timeout_shutdown} ms for ${open} connection(s)`);
      const deadline = Date.now() + g.timeout_shutdown;
      while (sessions.size > 0 && Date.now() < deadline) await Bun.sleep(Math.min(50, deadline - Date.now()));
      if (sessions.size > 0) log.warn(`stopping: closing ${sessions.size} connection(s) still open`);
      for (const s of sessions.all()) s.abort();
      finish();
      log.info("stopped");
    })());
  return { services, scheduler, sessions, admission, stop, stopNow };
}

/**
 * The global connection limit: `maxconn`, or what the open-file limit
 * allows (raised to the hard limit first); `log` tells what was decided and
 * warns when a configured value needs more descriptors than there are.
 */
function connectionLimits(config: Config): { maxconn: number; log(): void } {
  const { from, to } = raiseFdLimit();
  const set = config.global.maxconn;
  const fit = maxconnForLimit(to);
  const limitText = to === Infinity ? "unlimited" : String(to);
  return {
    maxconn: set === 0 ? fit : set,
    log() {
      if (to > from) log.info(`open-file limit raised from ${from} to ${limitText}`);
      if (set === 0) return log.info(`maxconn ${fit} (open-file limit ${limitText})`);
      const need = set * 2 + FD_RESERVE;
      if (need > to) {
        log.warn(`maxconn ${set} needs about ${need} file descriptors (two per connection and ${FD_RESERVE} more) but the limit is ${to}: raise it (ulimit -n, LimitNOFILE=) or lower maxconn to ${fit}; plb stops accepting whenever it runs out`);
      }
      for (const s of config.services) {
        if (s.maxconn > set) log.warn(`service "${s.name}": maxconn ${s.maxconn} is above the global maxconn ${set}`);
      }
    },
  };
}

/** Resolve host names before serving; a name that fails makes its server down. */
async function resolveServers(services: Service[], resolver: Resolver): Promise<void> {
  const jobs: Promise<void>[] = [];
  for (const svc of services) {
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
