/**
 * One configured service at run time: its server pool and balancer, its
 * listeners and its protocol. Built from the immutable ServiceConfig with
 * the protocol and balancing algorithm its configuration names, which the
 * caller looks up (prepare.ts): the core imports no protocol.
 */
import { isIP } from "node:net";
import type { Admission, Admitted } from "./admission.ts";
import type { BalancerAlgorithm } from "./balance/types.ts";
import type { ServiceConfig } from "./config/types.ts";
import { listen, type Listener } from "./net/listen.ts";
import { logger } from "./log.ts";
import type { Sweepable, Sweeper } from "./net/sweep.ts";
import type { Sock } from "./net/types.ts";
import type { ListenOptions, Protocol, ServiceHandle } from "./protocol.ts";
import { ServerPool } from "./servers/state.ts";

const log = logger("admission");

/** What every service shares at run time. */
export interface ServiceContext {
  /** Every open client session, shared by all services (one idle sweep). */
  readonly sessions: Sweeper;
  /** Connection limits across services (maxconn, descriptors). */
  readonly admission: Admission;
  /** listen(2) queue length of each listen socket. */
  readonly backlog?: number;
}

export class Service implements Admitted, ServiceHandle {
  readonly name: string;
  /** This service's own connection limit; 0: only the global one. */
  readonly maxconn: number;
  /** Client connections open (kept by admission). */
  active = 0;
  private accepting = true;
  private lastFullLog = 0;
  readonly sessions: Sweeper;
  readonly admission: Admission;
  readonly pool: ServerPool;
  readonly protocol: Protocol;
  readonly listeners: Listener[] = [];
  /** The balancer hashes client addresses (computing one costs a string). */
  readonly usesClient: boolean;
  private readonly listenOptions: ListenOptions;
  /** What per-request key the balancer hashes (http only), if any. */
  readonly hashes: "path" | "header" | undefined;

  constructor(
    readonly cfg: ServiceConfig,
    private readonly ctx: ServiceContext,
    protocol: Protocol,
    algorithm: BalancerAlgorithm,
  ) {
    this.name = cfg.name;
    this.sessions = ctx.sessions;
    this.admission = ctx.admission;
    this.maxconn = cfg.maxconn;
    ctx.admission.add(this);
    this.protocol = protocol;
    this.pool = new ServerPool(cfg.name, cfg.servers, cfg.server_retry, (h) => (isIP(h) ? h : undefined));
    this.pool.useAlgorithm(algorithm);
    this.listenOptions = protocol.init?.(this) ?? {};
    this.usesClient = algorithm.usesClient === true;
    this.hashes = algorithm.hashes;
  }

  /** Bind every listen address; on failure the ones already bound are closed. */
  listen(onBound?: (l: Listener) => void): void {
    try {
      for (const addr of this.cfg.listen) {
        const l = listen(addr, (client) => this.protocol.accept(client, this), { tls: this.listenOptions.tls, backlog: this.ctx.backlog });
        if (!this.accepting) l.pause();
        this.listeners.push(l);
        onBound?.(l);
      }
    } catch (err) {
      this.stopAccepting();
      throw err;
    }
  }

  stopAccepting(): void {
    for (const l of this.listeners) l.stop();
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
    if (on === this.accepting) return;
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

  /** Key for source hashing: the client IP, IPv4-mapped addresses unwrapped. */
  clientKey(client: Sock): string | undefined {
    if (!this.usesClient) return undefined;
    const a = client.remoteAddress ?? ""; // undefined once the client reset
    return a.startsWith("::ffff:") ? a.slice(7) : a;
  }
}
