/**
 * The one interface every balancing algorithm implements.
 *
 * A balancer only picks: it never connects, never counts failures and never
 * changes a server's state. `servers/state` owns `up` and `active` and calls
 * the optional hooks after it changed them, so an algorithm can keep its own
 * index structures in step.
 */

/** What a balancer may see of a server (servers/state's Server satisfies it). */
export interface BalancedServer {
  /** Stable index within its service, 0..n-1 in config order. */
  readonly index: number;
  /** "host:port" as configured; stable identity for hashing. */
  readonly key: string;
  /**
   * The effective weight (owned by servers/state): the configured or the
   * operator's, or a share of it (fractional) while the server is in slow
   * start; the `weight` hook follows each change.
   */
  readonly weight: number;
  readonly backup: boolean;
  /** Owned by servers/state. */
  readonly up: boolean;
  /** Open client connections currently relayed to it (owned by servers/state). */
  readonly active: number;
}

export interface PickContext {
  /** Client address (IP text) for hashing algorithms. */
  readonly client?: string;
  /**
   * The request's hash key for algorithms with `hashes: "path" | "header"`
   * (the request path, or the named header's value; "" when absent).
   */
  readonly key?: string;
  /** Servers already tried for this client connection: never pick them again. */
  readonly tried?: ReadonlySet<BalancedServer>;
}

export interface Balancer {
  /**
   * An up server not in `ctx.tried`: a primary when one is eligible, else a
   * backup, else undefined.
   */
  pick(ctx: PickContext): BalancedServer | undefined;
  up?(server: BalancedServer): void;
  down?(server: BalancedServer): void;
  /** `server.weight` changed (the operator, a slow-start step). */
  weight?(server: BalancedServer): void;
  connectionStart?(server: BalancedServer): void;
  connectionEnd?(server: BalancedServer): void;
}

export interface BalancerAlgorithm {
  /** Config name (`balance = "roundrobin"`). */
  readonly name: string;
  /** One line for docs and --help. */
  readonly description: string;
  /** Reads `ctx.client`: callers skip computing it for the others. */
  readonly usesClient?: boolean;
  /** Reads `ctx.key`, computed per request by the http protocol from this. */
  readonly hashes?: "path" | "header";
  create(servers: readonly BalancedServer[]): Balancer;
}
