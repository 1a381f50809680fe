/**
 * Wires a validated Config into a running balancer, in the order that makes
 * privileges safe: resolve names, write the pid file (refusing a live
 * one), bind every listener (privileged ports included) and set backlogs,
 * chroot and drop privileges, then start probing. `stop()` undoes it: stop accepting, drain, close.
 */
import { Admission } from "./admission.ts";
import { PlbError } from "./errors.ts";
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
import type { LogLevelName } from "./config/types.ts";
import { chrooted, keepDirectories } from "./process/files.ts";
import { closeReloadStatus, openReloadStatus } from "./process/reload-status.ts";
import { reload, type ReloadSummary, type Running } from "./reload.ts";

const log = logger("main");

export interface StartOptions {
  /** Pid file to write (undefined: none). */
  pidfile?: string;
  /** The log level given on the command line (a reload keeps it over the file's). */
  cliLogLevel?: LogLevelName;
}

export interface Runtime {
  /** The services in force (a reload changes them). */
  readonly services: readonly Service[];
  readonly config: Config;
  readonly scheduler: Scheduler;
  readonly sessions: Sweeper;
  readonly admission: Admission;
  /** Stop accepting, let sessions finish for up to timeout_shutdown, close the rest. */
  stop(): Promise<void>;
  /** Close everything at once (second signal). */
  stopNow(): void;
  /**
   * Put `config` in force without losing a connection or a server's state
   * (reload.ts). Throws PlbError with the old configuration still in force.
   */
  reload(config: Config): ReloadSummary;
}

/** Every file a configuration reads (kept reachable for reloads after the chroot). */
function configuredFiles(config: Config): string[] {
  const files = config.file ? [config.file] : [];
  for (const s of config.services) {
    if (s.http.tls) files.push(s.http.tls.cert, s.http.tls.key);
    files.push(...Object.values(s.http.error_pages ?? {}));
  }
  return files;
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
  const svcContext = { sessions, admission, backlog: g.backlog };
  const services = prepare(config, { context: svcContext });
  for (const svc of services) svc.admit();
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
      openReloadStatus(opts.pidfile);
    }
    for (const svc of services) {
      svc.listen((l) => listeners.push(l));
      log.info(
        `service "${svc.name}" (${svc.cfg.protocol}, ${svc.cfg.balance}) listening on ${svc.cfg.listen.map((l) => l.text).join(", ")}, ${svc.pool.servers.length} server(s)`,
      );
    }
    keepDirectories(configuredFiles(config));
    // Logs its own warnings (not root, or staying root).
    const dropped = dropPrivileges({ user: g.user, group: g.group, chroot_dir: g.chroot_dir });
    if (dropped.chroot !== undefined) chrooted(dropped.chroot);
  } catch (err) {
    for (const l of listeners) l.stop();
    if (pidWritten) removePidFile(pidWritten);
    closeReloadStatus();
    throw err;
  }

  for (const svc of services) scheduler.watch(svc.pool, svc.protocol.probe(svc), svc.cfg.timeout_cleanup);
  const running: Running = {
    config,
    services,
    context: svcContext,
    scheduler,
    derivedMaxconn: limits.derived,
    cliLogLevel: opts.cliLogLevel,
  };

  let stopping: Promise<void> | undefined;
  const finish = () => {
    sessions.stop();
    admission.stop();
    if (pidWritten) removePidFile(pidWritten);
    pidWritten = undefined;
    closeReloadStatus();
  };
  const stopNow = () => {
    for (const svc of running.services) svc.stopAccepting();
    scheduler.stop();
    for (const s of sessions.all()) s.abort();
    finish();
  };
  const stop = () =>
    (stopping ??= (async () => {
      for (const svc of running.services) svc.stopAccepting();
      scheduler.stop();
      for (const s of sessions.all()) s.drain?.();
      const open = sessions.size;
      if (open > 0) log.info(`stopping: waiting up to ${running.config.global.timeout_shutdown} ms for ${open} connection(s)`);
      const deadline = Date.now() + running.config.global.timeout_shutdown;
      while (sessions.size > 0 && Date.now() < deadline) await Bun.sleep(Math.min(50, deadline - Date.now()));
      if (sessions.size > 0) log.warn(`stopping: closing ${sessions.size} connection(s) still open`);
      for (const s of sessions.all()) s.abort();
      finish();
      log.info("stopped");
    })());
  return {
    get services() {
      return running.services;
    },
    get config() {
      return running.config;
    },
    scheduler,
    sessions,
    admission,
    stop,
    stopNow,
    reload: (next: Config) => {
      if (stopping) throw new PlbError("CONFIG_INVALID", "stopping: a reload is no longer possible");
      return reload(running, next);
    },
  };
}

/**
 * The global connection limit: `maxconn`, or what the open-file limit
 * allows (raised to the hard limit first); `log` tells what was decided and
 * warns when a configured value needs more descriptors than there are.
 */
function connectionLimits(config: Config): { maxconn: number; derived: number; log(): void } {
  const { from, to } = raiseFdLimit();
  const set = config.global.maxconn;
  const fit = maxconnForLimit(to);
  const limitText = to === Infinity ? "unlimited" : String(to);
  return {
    maxconn: set === 0 ? fit : set,
    derived: fit,
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
