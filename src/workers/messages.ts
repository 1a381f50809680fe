/**
 * What the master and its workers say to each other (JSON over the IPC
 * channel Bun.spawn opens). The master owns the configuration and every
 * server's state; a worker reports what it observes and is told the rest.
 */
import type { AcmePush } from "../acme/publish.ts";
import type { Config } from "../config/types.ts";
import type { LogLevelName } from "../config/types.ts";
import type { DnsAnswerSet } from "../servers/from-dns.ts";
import type { Outcome, Server } from "../servers/server.ts";
import type { ServerPool, ServerState } from "../servers/state.ts";
import type { CollectorSnapshot } from "../stats/collector.ts";

/** One server's state, by its identity within its backend. */
export interface ServerStateEntry extends ServerState {
  readonly id: string;
}

/** The state of every server of one backend (or some of them). */
export interface BackendState {
  readonly backend: string;
  readonly servers: readonly ServerStateEntry[];
}

/** A DNS entry's answer, by backend name and entry key (DnsSource.key). */
export interface Discovered {
  readonly backend: string;
  readonly source: string;
  readonly answer: DnsAnswerSet;
}

export type ToWorker =
  | {
      readonly t: "start";
      readonly index: number;
      readonly count: number;
      readonly config: Config;
      readonly logfile: string | undefined;
      readonly loglevel: LogLevelName;
      /** The level came from the command line (a reload keeps it). */
      readonly cliLogLevel: boolean;
      /** Every DNS entry's last answer: the worker starts with those servers. */
      readonly discovered: readonly Discovered[];
      /** The ACME certificates and challenge answers in force: served from the first connection. */
      readonly acme: readonly AcmePush[];
    }
  /** A new ACME certificate, HTTP-01 token or TLS-ALPN-01 certificate (only the master talks to the CA). */
  | { readonly t: "acme"; readonly push: AcmePush }
  | { readonly t: "state"; readonly states: readonly BackendState[] }
  /** A DNS entry's answer (the master asks DNS; the worker's pool takes the set as the master's did). */
  | ({ readonly t: "discovered" } & Discovered)
  | { readonly t: "reload-prepare"; readonly seq: number; readonly config: Config }
  | { readonly t: "reload-commit"; readonly seq: number }
  | { readonly t: "reload-abort"; readonly seq: number }
  | { readonly t: "reopen-logs" }
  /** Send your traffic counters (the stats listener is asked). */
  | { readonly t: "collect"; readonly seq: number }
  | { readonly t: "stop" }
  | { readonly t: "stop-now" };

export type FromWorker =
  | { readonly t: "ready" }
  | { readonly t: "failed"; readonly message: string; readonly code: number }
  | { readonly t: "outcome"; readonly backend: string; readonly server: string; readonly outcome: Outcome; readonly detail: string; readonly source: string }
  | { readonly t: "reload-prepared"; readonly seq: number; readonly error?: string }
  | { readonly t: "collected"; readonly seq: number; readonly counters: CollectorSnapshot | undefined };

/** Environment variable that makes a plb process a worker: "<index>/<count>". */
export const WORKER_ENV = "PLB_WORKER";

export function stateOf(server: Server): ServerStateEntry {
  return { id: server.id, weight: server.userWeight, effectiveWeight: server.weight, healthy: server.healthy, admin: server.admin, pending: server.pending, cause: server.cause, address: server.address };
}

export function poolState(name: string, pool: ServerPool): BackendState {
  return { backend: name, servers: pool.servers.map(stateOf) };
}
