/**
 * Wires a validated Config into a running balancer, in the order that makes
 * privileges safe: resolve names, write the pid file (refusing a live
 * one), bind every listener (privileged ports included) and set backlogs,
 * chroot and drop privileges, then start probing. `stop()` undoes it: stop accepting, drain, close.
 */
import { Admission } from "./admission.ts";
import { PlbError } from "./errors.ts";
import type { Config, ListenTlsConfig } from "./config/types.ts";
import { join } from "node:path";
import { logger } from "./log.ts";
import { descriptorsFree, FD_RESERVE, maxconnForLimit, raiseFdLimit } from "./net/fd-limit.ts";
import { Sweeper } from "./net/sweep.ts";
import { dropPrivileges } from "./process/privileges.ts";
import { removePidFile, writePidFile } from "./process/pidfile.ts";
import { Scheduler } from "./scheduler.ts";
import { prepare } from "./prepare.ts";
import { shareOf, type Service } from "./service.ts";
import type { Backend } from "./backend.ts";
import type { Outcome, Server } from "./servers/server.ts";
import type { DnsAnswerSet } from "./servers/from-dns.ts";
import type { Listener } from "./net/listen.ts";
import type { ListenAddress, LogLevelName } from "./config/types.ts";
import { chrooted, keepDirectories } from "./process/files.ts";
import { closeReloadStatus, openReloadStatus } from "./process/reload-status.ts";
import { AccessLogs } from "./access-log/logs.ts";
import { AcmeRun } from "./acme/run.ts";
import { Collector } from "./stats/collector.ts";
import { poolControl, startStats, statsToken, type StatsListener } from "./stats/listener.ts";
import { Metrics } from "./stats/metrics.ts";
import { lookAfter, planReload, reload, serverSetChanged, sweepInterval, type ReloadPlan, type ReloadSummary, type Running } from "./reload.ts";
import { announceStop, discoveryFor, listeningLine, resolveServers, systemResolver } from "./startup.ts";

const log = logger("main");

export interface StartOptions {
  /** Pid file to write (undefined: none). */
  pidfile?: string;
  /** The log level given on the command line (a reload keeps it over the file's). */
  cliLogLevel?: LogLevelName;
  /** Start as worker `index` of `count`: see WorkerRole. */
  worker?: WorkerRole;
}

/**
 * A worker among workers (workers/): it binds every address with
 * SO_REUSEPORT (ports below 1024 before the privilege drop, the others
 * after it, so that a worker restarted later can join every group), runs no
 * probes, and sends what it observes of the servers to its master, which
 * owns their state and pushes it back. Connection limits are its share.
 */
export interface WorkerRole {
  readonly index: number;
  readonly count: number;
  readonly outcomes: (backend: string, server: Server, outcome: Outcome, detail: string, source: string) => void;
  /** The master's DNS answers when it started this worker: its servers from DNS to start with. */
  readonly discovered?: readonly { readonly backend: string; readonly source: string; readonly answer: DnsAnswerSet }[];
}

export interface Runtime {
  /** The services in force (a reload changes them). */
  readonly services: readonly Service[];
  /** The backends in force (a reload changes them). */
  readonly backends: readonly Backend[];
  readonly config: Config;
  /** Runs the probes (none in a worker). */
  readonly scheduler: Scheduler | undefined;
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
  /** The first phase of a reload alone (a worker: its master commits once every worker could). */
  planReload(config: Config): ReloadPlan;
  /** Traffic counted for the stats listener (with [stats]). */
  readonly collector: Collector | undefined;
  /** SIGUSR1: the access logs by name again (the main log is command.ts's). */
  reopenLogs(): void;
  /** A worker takes its master's DNS answer for one entry: the pool takes the set, removed servers are retired as a reload retires them. */
  takeDiscovered(backend: string, source: string, answer: DnsAnswerSet): void;
}

/** The files (and, for `dir`, the directory: a name inside it) a listener's TLS reads. */
function tlsFiles(tls: ListenTlsConfig): string[] {
  const src = tls.source;
  const files = src.kind === "dir" ? [join(src.dir, "*")] : src.kind === "pairs" ? src.pairs.flatMap((p) => [p.cert, p.key]) : [];
  if (tls.client_ca !== undefined) files.push(tls.client_ca);
  return files;
}

/** Every file a configuration reads (kept reachable for reloads after the chroot). */
function configuredFiles(config: Config): string[] {
  const files = config.file ? [config.file] : [];
  for (const s of config.services) {
    if (s.tls) files.push(...tlsFiles(s.tls));
    if (s.smtp.starttls) files.push(...tlsFiles(s.smtp.starttls));
    files.push(...Object.values(s.http.error_pages ?? {}));
  }
  if (config.acme?.directory_ca !== undefined) files.push(config.acme.directory_ca);
  for (const b of config.backends) {
    const t = b.server_tls;
    if (t) for (const f of [t.ca, t.cert, t.key]) if (f !== undefined) files.push(f);
  }
  return files;
}

export async function start(config: Config, opts: StartOptions = {}): Promise<Runtime> {
  const g = config.global;
  const resolver = systemResolver(config);
  const sessions = new Sweeper(sweepInterval(config));
  const worker = opts.worker;
  const share = worker?.count ?? 1;
  const limits = connectionLimits(config, share);
  const admission = new Admission({ maxconn: limits.maxconn, descriptorsFree });
  // Everything --check checks too (files, certificates, user/group/chroot_dir), before any port is bound.
  const svcContext = { sessions, admission, backlog: g.backlog, reusePort: worker !== undefined, share };
  const { services, backends } = prepare(config, { context: svcContext });
  // A worker's backends report outcomes to its master, which applies and logs them (also for a backend a reload adds).
  const delegateOutcomes = worker
    ? (b: Backend) => {
        b.pool.quiet = true;
        b.pool.delegate = (server, outcome, detail, source) => worker.outcomes(b.name, server, outcome, detail, source);
      }
    : undefined;
  for (const svc of services) svc.admit();
  if (worker) {
    for (const b of backends) {
      delegateOutcomes!(b);
      for (const d of worker.discovered ?? []) if (d.backend === b.name) b.setDiscovered(d.source, d.answer, false);
    }
  }
  limits.log();
  const scheduler = worker ? undefined : new Scheduler(resolver);
  // A worker's servers from DNS come from its master.
  const discovery = worker ? undefined : discoveryFor(() => running, resolver);
  let pidWritten: string | undefined;

  await resolveServers(backends, resolver);

  const listeners: Listener[] = [];
  let acme: AcmeRun | undefined;
  let stats: { metrics: Metrics; listener: StatsListener } | undefined;
  // Traffic counters, when a stats listener will show them (a worker's go to its master).
  const collector = config.stats ? new Collector() : undefined;
  collector?.start();
  const accessLogs = new AccessLogs();
  // What reloads change and the stats listener shows.
  const running: Running = {
    listens: true,
    accessLogs,
    config,
    services,
    backends,
    context: svcContext,
    scheduler,
    discovery,
    derivedMaxconn: limits.derived,
    cliLogLevel: opts.cliLogLevel,
    delegateOutcomes,
  };
  // The first answers before serving: their servers are part of the start's set (the probes start once serving).
  if (discovery) await Promise.all(backends.map((b) => discovery.watch(b, true)));
  try {
    // First: a second plb refuses a pid file naming a live one before it
    // touches any port.
    if (opts.pidfile) {
      writePidFile(opts.pidfile);
      pidWritten = opts.pidfile;
      openReloadStatus(opts.pidfile);
    }
    // A worker binds ports below 1024 now and the others once it runs as `user`.
    const now = (addr: ListenAddress) => worker === undefined || g.user === undefined || (addr.port > 0 && addr.port < 1024);
    for (const svc of services) svc.listen((l) => listeners.push(l), now);
    // Access log files are opened with the listeners, before the chroot.
    accessLogs.configure(config.services);
    if (config.stats && !worker) {
      // Bound with the listeners (a port below 1024, or a socket in a root-owned directory).
      const metrics = new Metrics(() => Promise.resolve(collector!), () => running.services, () => running.backends, (b) => running.discovery?.status(b) ?? []);
      metrics.start();
      stats = { metrics, listener: startStats(config.stats, metrics, statsToken(config.stats), poolControl(() => running.backends)) };
    }
    keepDirectories(configuredFiles(config));
    // directory_ca read before the chroot; the storage checked after the drop, as the user plb runs as.
    const acmePrepared = worker ? undefined : AcmeRun.prepare(config);
    // Logs its own warnings (not root, or staying root).
    const dropped = dropPrivileges({ user: g.user, group: g.group, chroot_dir: g.chroot_dir });
    if (dropped.chroot !== undefined) chrooted(dropped.chroot);
    for (const svc of services) {
      svc.listen((l) => listeners.push(l));
      const line = listeningLine(svc);
      if (worker) log.debug(line);
      else log.info(line);
    }
    // ACME once listening and as the user plb runs as (a worker is sent what it serves by its master).
    acme = acmePrepared?.start();
  } catch (err) {
    acme?.stop();
    discovery?.stop();
    for (const l of listeners) l.stop();
    accessLogs.close();
    stats?.listener.stop();
    stats?.metrics.stop();
    collector?.stop();
    if (pidWritten) removePidFile(pidWritten);
    closeReloadStatus();
    throw err;
  }

  for (const b of backends) void lookAfter(running, b);

  let stopping: Promise<void> | undefined;
  /** A reload keeps the manager (no new order for unchanged names); one that adds the first names starts it. */
  const acmeReloaded = (next: Config) => {
    if (worker) return;
    try {
      if (acme) acme.update(next);
      else acme = AcmeRun.start(next);
    } catch (err) {
      log.error(`ACME: ${(err as Error).message}; certificates are not ordered until this is fixed and plb reloaded`);
    }
  };
  const finish = () => {
    acme?.stop();
    accessLogs.close();
    stats?.listener.stop();
    stats?.metrics.stop();
    collector?.stop();
    sessions.stop();
    admission.stop();
    if (pidWritten) removePidFile(pidWritten);
    pidWritten = undefined;
    closeReloadStatus();
  };
  const stopNow = () => {
    stats?.listener.stopping();
    for (const svc of running.services) svc.stopAccepting();
    scheduler?.stop();
    discovery?.stop();
    for (const s of sessions.all()) s.abort();
    finish();
  };
  const stop = () =>
    (stopping ??= (async () => {
      // First: /healthz says 503 while the sessions drain (the stats listener closes last).
      stats?.listener.stopping();
      if (running.config.global.shutdown_delay > 0) await announceStop(running.config.global.shutdown_delay);
      for (const svc of running.services) svc.stopAccepting();
      scheduler?.stop();
      discovery?.stop();
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
    get backends() {
      return running.backends;
    },
    scheduler,
    sessions,
    admission,
    stop,
    stopNow,
    collector,
    reopenLogs: () => accessLogs.reopen(),
    takeDiscovered(name: string, source: string, answer: DnsAnswerSet) {
      const b = running.backends.find((x) => x.name === name);
      if (b === undefined) return; // not (yet) in this process's configuration
      const change = b.setDiscovered(source, answer);
      if (change.added.length + change.removed.length + change.changed.length > 0) serverSetChanged(running, b, change, `${source} answered`, undefined);
    },
    reload: (next: Config) => {
      if (stopping) throw new PlbError("CONFIG_INVALID", "stopping: a reload is no longer possible");
      // The token file is read again (a rotated token); one that cannot be read refuses the reload.
      const token = stats && next.stats ? statsToken(next.stats) : undefined;
      const summary = reload(running, next);
      acmeReloaded(next);
      if (stats && next.stats) {
        stats.listener.setToken(token);
        stats.listener.setRequireServers(next.stats.healthz_requires_servers);
      }
      return summary;
    },
    planReload: (next: Config) => {
      if (stopping) throw new PlbError("CONFIG_INVALID", "stopping: a reload is no longer possible");
      return planReload(running, next);
    },
  };
}

/**
 * The global connection limit: `maxconn`, or what the open-file limit
 * allows (raised to the hard limit first); `log` tells what was decided and
 * warns when a configured value needs more descriptors than there are.
 */
function connectionLimits(config: Config, share = 1): { maxconn: number; derived: number; log(): void } {
  const { from, to } = raiseFdLimit();
  const set = config.global.maxconn;
  const fit = maxconnForLimit(to);
  const limitText = to === Infinity ? "unlimited" : String(to);
  return {
    maxconn: set === 0 ? fit : shareOf(set, share),
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

