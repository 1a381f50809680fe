/**
 * Brings down servers back. Every `timeout_cleanup` each down server is
 * re-resolved (names only) and probed with its protocol's probe; the outcome
 * goes to servers/state, which decides. One probe in flight per server; all
 * timers stop with `stop()`. Knows no protocol.
 */
import { isIP } from "node:net";
import type { Outcome, Server, ServerPool } from "./servers/state.ts";
import { logger, logEnabled } from "./log.ts";

const log = logger("scheduler");

export interface ProbeResult {
  readonly outcome: Outcome;
  readonly detail: string;
}

/** Connects to `server.address` and says how it went. */
export type Probe = (server: Server) => Promise<ProbeResult>;

export interface NameResolver {
  resolve(host: string): Promise<string[]>;
}

interface Watched {
  readonly pool: ServerPool;
  readonly probe: Probe;
  readonly intervalMs: number;
}

export class Scheduler {
  private readonly timers = new Map<Server, ReturnType<typeof setTimeout>>();
  private readonly inFlight = new Set<Server>();
  private readonly watched = new Map<Server, Watched>();
  private stopped = false;

  constructor(private readonly resolver: NameResolver) {}

  /**
   * Probe every server once now (a server failing its first check starts
   * down, like HAProxy's initial check), then each down server every
   * `intervalMs` from now on.
   */
  watch(pool: ServerPool, probe: Probe, intervalMs: number): void {
    const w: Watched = { pool, probe, intervalMs };
    for (const s of pool.servers) {
      this.watched.set(s, w);
      if (!s.up) this.schedule(s);
      else void this.initialCheck(s, w);
    }
    pool.onTransition((server, up) => {
      if (!up) this.schedule(server);
    });
  }

  private schedule(server: Server): void {
    const w = this.watched.get(server);
    if (this.stopped || !w || this.timers.has(server) || this.inFlight.has(server)) return;
    const t = setTimeout(() => {
      this.timers.delete(server);
      void this.run(server, w);
    }, w.intervalMs);
    this.timers.set(server, t);
  }

  /** One probe: resolve, connect, report; then schedule the next if still down. */
  private async run(server: Server, w: Watched): Promise<void> {
    if (this.stopped || server.up) return;
    this.inFlight.add(server);
    let result: ProbeResult;
    try {
      result = await this.probeOnce(server, w.probe);
    } catch (err) {
      result = { outcome: "unreachable", detail: (err as Error).message };
    } finally {
      this.inFlight.delete(server);
    }
    if (this.stopped) return;
    if (logEnabled("debug")) log.debug(`probe of ${server}: ${result.outcome} ${result.detail}`);
    w.pool.report(server, result.outcome, result.detail, "probe");
    if (!server.up) this.schedule(server);
  }

  private async initialCheck(server: Server, w: Watched): Promise<void> {
    this.inFlight.add(server);
    const result = await this.probeOnce(server, w.probe).catch((err: Error) => ({ outcome: "unreachable" as const, detail: err.message }));
    this.inFlight.delete(server);
    if (this.stopped) return;
    if (server.up && result.outcome !== "connected") w.pool.report(server, result.outcome, result.detail, "start");
    // Taken down by traffic while this check ran: its transition could not
    // schedule a probe (one in flight per server), so do it now.
    else if (!server.up) this.schedule(server);
  }

  private async probeOnce(server: Server, probe: Probe): Promise<ProbeResult> {
    if (isIP(server.host) === 0) {
      try {
        const addrs = await this.resolver.resolve(server.host);
        server.address = addrs[0];
      } catch (err) {
        return { outcome: "unreachable", detail: (err as Error).message };
      }
    }
    if (server.address === undefined) return { outcome: "unreachable", detail: "no address" };
    return probe(server);
  }

  /** Number of probes waiting or running (for tests and stats). */
  get pending(): number {
    return this.timers.size + this.inFlight.size;
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
