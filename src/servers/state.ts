/**
 * The one owner of server state. Live traffic, probes and (later) the
 * control API report outcomes here; `report` is the only function that
 * changes `up`, it tells the balancer and logs the cause once.
 */
import type { Balancer, BalancedServer } from "../balance/types.ts";
import type { ServerConfig } from "../config/types.ts";
import { logEnabled, logger } from "../log.ts";

const log = logger("state");

export type Outcome = "connected" | "refused" | "timeout" | "unreachable" | "reset" | "bad-greeting";

/** Counters exposed for logs and (later) stats. */
export interface ServerCounters {
  connections: number;
  failures: number;
  downs: number;
}

export class Server implements BalancedServer {
  readonly index: number;
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly backup: boolean;
  readonly service: string;
  /** IP to connect to: `host` itself, or what the resolver last returned. */
  address: string | undefined;
  up = true;
  active = 0;
  /** Consecutive failures since the last success. */
  failures = 0;
  /** Why the server is down (for logs and stats). */
  cause = "";
  readonly counters: ServerCounters = { connections: 0, failures: 0, downs: 0 };

  constructor(service: string, index: number, cfg: ServerConfig, address: string | undefined) {
    this.service = service;
    this.index = index;
    this.key = cfg.address;
    this.host = cfg.host;
    this.port = cfg.port;
    this.weight = cfg.weight;
    this.backup = cfg.backup;
    this.address = address;
  }

  toString(): string {
    return `server ${this.key} of "${this.service}"`;
  }
}

export type TransitionListener = (server: Server, up: boolean) => void;

export class ServerPool {
  readonly servers: readonly Server[];
  balancer!: Balancer;
  private readonly listeners: TransitionListener[] = [];

  constructor(
    readonly service: string,
    configs: readonly ServerConfig[],
    readonly retry: number,
    resolveLiteral: (host: string) => string | undefined,
  ) {
    this.servers = configs.map((c, i) => new Server(service, i, c, resolveLiteral(c.host)));
  }

  onTransition(fn: TransitionListener): void {
    this.listeners.push(fn);
  }

  /**
   * Apply one observed outcome. A success resets the failure count and brings
   * a down server back; `retry` consecutive failures take an up server down.
   * `source` says who observed it ("traffic" | "probe" | "start").
   */
  report(server: Server, outcome: Outcome, detail = "", source = "traffic"): void {
    if (outcome === "connected") {
      server.failures = 0;
      if (!server.up) this.setUp(server, `${source} connected`);
      return;
    }
    server.failures++;
    server.counters.failures++;
    if (!server.up) {
      server.cause = detail || outcome;
      return;
    }
    if (server.failures >= this.retry || source === "start") {
      const when =
        source === "start"
          ? "at start"
          : server.failures === 1
            ? "after 1 failure"
            : `after ${server.failures} consecutive failures`;
      this.setDown(server, `${when}: ${detail || outcome}`);
    } else if (logEnabled("debug")) {
      log.debug(`${server}: failure ${server.failures}/${this.retry}: ${detail || outcome}`);
    }
  }

  private setUp(server: Server, cause: string): void {
    server.up = true;
    server.cause = "";
    log.info(`${server} is up again: ${cause}`);
    this.balancer.up?.(server);
    for (const fn of this.listeners) fn(server, true);
  }

  private setDown(server: Server, cause: string): void {
    server.up = false;
    server.cause = cause;
    server.counters.downs++;
    log.warn(`${server} is down ${cause}`);
    this.balancer.down?.(server);
    for (const fn of this.listeners) fn(server, false);
    if (!this.servers.some((s) => s.up)) log.error(`service "${this.service}" has no server left`);
  }

  connectionStart(server: Server): void {
    server.active++;
    server.counters.connections++;
    this.balancer.connectionStart?.(server);
  }

  connectionEnd(server: Server): void {
    server.active--;
    this.balancer.connectionEnd?.(server);
  }

  get upCount(): number {
    let n = 0;
    for (const s of this.servers) if (s.up) n++;
    return n;
  }
}
