/**
 * One configured service at run time: its server pool and balancer, its
 * listeners and its protocol. Built from the immutable ServiceConfig.
 */
import { isIP } from "node:net";
import { findAlgorithm } from "./balance/index.ts";
import type { ServiceConfig } from "./config/types.ts";
import { PlbError } from "./errors.ts";
import { listen, type Listener } from "./net/listen.ts";
import type { Sweeper } from "./net/sweep.ts";
import type { Sock } from "./net/types.ts";
import type { ListenOptions, Protocol } from "./protocol.ts";
import { findProtocol } from "./protocols.ts";
import { ServerPool } from "./servers/state.ts";

export class Service {
  readonly name: string;
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
    /** Every open client session, shared by all services (one idle sweep). */
    readonly sessions: Sweeper,
  ) {
    this.name = cfg.name;
    const protocol = findProtocol(cfg.protocol);
    const algorithm = findAlgorithm(cfg.balance);
    if (!protocol || !algorithm) {
      throw new PlbError("CONFIG_INVALID", `service "${cfg.name}": unknown protocol or balance algorithm`);
    }
    this.protocol = protocol;
    this.pool = new ServerPool(cfg.name, cfg.servers, cfg.server_retry, (h) => (isIP(h) ? h : undefined));
    this.pool.balancer = algorithm.create(this.pool.servers);
    this.listenOptions = protocol.init?.(this) ?? {};
    this.usesClient = algorithm.usesClient === true;
    this.hashes = algorithm.hashes;
  }

  /** Bind every listen address; on failure the ones already bound are closed. */
  listen(onBound?: (l: Listener) => void): void {
    try {
      for (const addr of this.cfg.listen) {
        const l = listen(addr, (client) => this.protocol.accept(client, this), this.listenOptions.tls);
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

  /** Key for source hashing: the client IP, IPv4-mapped addresses unwrapped. */
  clientKey(client: Sock): string | undefined {
    if (!this.usesClient) return undefined;
    const a = client.remoteAddress ?? ""; // undefined once the client reset
    return a.startsWith("::ffff:") ? a.slice(7) : a;
  }
}
