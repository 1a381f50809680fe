/**
 * One configured service at run time: the listener side. Its listeners,
 * its protocol, its connection limits, and the backend that takes its
 * clients (backend.ts, which owns the servers and their state). Built from
 * a `ServiceSetup` (configuration and protocol, which the caller looks up:
 * the core imports no protocol) and changed by a reload through
 * `reconfigure`; sessions take the configuration and backend in force when
 * they start (http: when a request starts).
 */
import type { Admission, Admitted } from "./admission.ts";
import type { Backend } from "./backend.ts";
import type { ListenAddress, ServiceConfig } from "./config/types.ts";
import { ProxyHeaderReader, type ProxyIntake } from "./net/accept-proxy.ts";
import { AddressSet } from "./net/cidr.ts";
import { listen, type Listener, type ListenSettings } from "./net/listen.ts";
import { logger } from "./log.ts";
import type { Sweepable, Sweeper } from "./net/sweep.ts";
import type { Sock } from "./net/types.ts";
import type { Protocol, ProtocolSetup, RouteChoice, ServiceHandle } from "./protocol.ts";
import type { Diagnostic } from "./config/diagnostics.ts";
import { PlbError } from "./errors.ts";
import { type ListenTls, prepareListenTls } from "./tls/listener.ts";
import { buildRouteTable, type RouteTable } from "./routes/table.ts";
import type { RequestFacts } from "./routes/types.ts";

const log = logger("admission");
const tlsLog = logger("tls");

/** What every service shares at run time. */
export interface ServiceContext {
  /** Every open client session, shared by all services (one idle sweep). */
  readonly sessions: Sweeper;
  /** Connection limits across services (maxconn, descriptors). */
  readonly admission: Admission;
  /** listen(2) queue length of each listen socket. */
  backlog?: number;
  /** Bind with SO_REUSEPORT (a worker among workers). */
  readonly reusePort?: boolean;
  /** Processes the limits are shared out among (workers; default 1). */
  readonly share?: number;
}

/** This process's part of a connection limit shared by `n` processes (0: none). */
export function shareOf(limit: number, n = 1): number {
  return limit === 0 || n <= 1 ? limit : Math.max(1, Math.ceil(limit / n));
}

/** A service's configuration with what it names, prepared (files read) but not in force yet. */
export interface ServiceSetup {
  readonly cfg: ServiceConfig;
  readonly protocol: Protocol;
  readonly built: ProtocolSetup;
  /** The listener's TLS (certificates read and checked), whatever the protocol. */
  readonly tls?: ListenTls;
}

/**
 * Build `cfg`'s protocol setup and its listener's TLS (reads their files);
 * `previous`: what the running service shares (reload). Throws one
 * CONFIG_INVALID error listing the problems of both (Diagnostic[] cause).
 */
export function setupService(cfg: ServiceConfig, protocol: Protocol, previous?: unknown): ServiceSetup {
  const problems: Diagnostic[] = [];
  let built: ProtocolSetup = {};
  try {
    built = protocol.setup?.(cfg, cfg.name, previous) ?? {};
  } catch (err) {
    if (!(err instanceof PlbError) || !Array.isArray(err.cause)) throw err;
    problems.push(...(err.cause as Diagnostic[]));
  }
  const tls = cfg.tls === undefined ? undefined : listenTlsFor(cfg, protocol, problems);
  if (problems.length > 0) {
    throw new PlbError("CONFIG_INVALID", problems.map((d) => `${d.service}: ${d.message}`).join("\n"), { cause: problems });
  }
  return { cfg, protocol, built, tls };
}

/** Read and check the service's TLS files; problems join `problems`, warnings are logged. */
function listenTlsFor(cfg: ServiceConfig, protocol: Protocol, problems: Diagnostic[]): ListenTls | undefined {
  const label = `service ${JSON.stringify(cfg.name)}`;
  const prepared = prepareListenTls(cfg.tls!, protocol.alpn?.(cfg) ?? []);
  for (const p of prepared.problems) problems.push({ path: p.key, service: label, message: `${p.key}: ${p.message}` });
  for (const w of prepared.warnings) tlsLog.warn(`${label}: ${w}`);
  return prepared.tls;
}

/** The backends of a configuration by name (a service finds its own and its routes' there). */
export type BackendDirectory = ReadonlyMap<string, Backend>;

/** A service's route table and each route's choice (by route position), built once per configuration. */
interface Routing {
  readonly table: RouteTable;
  readonly choices: readonly { readonly route: RouteChoice["route"]; readonly backend: Backend | undefined }[];
}

function routingFor(cfg: ServiceConfig, backends: BackendDirectory): Routing | undefined {
  if (cfg.routes.length === 0) return undefined;
  const choices = cfg.routes.map((route) => ({ route, backend: route.action.kind === "backend" && route.action.name !== undefined ? backends.get(route.action.name) : undefined }));
  return { table: buildRouteTable(cfg.routes), choices };
}

/** What accept_proxy requires of a service's connections (undefined: off). */
function intakeFor(cfg: ServiceConfig): ProxyIntake | undefined {
  return cfg.accept_proxy ? { from: AddressSet.of(cfg.proxy_from), timeoutMs: cfg.timeout_proxy_header } : undefined;
}

export class Service implements Admitted, ServiceHandle {
  readonly name: string;
  cfg: ServiceConfig;
  shared: unknown;
  /** This service's own connection limit; 0: only the global one. */
  maxconn: number;
  /** Client connections open (kept by admission). */
  active = 0;
  removedAt = 0;
  private accepting = true;
  private lastFullLog = 0;
  readonly sessions: Sweeper;
  readonly admission: Admission;
  readonly protocol: Protocol;
  /** The backend that takes its clients (`cfg.backend`; undefined: an http or tcp service whose routes choose). */
  backend: Backend | undefined;
  /** Its routes (http, tcp) and, by route position, what each one takes a request to; swapped whole by a reload. */
  private routing: Routing | undefined;
  listeners: Listener[] = [];
  private listenSettings: ListenSettings;
  /** accept_proxy: where a connection's PROXY header may come from, and by when; undefined: off. */
  private intake: ProxyIntake | undefined;
  /** The protocol takes a new client connection (after its PROXY header, with accept_proxy). */
  private readonly takeOver = (client: Sock) => this.protocol.accept(client, this);
  private readonly accept = (client: Sock) => (this.intake === undefined ? this.protocol.accept(client, this) : new ProxyHeaderReader(client, this, this.intake, this.takeOver));

  constructor(
    setup: ServiceSetup,
    backends: BackendDirectory,
    private readonly ctx: ServiceContext,
  ) {
    const { cfg, protocol, built, tls } = setup;
    this.name = cfg.name;
    this.cfg = cfg;
    this.shared = built.shared;
    this.sessions = ctx.sessions;
    this.admission = ctx.admission;
    this.maxconn = shareOf(cfg.maxconn, ctx.share);
    this.protocol = protocol;
    this.backend = cfg.backend === undefined ? undefined : backends.get(cfg.backend);
    this.routing = routingFor(cfg, backends);
    this.listenSettings = { tls, backlog: ctx.backlog, reusePort: ctx.reusePort };
    this.intake = intakeFor(cfg);
    built.commit?.();
  }

  /** Count this service's connections against the limits, from now on. */
  admit(): void {
    this.admission.add(this);
  }

  /**
   * Put a reload's setup in force: the configuration and the protocol's
   * setup for new sessions, and the backend now named. Cannot fail.
   */
  reconfigure(setup: ServiceSetup, backends: BackendDirectory): void {
    const { cfg, built, tls } = setup;
    this.cfg = cfg;
    this.shared = built.shared;
    this.backend = cfg.backend === undefined ? undefined : backends.get(cfg.backend);
    this.routing = routingFor(cfg, backends);
    this.maxconn = shareOf(cfg.maxconn, this.ctx.share);
    const before = this.listenSettings.tls;
    if (tls !== undefined && before?.fingerprint !== tls.fingerprint) {
      tlsLog.info(`service "${this.name}": ${before === undefined ? "TLS on" : "new TLS settings or certificates"} for new connections (${tls.certificates.entries.length} certificate(s), ${tls.certificates.byName.size} name(s))`);
    }
    this.listenSettings = { tls, backlog: this.ctx.backlog, reusePort: this.ctx.reusePort };
    this.intake = intakeFor(cfg);
    built.commit?.();
  }

  /**
   * Bind every listen address (those `now` selects; the others on a later
   * call); on failure the ones already bound are closed.
   */
  listen(onBound?: (l: Listener) => void, now: (addr: ListenAddress) => boolean = () => true): void {
    try {
      for (const addr of this.cfg.listen) {
        if (this.listeners.some((l) => l.address === addr) || !now(addr)) continue;
        const l = listen(addr, this.accept, this.listenSettings);
        if (!this.accepting) l.pause();
        this.listeners.push(l);
        onBound?.(l);
      }
    } catch (err) {
      this.stopAccepting();
      throw err;
    }
  }

  /** Bind `addr` for this service, not accepting until `useListeners` takes it (a reload binds first, commits after). */
  bindPaused(addr: ListenAddress): Listener {
    const l = listen(addr, this.accept, this.listenSettings);
    l.pause();
    return l;
  }

  /**
   * Accept on `list` from now on (a reload: listeners kept, moved from
   * another service or bound by `bindPaused`), with this service's handler
   * and listen settings.
   */
  useListeners(list: Listener[]): void {
    this.listeners = list;
    for (const l of list) {
      l.retarget(this.accept, this.listenSettings);
      if (this.accepting) l.resume();
      else l.pause();
    }
  }

  stopAccepting(): void {
    for (const l of this.listeners) l.stop();
  }

  /** A reload removed this service: no new sessions. */
  retire(at = Date.now()): void {
    this.removedAt = at;
    this.accepting = false;
  }

  /** Every backend this service may send to: its own, then its routes', once each. */
  get backends(): readonly Backend[] {
    const out: Backend[] = this.backend ? [this.backend] : [];
    for (const c of this.routing?.choices ?? []) if (c.backend !== undefined && !out.includes(c.backend as Backend)) out.push(c.backend as Backend);
    return out;
  }

  /** The first route that takes a request with these facts, and its backend (undefined: none, or no routes). */
  route(facts: RequestFacts): RouteChoice | undefined {
    const r = this.routing;
    if (r === undefined) return undefined;
    const route = r.table.match(facts);
    return route === undefined ? undefined : r.choices[route.index];
  }

  /** A client session starts: idle sweeps and connection limits count it. */
  track(session: Sweepable): void {
    if (this.sessions.add(session)) this.admission.opened(this);
  }

  /** A client session is over (idempotent). */
  untrack(session: Sweepable): void {
    if (this.sessions.delete(session)) this.admission.closed(this);
  }

  /** Pause or resume every listener (admission: maxconn, descriptors). */
  setAccepting(on: boolean): void {
    if (on === this.accepting || this.removedAt !== 0) return;
    this.accepting = on;
    for (const l of this.listeners) on ? l.resume() : l.pause();
    if (!on) {
      const t = Date.now();
      if (t - this.lastFullLog >= 10_000) {
        this.lastFullLog = t;
        const why = this.maxconn > 0 && this.active >= this.maxconn ? `at its maxconn (${this.maxconn})` : `(plb at ${this.admission.total} of maxconn ${this.admission.maxconn}, or out of descriptors)`;
        log.warn(`service "${this.name}" ${why}: not accepting for now; new clients wait in the listen queue`);
      }
    }
  }
}
