/**
 * Reload: put a new, validated configuration in force in the running
 * process without losing a connection or a server's state.
 *
 * In two phases. First everything that can fail, with nothing changed:
 * every service and backend is prepared as at start (files read, settings
 * checked) and every listen address that is not bound yet is bound,
 * paused. Any problem undoes the bindings and throws: the old configuration
 * stays in force. Then the commit, which cannot fail: backends and services
 * are matched by name (and protocol; one whose protocol changed is
 * replaced). Kept backends take their new settings and their new server set
 * (servers are matched by host and port and keep health, failures, admin
 * state, counters, open and idle connections); kept services take their new
 * settings and backend for new sessions; new ones start; removed services
 * stop accepting, removed backends take no new sessions, and their sessions
 * (and those of removed servers) finish on their own for up to
 * timeout_shutdown. Listeners are matched by address and move, without
 * closing, to whichever service names them now. A reload that changes
 * only which backend a service uses leaves every backend's state alone.
 */
import { Backend, type BackendSetup } from "./backend.ts";
import type { BackendConfig, Config, GlobalConfig, ListenAddress, LogLevelName, ServiceConfig } from "./config/types.ts";
import { PlbError } from "./errors.ts";
import type { ConsolaInstance } from "consola";
import { logger, setLogLevel } from "./log.ts";
import type { Listener } from "./net/listen.ts";
import { Sweeper } from "./net/sweep.ts";
import type { AccessLogs } from "./access-log/logs.ts";
import { prepareSetups } from "./prepare.ts";
import type { Discovery } from "./discovery.ts";
import type { Scheduler } from "./scheduler.ts";
import type { ServerSetChange } from "./servers/state.ts";
import { Service, shareOf, type ServiceContext, type ServiceSetup } from "./service.ts";

const log = logger("reload");

/** What a reload changes: the running process as main.ts keeps it. */
export interface Running {
  config: Config;
  services: Service[];
  /** The backends in force, each used by one service or more. */
  backends: Backend[];
  readonly context: ServiceContext;
  /** Runs the probes (not in a worker: its master does). */
  readonly scheduler: Scheduler | undefined;
  /** Asks DNS for the servers of `{ dns }` and `{ srv }` entries (not in a worker: its master does). */
  readonly discovery?: Discovery;
  /** The global maxconn plb derived from the open-file limit (used when maxconn = 0). */
  readonly derivedMaxconn: number;
  /** A log level given on the command line: it wins over the file's. */
  readonly cliLogLevel?: LogLevelName;
  /** This process accepts clients (false: the master of workers, which only keeps state and probes). */
  readonly listens: boolean;
  /** The access logs this process writes (none in a master). */
  readonly accessLogs?: AccessLogs;
  /** Wires a backend a reload adds as the start wired its own (a worker: outcomes go to its master). */
  readonly delegateOutcomes?: (backend: Backend) => void;
}

/** A reload prepared (files read, new addresses bound, nothing changed yet): commit it, or abort it. */
export interface ReloadPlan {
  commit(): ReloadSummary;
  /** Undo what preparing did (close the new listeners). */
  abort(): void;
}

export interface ReloadSummary {
  /** The difference in one line: "reload: +1 server, -1 service, 2 settings changed" (the caller logs it, with the time taken). */
  readonly line: string;
  readonly details: readonly string[];
  /** Settings that only a restart applies: "user (\"nobody\" stays)", … */
  readonly needRestart: readonly string[];
}

/** Global keys a running process cannot change. */
const RESTART_KEYS = ["user", "group", "chroot_dir", "pidfile", "logfile", "workers", "nameservers"] as const;
/** Global keys that apply at run time (the timeouts are defaults already merged into each service). */
const GLOBAL_KEYS = ["loglevel", "timeout_shutdown", "shutdown_delay", "backlog", "maxconn", "dns_min_ttl", "dns_max_ttl"] as const;

function listenKey(addr: ListenAddress, service: string, index: number): string {
  // Port 0 ("any free port") names no port to match: the same position of the same service.
  return addr.port === 0 ? `${service}#${index} ${addr.host}` : `[${addr.host}]:${addr.port}`;
}

/** Settings as JSON, a route's regex by its source (JSON has none) and its line left out (moving a route is no change). */
const asJson = (v: unknown): string => JSON.stringify(v, (k, x) => (k === "line" ? undefined : x instanceof RegExp ? x.source : x));
const same = (a: unknown, b: unknown): boolean => asJson(a) === asJson(b);

/** Setting names that differ between two configurations of a service or backend (http.* and smtp.* one by one). */
function changedSettings<T extends ServiceConfig | BackendConfig>(a: T, b: T): string[] {
  const out: string[] = [];
  const left = a as unknown as Record<string, unknown>;
  const right = b as unknown as Record<string, unknown>;
  for (const key of Object.keys(right)) {
    if (key === "name" || key === "servers" || key === "listen" || key === "discover") continue;
    if (key === "http" || key === "smtp") {
      const l = left[key] as Record<string, unknown>;
      const r = right[key] as Record<string, unknown>;
      for (const sub of Object.keys(r)) if (!same(l[sub], r[sub])) out.push(`${key}.${sub}`);
    } else if (!same(left[key], right[key])) out.push(key);
  }
  return out;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;
const signed = (plus: number, minus: number, word: string): string[] =>
  [plus > 0 ? `+${plural(plus, word)}` : "", minus > 0 ? `-${plural(minus, word)}` : ""].filter(Boolean);

/**
 * Put `config` in force. Throws PlbError (CONFIG_INVALID, LISTEN_FAILED)
 * with nothing changed when it cannot; returns what changed.
 */
export function reload(running: Running, config: Config): ReloadSummary {
  return planReload(running, config).commit();
}

/**
 * The first phase: prepare every service of `config` and bind the addresses
 * not bound yet. Throws PlbError (CONFIG_INVALID, LISTEN_FAILED) with
 * nothing changed. Workers prepare, the master commits once every one of
 * them could.
 */
export function planReload(running: Running, config: Config): ReloadPlan {
  const old = running.config;
  const byName = new Map(running.services.map((s) => [s.name, s]));
  const backendsByName = new Map(running.backends.map((b) => [b.name, b]));
  const prepared = prepareSetups(config, { running: { services: byName, backends: backendsByName }, privileges: false });
  const setups = prepared.services;

  // Which running backend each new one continues (same name and protocol).
  const keptBackends = prepared.backends.map((setup) => {
    const b = backendsByName.get(setup.cfg.name);
    return b !== undefined && b.protocol === setup.protocol ? b : undefined;
  });
  const freshBackends = prepared.backends.map((setup, i) => (keptBackends[i] === undefined ? new Backend(setup) : undefined));
  const backendNamed = new Map(prepared.backends.map((setup, i) => [setup.cfg.name, (keptBackends[i] ?? freshBackends[i])!]));
  // Which running service each new one continues (same name and protocol).
  const kept = setups.map((setup) => {
    const svc = byName.get(setup.cfg.name);
    return svc !== undefined && svc.protocol === setup.protocol ? svc : undefined;
  });
  const fresh = setups.map((setup, i) => (kept[i] === undefined ? new Service(setup, backendNamed, running.context) : undefined));
  const owner = (i: number): Service => (kept[i] ?? fresh[i])!;

  // Bind what is not bound yet; on failure, undo and keep the old configuration.
  const bound = new Map<string, Listener>();
  for (const svc of running.services) for (const l of svc.listeners) bound.set(listenKey(l.address, svc.name, svc.cfg.listen.indexOf(l.address)), l);
  const added: Listener[] = [];
  const lists: Listener[][] = [];
  try {
    setups.forEach((setup, i) => {
      if (!running.listens) return void lists.push([]);
      lists.push(
        setup.cfg.listen.map((addr, j) => {
          const existing = bound.get(listenKey(addr, setup.cfg.name, j));
          if (existing !== undefined) return existing;
          const l = owner(i).bindPaused(addr);
          added.push(l);
          return l;
        }),
      );
    });
  } catch (err) {
    for (const l of added) l.stop();
    const why = err instanceof PlbError ? err.message : String(err);
    const root = process.geteuid?.() !== 0 && old.global.user !== undefined ? ` (plb runs as "${old.global.user}" since it dropped privileges: binding a port below 1024 needs a restart)` : "";
    throw new PlbError("LISTEN_FAILED", `${why}${/permission denied/.test(why) ? root : ""}; the configuration in force is unchanged`, { cause: err });
  }

  // Access log files the new configuration names (opened now: a failure changes nothing).
  let logs: { commit(): void; abort(): void } | undefined;
  try {
    logs = running.accessLogs?.plan(config.services);
  } catch (err) {
    for (const l of added) l.stop();
    throw err;
  }
  let done = false;
  return {
    abort() {
      if (done) return;
      done = true;
      for (const l of added) l.stop();
      logs?.abort();
    },
    commit() {
      if (done) throw new Error("reload plan used twice");
      done = true;
      logs?.commit();
      return commitReload(running, config, { setups, kept, fresh, lists, added, byName, backends: prepared.backends, keptBackends, freshBackends, backendNamed });
    },
  };
}

interface Prepared {
  readonly setups: readonly ServiceSetup[];
  readonly kept: readonly (Service | undefined)[];
  readonly fresh: readonly (Service | undefined)[];
  readonly lists: readonly Listener[][];
  readonly added: readonly Listener[];
  readonly byName: ReadonlyMap<string, Service>;
  readonly backends: readonly BackendSetup[];
  readonly keptBackends: readonly (Backend | undefined)[];
  readonly freshBackends: readonly (Backend | undefined)[];
  readonly backendNamed: ReadonlyMap<string, Backend>;
}

/** The second phase: nothing here may fail. */
function commitReload(running: Running, config: Config, p: Prepared): ReloadSummary {
  const { setups, kept, fresh, lists, added, byName, keptBackends, freshBackends, backendNamed } = p;
  const old = running.config;
  const owner = (i: number): Service => (kept[i] ?? fresh[i])!;
  const at = Date.now();
  const details: string[] = [];
  let serversAdded = 0;
  let serversRemoved = 0;
  let weights = 0;
  let settings = 0;
  const removedServices: Service[] = [];
  const inUse = new Set(lists.flat());

  for (const svc of running.services) {
    if (kept.includes(svc)) continue;
    removedServices.push(svc);
    details.push(`service "${svc.name}" removed${byName.has(svc.name) && config.services.some((c) => c.name === svc.name) ? " (its protocol changed: replaced)" : ""}`);
    running.context.admission.remove(svc);
    svc.retire(at);
    for (const l of svc.listeners) if (!inUse.has(l)) l.stop();
    svc.listeners = [];
  }
  // The running services' listeners that no service names any more.
  for (const svc of running.services) for (const l of svc.listeners) if (!inUse.has(l)) l.stop();

  // Backends first: the services point at them.
  let backendsRemoved = 0;
  for (const b of running.backends) {
    if (keptBackends.includes(b)) continue;
    backendsRemoved++;
    serversRemoved += b.pool.servers.length;
    if (b.cfg.declared) details.push(`backend "${b.name}" removed${config.backends.some((c) => c.name === b.name) ? " (its protocol changed: replaced)" : ""}`);
    running.scheduler?.unwatch(b.pool);
    running.discovery?.unwatch(b);
    b.retire(at);
  }
  const backends = p.backends.map((setup, i) => {
    const b = (keptBackends[i] ?? freshBackends[i])!;
    const label = setup.cfg.declared ? `backend "${b.name}"` : `service "${b.name}"`;
    if (keptBackends[i]) {
      const was = new Set(b.cfg.discover.map((d) => d.key));
      for (const d of setup.cfg.discover) if (!was.delete(d.key)) details.push(`${label}: ${d.key} added (its servers join once DNS answers)`);
      for (const key of was) details.push(`${label}: ${key} removed`);
      const changed = changedSettings(b.cfg, setup.cfg);
      settings += changed.length;
      if (changed.length > 0) details.push(`${label}: ${changed.join(", ")} changed`);
      const change = b.reconfigure(setup);
      serversAdded += change.added.length;
      serversRemoved += change.removed.length;
      weights += change.changed.length;
      for (const s of change.added) details.push(`${s} added`);
      for (const s of change.removed) details.push(`${s} removed${s.active > 0 ? ` (${s.active} session(s) finish on their own)` : ""}`);
      for (const s of change.changed) details.push(`${s}: weight ${s.userWeight}${s.backup ? ", backup" : ""}`);
    } else {
      running.delegateOutcomes?.(b);
      serversAdded += b.pool.servers.length;
      if (setup.cfg.declared) details.push(`backend "${b.name}" added (${setup.cfg.protocol}, ${b.pool.servers.length} server(s))`);
    }
    void lookAfter(running, b);
    return b;
  });

  const services = setups.map((setup: ServiceSetup, i) => {
    const svc = owner(i);
    if (kept[i]) {
      const changed = changedSettings(svc.cfg, setup.cfg);
      settings += changed.length;
      if (changed.length > 0) details.push(`service "${svc.name}": ${changed.join(", ")} changed`);
      svc.reconfigure(setup, backendNamed);
    } else {
      svc.admit();
      details.push(`service "${svc.name}" added (${setup.cfg.protocol}, ${setup.cfg.listen.map((l) => l.text).join(", ")})`);
    }
    svc.useListeners(lists[i]);
    return svc;
  });
  const servicesAdded = fresh.filter(Boolean).length;

  // Global settings.
  const g: GlobalConfig = config.global;
  const needRestart = RESTART_KEYS.filter((k) => !same(old.global[k], g[k])).map((k) => `${k} (${JSON.stringify(old.global[k] ?? null)} stays)`);
  // The token (file) is read again by the caller; where and how the listener listens needs a restart.
  const listenerOf = (c: Config) => c.stats && { listen: c.stats.listen, read_token: c.stats.read_token };
  if (!same(listenerOf(old), listenerOf(config))) needRestart.push("[stats] listen or read_token (the stats listener stays as it was)");
  for (const k of GLOBAL_KEYS) {
    if (same(old.global[k], g[k])) continue;
    settings++;
    details.push(`${k}: ${JSON.stringify(old.global[k])} → ${JSON.stringify(g[k])}`);
  }
  running.context.backlog = g.backlog;
  running.context.admission.reconfigure(g.maxconn === 0 ? running.derivedMaxconn : shareOf(g.maxconn, running.context.share));
  if (running.cliLogLevel === undefined) setLogLevel(g.loglevel);
  const sessions = running.context.sessions;
  sessions.setInterval(sweepInterval(config));

  running.config = config;
  running.services = services;
  running.backends = backends;
  retireSessions(sessions, g.timeout_shutdown, serversRemoved + removedServices.length + backendsRemoved > 0);

  const parts = [
    ...signed(serversAdded, serversRemoved, "server"),
    ...signed(servicesAdded, removedServices.length, "service"),
    ...(added.length > 0 ? [`${plural(added.length, "listener")} bound`] : []),
    ...(weights > 0 ? [`${plural(weights, "weight")} changed`] : []),
    ...(settings > 0 ? [`${plural(settings, "setting")} changed`] : []),
  ];
  const line = `reload: ${parts.length > 0 ? parts.join(", ") : "no changes"}`;
  return { line, details, needRestart };
}

/**
 * Look after `backend` from now on: probes of its down servers (and its
 * checks), and its servers from DNS. At start (`first`): resolves once the
 * first DNS answers are in. Again on a reload: the same backend with new
 * settings keeps its schedule.
 */
export function lookAfter(running: Running, backend: Backend, first = false): Promise<void> {
  running.scheduler?.watch(backend.pool, backend.protocol.probe(backend), backend.cfg.timeout_cleanup, backend.cfg.health);
  return running.discovery?.watch(backend, first) ?? Promise.resolve();
}

/**
 * The sweep interval for every timeout the configuration's sessions keep:
 * each service's client-side ones and each backend's timeout_server.
 */
export function sweepInterval(config: Config): number {
  return Sweeper.intervalFor([
    ...config.services.flatMap((s) => [s.timeout_client, ...(s.protocol === "http" ? [s.http.timeout_http_request] : []), ...(s.accept_proxy ? [s.timeout_proxy_header] : [])]),
    ...config.backends.map((b) => b.timeout_server),
  ]);
}

/**
 * A backend's server set changed between reloads (a DNS answer): logged
 * server by server as a reload logs them, and the sessions of the servers
 * that left are retired as a reload retires them. `out` undefined: not
 * logged (a worker: its master logs the change).
 */
export function serverSetChanged(running: Running, backend: Backend, change: ServerSetChange, why: string, out: ConsolaInstance | undefined): void {
  if (out !== undefined) {
    const parts = [...signed(change.added.length, change.removed.length, "server"), ...(change.changed.length > 0 ? [`${plural(change.changed.length, "weight")} changed`] : [])];
    out.info(`${backend.cfg.declared ? "backend" : "service"} "${backend.name}": ${why}: ${parts.join(", ")}`);
    for (const s of change.added) out.info(`${s} added${s.pending ? " (joins after its first check)" : ""}`);
    for (const s of change.removed) out.info(`${s} removed${s.active > 0 ? ` (${s.active} session(s) finish on their own)` : ""}`);
    for (const s of change.changed) out.info(`${s}: weight ${s.weight}${s.backup ? ", backup" : ""}`);
  }
  retireSessions(running.context.sessions, running.config.global.timeout_shutdown, change.removed.length > 0);
}

/**
 * Sessions of removed services stop taking requests (an http keep-alive
 * client is closed after its current response); sessions that still use a
 * removed service or server are closed once timeout_shutdown has passed
 * since its removal.
 */
function retireSessions(sessions: Sweeper, timeoutMs: number, removedAny: boolean): void {
  if (!removedAny) return;
  for (const s of sessions.all()) if ((s.service?.removedAt ?? 0) !== 0) s.drain?.();
  const t = setTimeout(() => {
    const limit = Date.now() - timeoutMs;
    let n = 0;
    for (const s of sessions.all()) {
      const since = s.retiredSince?.() ?? 0;
      if (since !== 0 && since <= limit) {
        s.abort();
        n++;
      }
    }
    if (n > 0) log.warn(`reload: closed ${plural(n, "session")} still using a removed service or server after timeout_shutdown (${timeoutMs} ms)`);
  }, timeoutMs + 20);
  t.unref?.();
}
