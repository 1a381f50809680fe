/**
 * Checks servers and brings down ones back; the one timer and in-flight
 * discipline for both (one check in flight per server). Knows no protocol.
 *
 * - Every server gets a first check when it is watched (at start, or when a
 *   reload adds it): failing it, a server starts down (HAProxy's initial
 *   check); a new server takes no traffic before it passes.
 * - With `health` (active checks): every server, up or down, is checked
 *   every `interval` (the first one at a random point of the first
 *   interval, then each ±10 %, so that many servers' checks do not come at
 *   once); servers/state applies rise and fall.
 * - Without it: each down server is re-resolved (names only) and probed
 *   every `timeout_cleanup` until it passes.
 *
 * A server in maintenance is not checked. `unwatch` forgets a pool,
 * `stop()` every timer. The outcome always goes to servers/state, which
 * decides.
 */
import { isIP } from "node:net";
import type { CheckFailureReason, CheckRecord, Outcome, Server } from "./servers/server.ts";
import type { CheckThresholds, ServerPool } from "./servers/state.ts";
import { logger, logEnabled } from "./log.ts";
import { events } from "./events.ts";

const log = logger("scheduler");

export interface ProbeResult {
  readonly outcome: Outcome;
  readonly detail: string;
  /** The status (http) or reply code (smtp) the check got, if any. */
  readonly code?: number;
  /** Why it failed, when `outcome` alone does not say it (a status or body that does not match…). */
  readonly reason?: CheckFailureReason;
}

/**
 * Connects to `server.address` and says how it went. A probe that keeps
 * something between checks (http's kept connections) lets go of it in
 * `release`: of one server (it left the pool) or of all (the probe is
 * replaced or the checks stop).
 */
export interface Probe {
  (server: Server): Promise<ProbeResult>;
  release?(server?: Server): void;
}

export interface NameResolver {
  resolve(host: string): Promise<string[]>;
}

/** The timing of active checks (a HealthConfig is one). */
export interface CheckTiming extends CheckThresholds {
  /** ms between two checks of a server. */
  readonly interval: number;
}

interface Watched {
  readonly pool: ServerPool;
  probe: Probe;
  /** Probes of down servers without `health`: every this many ms. */
  intervalMs: number;
  /** Active checks of every server, or undefined. */
  health: CheckTiming | undefined;
  readonly unsubscribe: () => void;
}

/** The failure reason an outcome gives when the probe named none. */
function reasonOf(outcome: Outcome): CheckFailureReason {
  return outcome === "bad-greeting" ? "protocol" : outcome === "connected" ? "reset" : outcome;
}

/**
 * Checks start on slot boundaries of 1/40 of the interval (at most 50 ms),
 * the same for every service: the checks of one slot start, connect and
 * end in the same few turns of the event loop instead of one wake-up each.
 * With 1,000 servers checked every second this took plb from about 16 % to
 * 10 % of a core (bench/checks.ts); 40 slots per interval still spread them.
 */
export function checkSlot(interval: number): number {
  return Math.min(50, Math.floor(interval / 40));
}

/**
 * The wait before a server's next check: ±10 % of the interval, the first
 * one anywhere in the first interval; ending on the nearest slot boundary
 * (`now`: epoch ms).
 */
export function checkDelay(interval: number, first: boolean, random = Math.random(), now = Date.now()): number {
  const d = Math.max(1, Math.round(first ? interval * (0.1 + 0.9 * random) : interval * (0.9 + 0.2 * random)));
  const slot = checkSlot(interval);
  // the nearest boundary (not the next): the interval stays `interval` on average
  return slot < 2 ? d : Math.max(1, Math.ceil((now + d - slot / 2) / slot) * slot - now);
}

export class Scheduler {
  private readonly timers = new Map<Server, ReturnType<typeof setTimeout>>();
  private readonly inFlight = new Set<Server>();
  private readonly watched = new Map<Server, Watched>();
  private readonly pools = new Map<ServerPool, Watched>();
  private stopped = false;

  constructor(private readonly resolver: NameResolver) {}

  /**
   * Check every server of `pool` once now (a server failing its first
   * check starts down, like HAProxy's initial check); then, with `health`,
   * every server every `health.interval`; without, each down server every
   * `intervalMs`.
   */
  watch(pool: ServerPool, probe: Probe, intervalMs: number, health?: CheckTiming): void {
    const existing = this.pools.get(pool);
    if (existing) {
      // the same pool with a new probe, interval or health (reload): next runs use them
      if (existing.probe !== probe) existing.probe.release?.();
      existing.probe = probe;
      existing.intervalMs = intervalMs;
      existing.health = health;
      if (health) for (const s of pool.servers) this.schedule(s, true);
      return;
    }
    const offTransition = pool.onTransition((server) => {
      if (!server.healthy || w.health) this.schedule(server);
    });
    const offSet = pool.onSetChange(({ added, removed }) => {
      for (const s of removed) this.forget(s);
      for (const s of added) this.check(s, w);
    });
    const w: Watched = {
      pool,
      probe,
      intervalMs,
      health,
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
    w.probe.release?.();
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
    this.watched.get(s)?.probe.release?.(s);
    this.watched.delete(s);
    const t = this.timers.get(s);
    if (t !== undefined) clearTimeout(t);
    this.timers.delete(s);
  }

  private schedule(server: Server, first = false): void {
    const w = this.watched.get(server);
    if (this.stopped || !w || this.timers.has(server) || this.inFlight.has(server)) return;
    const delay = w.health ? checkDelay(w.health.interval, first) : w.intervalMs;
    const t = setTimeout(() => {
      this.timers.delete(server);
      void this.run(server, w);
    }, delay);
    this.timers.set(server, t);
  }

  /** One check: resolve, connect, report; then schedule the next (with `health`, or while down). */
  private async run(server: Server, w: Watched): Promise<void> {
    if (this.stopped || this.watched.get(server) !== w) return;
    if (!w.health && server.healthy) return; // back up meanwhile (traffic): no probe cycle
    if (server.admin === "maint") return this.schedule(server); // not checked while in maintenance
    this.inFlight.add(server);
    let check: { result: ProbeResult; record: CheckRecord };
    try {
      check = await this.probeOnce(server, w.probe);
    } finally {
      this.inFlight.delete(server);
    }
    if (this.stopped || this.watched.get(server) !== w) return;
    const { result, record } = check;
    if (logEnabled("debug")) log.debug(`probe of ${server}: ${record.ok ? "connected" : result.outcome} ${record.detail}`);
    if (w.health) w.pool.reportCheck(server, record, result.outcome, "check", w.health);
    else w.pool.reportCheck(server, record, result.outcome, "probe");
    if (w.health || !server.healthy) this.schedule(server);
  }

  private async initialCheck(server: Server, w: Watched): Promise<void> {
    this.inFlight.add(server);
    const { result, record } = await this.probeOnce(server, w.probe).finally(() => this.inFlight.delete(server));
    if (this.stopped || this.watched.get(server) !== w) return;
    // A joined server waits for this one; a server thought up goes down when it fails. A pass
    // changes nothing else (one taken down by traffic meanwhile comes back through its probes).
    if (server.pending || (server.healthy && !record.ok)) w.pool.reportCheck(server, record, result.outcome, "start");
    else w.pool.recordCheck(server, record);
    // Down (its check failed, or traffic took it down while this check ran:
    // that transition could not schedule a probe, one in flight per server).
    if (w.health) this.schedule(server, true);
    else if (!server.healthy) this.schedule(server);
  }

  /** Resolve and probe, timed; never throws. */
  private async probeOnce(server: Server, probe: Probe): Promise<{ result: ProbeResult; record: CheckRecord }> {
    const t0 = performance.now();
    let result: ProbeResult;
    try {
      result = await this.resolveAndProbe(server, probe);
    } catch (err) {
      result = { outcome: "unreachable", detail: (err as Error).message };
    }
    const ms = performance.now() - t0;
    if (events.probe.active) events.probe.publish({ backend: server.backend, server: server.key, outcome: result.outcome, ms });
    const ok = result.outcome === "connected" && result.reason === undefined;
    const record: CheckRecord = { at: Date.now(), ok, detail: result.detail, code: result.code, reason: ok ? undefined : (result.reason ?? reasonOf(result.outcome)), ms };
    return { result, record };
  }

  private async resolveAndProbe(server: Server, probe: Probe): Promise<ProbeResult> {
    if (server.address !== server.host && isIP(server.host) === 0) {
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
    for (const w of this.pools.values()) w.probe.release?.();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
