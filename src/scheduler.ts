/**
 * Brings down servers back. Every `timeout_cleanup` each unhealthy server
 * is re-resolved (names only) and probed with its protocol's probe; the
 * outcome goes to servers/state, which decides. Servers that join a pool
 * later (a reload) get the same first check as at start. A server in
 * maintenance is not probed. One probe in flight per server; `unwatch`
 * forgets a pool, `stop()` every timer. Knows no protocol.
 */
import { isIP } from "node:net";
import type { Outcome, Server } from "./servers/server.ts";
import type { ServerPool } from "./servers/state.ts";
import { logger, logEnabled } from "./log.ts";
import { events } from "./events.ts";

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
  probe: Probe;
  intervalMs: number;
  readonly unsubscribe: () => void;
}

export class Scheduler {
  private readonly timers = new Map<Server, ReturnType<typeof setTimeout>>();
  private readonly inFlight = new Set<Server>();
  private readonly watched = new Map<Server, Watched>();
  private readonly pools = new Map<ServerPool, Watched>();
  private stopped = false;

  constructor(private readonly resolver: NameResolver) {}

  /**
   * Probe every server once now (a server failing its first check starts
   * down, like HAProxy's initial check), then each down server every
   * `intervalMs` from now on.
   */
  watch(pool: ServerPool, probe: Probe, intervalMs: number): void {
    const existing = this.pools.get(pool);
    if (existing) {
      // the same pool with a new probe or interval (reload): next runs use them
      existing.probe = probe;
      existing.intervalMs = intervalMs;
      return;
    }
    const offTransition = pool.onTransition((server) => {
      if (!server.healthy) this.schedule(server);
    });
    const offSet = pool.onSetChange(({ added, removed }) => {
      for (const s of removed) this.forget(s);
      for (const s of added) this.check(s, w);
    });
    const w: Watched = {
      pool,
      probe,
      intervalMs,
      unsubscribe: () => {
        offTransition();
        offSet();
      },
    };
    this.pools.set(pool, w);
    for (const s of pool.servers) this.check(s, w);
  }

  /** Stop probing `pool`'s servers (a service removed by a reload). */
  unwatch(pool: ServerPool): void {
    const w = this.pools.get(pool);
    if (!w) return;
    w.unsubscribe();
    this.pools.delete(pool);
    for (const s of pool.servers) this.forget(s);
  }

  /** A server to look after: a first check when it is thought healthy or waits for one, else the probe cycle. */
  private check(s: Server, w: Watched): void {
    this.watched.set(s, w);
    if (!s.healthy && !s.pending) this.schedule(s);
    else void this.initialCheck(s, w);
  }

  private forget(s: Server): void {
    this.watched.delete(s);
    const t = this.timers.get(s);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(s);
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
    if (this.stopped || server.healthy || this.watched.get(server) !== w) return;
    if (server.admin === "maint") return this.schedule(server); // not probed while in maintenance
    this.inFlight.add(server);
    let result: ProbeResult;
    try {
      result = await this.probeOnce(server, w.probe);
    } catch (err) {
      result = { outcome: "unreachable", detail: (err as Error).message };
    } finally {
      this.inFlight.delete(server);
    }
    if (this.stopped || this.watched.get(server) !== w) return;
    if (logEnabled("debug")) log.debug(`probe of ${server}: ${result.outcome} ${result.detail}`);
    w.pool.report(server, result.outcome, result.detail, "probe");
    if (!server.healthy) this.schedule(server);
  }

  private async initialCheck(server: Server, w: Watched): Promise<void> {
    this.inFlight.add(server);
    const result = await this.probeOnce(server, w.probe).catch((err: Error) => ({ outcome: "unreachable" as const, detail: err.message }));
    this.inFlight.delete(server);
    if (this.stopped || this.watched.get(server) !== w) return;
    if (server.pending) {
      // joined by a reload: up only once this passes
      w.pool.report(server, result.outcome, result.detail, "start");
      if (!server.healthy) this.schedule(server);
    } else if (server.healthy && result.outcome !== "connected") w.pool.report(server, result.outcome, result.detail, "start");
    // Taken down by traffic while this check ran: its transition could not
    // schedule a probe (one in flight per server), so do it now.
    else if (!server.healthy) this.schedule(server);
  }

  private async probeOnce(server: Server, probe: Probe): Promise<ProbeResult> {
    if (!events.probe.active) return this.resolveAndProbe(server, probe);
    const t0 = performance.now();
    const r = await this.resolveAndProbe(server, probe);
    events.probe.publish({ backend: server.backend, server: server.key, outcome: r.outcome, ms: performance.now() - t0 });
    return r;
  }

  private async resolveAndProbe(server: Server, probe: Probe): Promise<ProbeResult> {
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
