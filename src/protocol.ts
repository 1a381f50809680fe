/**
 * What a protocol module gives the core, and what it may use of a service
 * and of a backend. A protocol gives a handler for each accepted client and
 * a check of a backend's servers; it sees a service only through
 * `ServiceHandle` and a backend through `BackendHandle`. The core (service,
 * backend, scheduler, state, balancers, admission) imports no protocol:
 * prepare.ts looks protocols up by config name and hands them in.
 */
import type { BackendConfig, ServiceConfig } from "./config/types.ts";
import type { DescriptorUsers } from "./net/fd-limit.ts";
import type { Sweepable } from "./net/sweep.ts";
import type { Sock, SocketEvents } from "./net/types.ts";
import type { ProtocolName } from "./protocol-names.ts";
import type { RequestFacts, RouteConfig } from "./routes/types.ts";
import type { Probe } from "./scheduler.ts";
import type { ServerPool } from "./servers/state.ts";
import type { ServerTls } from "./tls/client.ts";

/**
 * What a protocol builds for a service from its configuration: what its
 * sessions share (`service.shared`), and what to do once this setup is the
 * one in force. (TLS on the listener is the service's, src/tls/.)
 */
export interface ProtocolSetup {
  readonly shared?: unknown;
  /** Runs when the setup takes effect (at start, or when a reload commits). */
  commit?(): void;
}

/** What a protocol builds for a backend from its configuration (its sessions' server side). */
export interface BackendSetup {
  readonly shared?: unknown;
  /** Runs when the setup takes effect (at start, or when a reload commits). */
  commit?(): void;
}

/** A running backend as sessions and probes see it: its servers and what belongs to them. */
export interface BackendHandle {
  readonly name: string;
  /** The configuration in force (a reload replaces it). */
  readonly cfg: BackendConfig;
  /** What the protocol's backend setup built for the configuration in force. */
  readonly shared: unknown;
  /** TLS to its servers (`server_tls`), or undefined for plain text. */
  readonly tls?: ServerTls;
  /** Its servers, their state and the balancer. */
  readonly pool: ServerPool;
  /** The balancer hashes client addresses (computing one costs a string). */
  readonly usesClient: boolean;
  /** What per-request key the balancer hashes (http only), if any. */
  readonly hashes: "path" | "header" | undefined;
  /** Key for source hashing: the client IP, or undefined when the balancer does not hash it. */
  clientKey(client: Sock): string | undefined;
}

/** A route that took a request, with the backend it names (undefined: the service's own, or a route that answers itself). */
export interface RouteChoice {
  readonly route: RouteConfig;
  readonly backend: BackendHandle | undefined;
}

/** The running service as its protocol's sessions see it. */
export interface ServiceHandle {
  readonly name: string;
  /** The configuration in force (a reload replaces it; sessions take it when they start). */
  readonly cfg: ServiceConfig;
  /** What the protocol's setup built for the configuration in force. */
  readonly shared: unknown;
  /** When a reload removed this service (0: it is configured); its sessions finish. */
  readonly removedAt: number;
  /**
   * The backend that takes its clients (http: the requests no route sends
   * elsewhere); undefined only for an http or tcp service whose routes choose
   * (a request none takes gets 404). A reload may point it at another;
   * sessions take it when they start (http: each request).
   */
  readonly backend: BackendHandle | undefined;
  /** http (tcp: `host` is the TLS name): the first route that takes a request with these facts, and its backend; undefined when none does (or the service has no routes). */
  route(facts: RequestFacts): RouteChoice | undefined;
  /** Connection limits and descriptor shortages (told of plb's own connect failures). */
  readonly admission: DescriptorUsers;
  /** A client session starts: idle sweeps and connection limits count it. */
  track(session: Sweepable): void;
  /** A client session is over (idempotent). */
  untrack(session: Sweepable): void;
}

export interface Protocol {
  readonly name: ProtocolName;
  /** ALPN names a TLS listener of a service of this protocol offers, in its order of preference (none: no ALPN). */
  alpn?(cfg: ServiceConfig): readonly string[];
  /**
   * Build what a service's sessions share from `cfg` (reading files: at
   * start before any chroot, and on every reload before anything changes).
   * `previous` is what the running service shares now (reload): keep what
   * must survive, such as idle server connections, but do not change it
   * before `commit`, since the reload may still be abandoned. Throws
   * PlbError (CONFIG_*) for a setting that cannot work.
   */
  setup?(cfg: ServiceConfig, name: string, previous: unknown): ProtocolSetup;
  /**
   * Build what the sessions share of a backend from `cfg` (http: the idle
   * server connections, kept from `previous` on a reload; tcp, smtp: the
   * handshake with each server). Cannot fail.
   */
  backendSetup?(cfg: BackendConfig, previous: unknown): BackendSetup;
  /** Take over an accepted client socket. */
  accept(client: Sock, service: ServiceHandle): SocketEvents;
  /**
   * Build the check the scheduler runs on this backend's servers: the start
   * check, probes of down servers, and with `health` the active checks
   * (http: GET and expect; tcp: connect, send/expect; smtp: greeting, EHLO,
   * QUIT). Only this wiring reads the configuration: the check itself takes
   * its settings as arguments (the HealthConfig, timeout_connect,
   * client_address).
   */
  probe(backend: BackendHandle): Probe;
}
