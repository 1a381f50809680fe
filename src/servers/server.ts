/**
 * One server of a backend, as servers/state keeps it: its identity (host
 * and port), the weights in force, health, admin state and counters. Only
 * state.ts (ServerPool) changes these fields; everyone else reads them.
 */
import type { BalancedServer } from "../balance/types.ts";
import type { ServerConfig } from "../config/types.ts";

/** "tls": the TLS handshake with the server failed (its certificate did not verify, or no TLS at all). */
export type Outcome = "connected" | "refused" | "timeout" | "unreachable" | "reset" | "bad-greeting" | "tls";

/** The operator's say: take connections, finish what is open but take no new ones, or out of service (not probed). */
export type AdminState = "ready" | "drain" | "maint";

/** Counters exposed for logs and stats. */
export interface ServerCounters {
  connections: number;
  failures: number;
  downs: number;
  /** Changes of `up` (either way). */
  transitions: number;
  /** Probes that failed. */
  checkFailures: number;
}

/** Why a check failed, as `plb_server_check_failures_total{reason}` names it. */
export const CHECK_FAILURE_REASONS = ["refused", "timeout", "unreachable", "reset", "protocol", "status", "body", "tls"] as const;
export type CheckFailureReason = (typeof CHECK_FAILURE_REASONS)[number];

/** The last check of a server (a start check, a probe of a down server, or an active check). */
export interface CheckRecord {
  /** Epoch ms when it ended. */
  readonly at: number;
  readonly ok: boolean;
  /** What it saw: "GET /healthz → 500", "connection refused", "greeting 421 busy". */
  readonly detail: string;
  /** The status (http) or reply code (smtp) it got, if any. */
  readonly code: number | undefined;
  /** Why it failed (undefined when it passed). */
  readonly reason: CheckFailureReason | undefined;
  readonly ms: number;
}

/** The last change of `up`: when (epoch ms), which way, and why. */
export interface Transition {
  readonly at: number;
  readonly up: boolean;
  readonly cause: string;
}

/** The identity of a server within its backend: its host (lowercased) and port. */
export function serverId(cfg: Pick<ServerConfig, "host" | "port">): string {
  return `${cfg.host.toLowerCase()}:${cfg.port}`;
}

export class Server implements BalancedServer {
  /** Position in the current configuration (balancers order by it). */
  index: number;
  readonly id: string;
  readonly key: string;
  readonly host: string;
  readonly port: number;
  /** The name TLS to servers sends (SNI) and checks: the configured host, or for a server from DNS the name it was found under. */
  readonly tlsName: string;
  /** The weight balancers read: `userWeight`, or a share of it while the server is in slow start. */
  weight: number;
  /** The weight in force (HAProxy's uweight): the configuration's, or the operator's (admin API) until the configuration's changes. */
  userWeight: number;
  /** The weight the configuration gives. */
  configWeight: number;
  backup: boolean;
  /** The name of its backend (a service's own servers: the service's name). */
  readonly backend: string;
  /** IP to connect to: `host` itself, or what the resolver last returned. */
  address: string | undefined;
  /** Health: passed its checks and traffic (server_retry failures in a row take it away). */
  healthy = true;
  admin: AdminState = "ready";
  /** Still waiting for its first check (joined by a reload): no traffic before it passes. */
  pending = false;
  /** When a reload removed it from the configuration (0: configured): live sessions finish, nothing new. */
  removedAt = 0;
  active = 0;
  /** Consecutive failures since the last success. */
  failures = 0;
  /** Active checks (`health`) passed and failed in a row: `rise` and `fall` count these, not `failures`. */
  checksPassed = 0;
  checksFailed = 0;
  /** The last check, if any. */
  lastCheck: CheckRecord | undefined;
  /** Failed checks by reason (their sum is counters.checkFailures). */
  readonly checkFailuresBy: Record<CheckFailureReason, number> = { refused: 0, timeout: 0, unreachable: 0, reset: 0, protocol: 0, status: 0, body: 0, tls: 0 };
  /** Why the server is not up (for logs and stats). */
  cause = "";
  readonly counters: ServerCounters = { connections: 0, failures: 0, downs: 0, transitions: 0, checkFailures: 0 };
  /** The last change of `up`, if any. */
  lastTransition: Transition | undefined;
  /** When its slow start began (epoch ms); 0: not in slow start. */
  rampSince = 0;

  constructor(backend: string, index: number, cfg: ServerConfig, address: string | undefined) {
    this.backend = backend;
    this.index = index;
    this.id = serverId(cfg);
    this.key = cfg.address;
    this.host = cfg.host;
    this.port = cfg.port;
    this.tlsName = cfg.dnsName ?? cfg.host;
    this.weight = this.userWeight = this.configWeight = cfg.weight;
    this.backup = cfg.backup;
    this.address = address;
  }

  get removed(): boolean {
    return this.removedAt !== 0;
  }

  /** In slow start: its `weight` ramps up to `userWeight`. */
  get ramping(): boolean {
    return this.rampSince !== 0;
  }

  /** Takes new connections: healthy, ready, in the configuration. */
  get up(): boolean {
    return this.healthy && this.admin === "ready" && !this.removed;
  }

  toString(): string {
    return `server ${this.key} of "${this.backend}"`;
  }
}
