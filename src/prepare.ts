/**
 * The part of a start that comes before binding, shared with `plb --check`
 * so that both accept and refuse the same configurations: every service is
 * built with its protocol prepared (http reads its error pages and TLS files
 * and checks that certificate and key go together), and the privilege
 * settings are checked (user and group exist, chroot_dir is a directory).
 * Every problem is collected and thrown at once as one CONFIG_INVALID error,
 * one line per problem, `plb.toml:12: service "web": tls.key: …`.
 *
 * Nothing here binds, chroots, changes ids or writes a file; the pid file,
 * the listeners and the privilege drop stay in main.ts. A reload prepares
 * the new file the same way (`prepareSetups` with the running services, so
 * that what they share and must keep is handed to their new setup).
 */
import { backendWhere, configLine, formatDiagnostics, type Config, type Diagnostic } from "./config/index.ts";
import { loadServerTls, type ServerTls } from "./tls/client.ts";
import { PlbError } from "./errors.ts";
import { Admission } from "./admission.ts";
import { Sweeper } from "./net/sweep.ts";
import { PLATFORM } from "./process/platform.ts";
import { checkPrivileges } from "./process/privileges.ts";
import { findAlgorithm } from "./balance/index.ts";
import { Backend, setupBackend, type BackendSetup } from "./backend.ts";
import { findProtocol } from "./protocols.ts";
import { Service, setupService, type ServiceContext, type ServiceSetup } from "./service.ts";

export interface PrepareOptions {
  /** What the running services share (main's); fresh ones when only checking. */
  context?: ServiceContext;
  /**
   * Check user, group and chroot_dir as a start as root uses them. Default:
   * when running as root (a start by anyone else ignores them with a
   * warning); `--check` always does, whoever runs it.
   */
  privileges?: boolean;
  /** The running services and backends by name (a reload): one of the same name and protocol builds on what it shares. */
  running?: { readonly services: ReadonlyMap<string, Service>; readonly backends: ReadonlyMap<string, Backend> };
}

/** Everything a configuration runs, prepared (files read) but not in force. */
export interface Setups {
  readonly services: ServiceSetup[];
  readonly backends: BackendSetup[];
}

/** The services and backends of a configuration, built. */
export interface Built {
  readonly services: Service[];
  readonly backends: Backend[];
}

function isDiagnostics(v: unknown): v is Diagnostic[] {
  return Array.isArray(v) && v.every((d) => d !== null && typeof d === "object" && typeof d.message === "string");
}

/** Builds the services and backends of `config`; throws PlbError("CONFIG_INVALID") listing every problem. */
export function prepare(config: Config, opts: PrepareOptions = {}): Built {
  const context = opts.context ?? { sessions: new Sweeper(1000), admission: new Admission({ maxconn: Infinity }) };
  const setups = prepareSetups(config, opts);
  const backends = setups.backends.map((setup) => new Backend(setup));
  const byName = new Map(backends.map((b) => [b.name, b]));
  return { backends, services: setups.services.map((setup) => new Service(setup, byName, context)) };
}

/** The setup of every service and backend of `config` (files read, nothing in force); throws PlbError("CONFIG_INVALID") listing every problem. */
export function prepareSetups(config: Config, opts: PrepareOptions = {}): Setups {
  const problems: Diagnostic[] = [];
  const setups: ServiceSetup[] = [];
  const backends: BackendSetup[] = [];

  for (const cfg of config.backends) {
    const protocol = findProtocol(cfg.protocol);
    const algorithm = findAlgorithm(cfg.balance);
    if (!protocol || !algorithm) throw new PlbError("CONFIG_INVALID", `backend "${cfg.name}": unknown protocol or balance algorithm`);
    const running = opts.running?.backends.get(cfg.name);
    let tls: ServerTls | undefined;
    if (cfg.server_tls !== undefined) {
      const loaded = loadServerTls(cfg.server_tls);
      const where = backendWhere(cfg, "server_tls");
      for (const p of loaded.problems) problems.push({ path: p.path, service: where.label, line: where.line, message: `${p.path}: ${p.message}` });
      tls = loaded.tls;
    }
    backends.push(setupBackend(cfg, protocol, algorithm, running?.protocol === protocol ? running.shared : undefined, tls));
  }

  config.services.forEach((cfg, index) => {
    try {
      const protocol = findProtocol(cfg.protocol);
      if (!protocol) throw new PlbError("CONFIG_INVALID", `service "${cfg.name}": unknown protocol`);
      const running = opts.running?.services.get(cfg.name);
      setups.push(setupService(cfg, protocol, running?.protocol === protocol ? running.shared : undefined));
    } catch (err) {
      if (!(err instanceof PlbError) || !err.code.startsWith("CONFIG")) throw err;
      const found = isDiagnostics(err.cause) ? err.cause : [{ path: "", message: err.message }];
      for (const d of found) {
        // "tls.cert" → key "tls", sub "cert" (found when written as a [service.tls] table).
        const [key, sub] = d.path.split(/[.[]/);
        problems.push({ ...d, line: d.line ?? configLine(config, { service: index, key: key || undefined, sub }) });
      }
    }
  });

  const g = config.global;
  // Where a drop is impossible (Windows) the settings are refused whoever runs plb.
  if (opts.privileges ?? (process.geteuid?.() === 0 || !PLATFORM.privileges)) {
    for (const p of checkPrivileges({ user: g.user, group: g.group, chroot_dir: g.chroot_dir })) {
      problems.push({ path: p.key, line: configLine(config, { key: p.key }), message: p.message });
    }
  }

  if (g.workers > 1 && PLATFORM.os !== "linux") {
    problems.push({
      path: "workers",
      line: configLine(config, { key: "workers" }),
      message: `workers = ${g.workers} needs Linux (its SO_REUSEPORT spreads new connections among the workers' sockets); on ${PLATFORM.os} set workers = 1`,
    });
  }

  if (problems.length > 0) {
    throw new PlbError("CONFIG_INVALID", formatDiagnostics(config.file, problems), { cause: problems });
  }
  return { services: setups, backends };
}
