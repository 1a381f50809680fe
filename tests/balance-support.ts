/** Test helpers for the balancer tests: writable servers and a driver standing in for servers/state. */
import type { BalancedServer, Balancer, BalancerAlgorithm, PickContext } from "../src/balance/types.ts";

/** A BalancedServer whose state fields tests may change (servers/state owns them in plb). */
export interface TestServer extends BalancedServer {
  up: boolean;
  active: number;
  weight: number;
}

export interface ServerSpec {
  weight?: number;
  backup?: boolean;
  up?: boolean;
}

/** Servers named "a", "b", ... with keys "10.0.0.<i+1>:80", in config order. */
export function makeServers(specs: readonly ServerSpec[]): TestServer[] {
  return specs.map((spec, index) => ({
    index,
    key: `10.0.0.${index + 1}:80`,
    weight: spec.weight ?? 1,
    backup: spec.backup ?? false,
    up: spec.up ?? true,
    active: 0,
  }));
}

export function name(server: BalancedServer | undefined): string {
  return server === undefined ? "-" : String.fromCharCode(97 + server.index);
}

/** Distinct client address number i (up to 2^20): "172.x.y.z". */
export function clientAddress(i: number): string {
  return `172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`;
}

/** Mutates servers the way servers/state does, then calls the hook. */
export class Driver {
  readonly balancer: Balancer;

  constructor(
    readonly algorithm: BalancerAlgorithm,
    readonly servers: TestServer[],
  ) {
    this.balancer = algorithm.create(servers);
  }

  pick(ctx: PickContext = {}): BalancedServer | undefined {
    return this.balancer.pick(ctx);
  }

  setUp(server: TestServer, up: boolean): void {
    server.up = up;
    if (up) this.balancer.up?.(server);
    else this.balancer.down?.(server);
  }

  setWeight(server: TestServer, weight: number): void {
    server.weight = weight;
    this.balancer.weight?.(server);
  }

  start(server: BalancedServer): void {
    const s = server as TestServer;
    s.active++;
    this.balancer.connectionStart?.(s);
  }

  end(server: BalancedServer): void {
    const s = server as TestServer;
    s.active--;
    this.balancer.connectionEnd?.(s);
  }

  /**
   * `picks` connections with at most `concurrency` open at once (the oldest
   * closes first), each from a new client address. Returns picks per server
   * index; throws if a pick fails.
   */
  run(picks: number, concurrency = 60, firstClient = 0): number[] {
    const counts = this.servers.map(() => 0);
    const open: BalancedServer[] = [];
    for (let i = 0; i < picks; i++) {
      if (open.length >= concurrency) this.end(open.shift()!);
      const server = this.pick({ client: clientAddress(firstClient + i) });
      if (server === undefined) throw new Error(`pick ${i} found no server`);
      counts[server.index]++;
      this.start(server);
      open.push(server);
    }
    for (const server of open) this.end(server);
    return counts;
  }
}

/** Each count's share of the total divided by its expected share from `weights` (1 = exact). */
export function ratios(counts: readonly number[], weights: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const weightTotal = weights.reduce((a, b) => a + b, 0);
  return counts.map((c, i) => c / total / (weights[i] / weightTotal));
}
