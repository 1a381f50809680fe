/**
 * The one owner of server state. Live traffic, probes and the operator
 * (admin state, reloads) report here; `apply` is the only place where a
 * server's eligibility changes: it tells the balancer, the listeners and
 * the log, once, with the cause.
 *
 * Health (healthy, consecutive failures) and the operator's admin state
 * (ready / drain / maint) are kept apart, as HAProxy keeps SRV_ADMF_* apart
 * from the check state: a probe never undoes a drain. A server takes new
 * connections (`up`, what balancers see) only when healthy and ready.
 * Servers are keyed by identity (host and port): a new server set (reload,
 * DNS) keeps the state of every server it still names.
 *
 * Weights: `userWeight` is the one in force (the configuration's, or the
 * operator's), `weight` the one balancers read: the same, except during a
 * slow start (`slowstart`), when it ramps up to `userWeight` in steps
 * (slowstart.ts keeps the time; every change goes through `setEffective`).
 */
import type { Balancer, BalancedServer, BalancerAlgorithm } from "../balance/types.ts";
import { formatDuration } from "../config/duration.ts";
import type { ServerConfig } from "../config/types.ts";
import { logEnabled, logger } from "../log.ts";
import { type AdminState, type CheckRecord, type Outcome, Server, serverId } from "./server.ts";
import { Ramps } from "./slowstart.ts";

const log = logger("state");

export type TransitionListener = (server: Server, up: boolean) => void;
/** Told when a server's `weight` (what balancers read) changed. */
export type WeightListener = (server: Server) => void;

/** Where a worker's pool sends the outcomes it observes (the master applies them). */
export type OutcomeSink = (server: Server, outcome: Outcome, detail: string, source: string) => void;

/** A server's state as the owner of state pushes it to the workers. */
export interface ServerState {
  /** The weight in force (`userWeight`). */
  readonly weight: number;
  /** What balancers read now (`weight`): less than `weight` during a slow start. */
  readonly effectiveWeight: number;
  readonly healthy: boolean;
  readonly admin: AdminState;
  readonly pending: boolean;
  readonly cause: string;
  readonly address: string | undefined;
}

/** What a new server set changed. */
export interface ServerSetChange {
  /** New servers (pending their first check), and removed ones named again while their sessions still ran (their state kept). */
  readonly added: readonly Server[];
  readonly removed: readonly Server[];
  /** Kept servers whose weight or backup flag changed. */
  readonly changed: readonly Server[];
}
export type SetListener = (change: ServerSetChange) => void;

/** How many active checks in a row change a server's health (a service's `health`). */
export interface CheckThresholds {
  readonly rise: number;
  readonly fall: number;
}

export class ServerPool {
  private list: Server[];
  /** Removed servers whose sessions still run, by id: named again, they come back with their state. */
  private readonly leaving = new Map<string, Server>();
  balancer!: Balancer;
  /**
   * Set in a worker: outcomes go to the master, which owns state and pushes
   * it back (`adopt`); nothing is applied here.
   */
  delegate: OutcomeSink | undefined;
  /** Log transitions at debug only (a worker: the master logs them once). */
  quiet = false;
  private algorithm: BalancerAlgorithm | undefined;
  private readonly transitionListeners = new Set<TransitionListener>();
  private readonly setListeners = new Set<SetListener>();
  private readonly weightListeners = new Set<WeightListener>();
  /** Time source (epoch ms) for slow starts and transitions; tests set their own. */
  clock: () => number = Date.now;
  /** The slow-start clock: which servers ramp, and the timer that steps them (tests step it with `tick`). */
  readonly ramps = new Ramps<Server>((s, now, done) => this.stepped(s, now, done), () => this.clock());

  constructor(
    /** The backend's name. */
    readonly backend: string,
    configs: readonly ServerConfig[],
    public retry: number,
    private readonly resolveLiteral: (host: string) => string | undefined,
  ) {
    this.list = configs.map((c, i) => new Server(backend, i, c, resolveLiteral(c.host)));
  }

  /** The servers of the current configuration, in its order. */
  get servers(): readonly Server[] {
    return this.list;
  }

  /** Balance with `algorithm` from now on (a new balancer over the same servers and their state). */
  useAlgorithm(algorithm: BalancerAlgorithm): void {
    this.algorithm = algorithm;
    this.balancer = algorithm.create(this.list);
  }

  /** Told of every change of `up`; returns the unsubscribe. */
  onTransition(fn: TransitionListener): () => void {
    this.transitionListeners.add(fn);
    return () => this.transitionListeners.delete(fn);
  }

  /** Told of every change of a server's effective `weight` (slow-start steps, the operator, the master); returns the unsubscribe. */
  onWeight(fn: WeightListener): () => void {
    this.weightListeners.add(fn);
    return () => this.weightListeners.delete(fn);
  }

  /** The slow start of this pool's servers, in ms (0: off). */
  get slowstart(): number {
    return this.ramps.duration;
  }

  /**
   * Ramp servers back in service over `ms` from now on (0: off). Ramps under
   * way go on with the new length (and end at once with 0).
   */
  setSlowstart(ms: number): void {
    this.ramps.setDuration(ms, this.clock());
  }

  /** Told when the server set changes (reload, DNS); returns the unsubscribe. */
  onSetChange(fn: SetListener): () => void {
    this.setListeners.add(fn);
    return () => this.setListeners.delete(fn);
  }

  /**
   * Take a new server set. Servers it still names (same host and port) keep
   * everything (health, failures, admin state, counters, open connections)
   * and take the new weight and backup flag; new ones join pending their
   * first check (no traffic before it passes); the others leave: no new
   * connections, their live ones finish. A server removed earlier whose
   * sessions still run comes back as it was. `pending` false: new servers
   * are taken as a start takes its servers (thought up until their first
   * check says otherwise), for a set completed before plb serves. `why`:
   * the cause a removed server shows.
   */
  update(configs: readonly ServerConfig[], at = this.clock(), opts: { pending?: boolean; why?: string } = {}): ServerSetChange {
    const pending = opts.pending ?? true;
    const old = new Map(this.list.map((s) => [s.id, s]));
    const added: Server[] = [];
    const changed: Server[] = [];
    const next = configs.map((c, i) => {
      const id = serverId(c);
      const back = old.has(id) ? undefined : this.leaving.get(id);
      if (back !== undefined) {
        this.leaving.delete(id);
        back.removedAt = 0;
        back.cause = back.healthy ? "" : back.cause;
        old.set(id, back);
        added.push(back);
      }
      const kept = old.get(id);
      if (kept === undefined) {
        const s = new Server(this.backend, i, c, this.resolveLiteral(c.host));
        if (pending) {
          s.healthy = false;
          s.pending = true;
          s.cause = "waiting for its first check";
        }
        added.push(s);
        return s;
      }
      old.delete(kept.id);
      kept.index = i;
      // An operator's weight stays until the configuration's own changes.
      const weightChanged = kept.configWeight !== c.weight;
      if ((weightChanged || kept.backup !== c.backup) && kept !== back) changed.push(kept);
      if (weightChanged) {
        kept.userWeight = kept.configWeight = c.weight;
        this.setEffective(kept, this.ramps.weight(kept, c.weight, this.clock()), false);
      }
      kept.backup = c.backup;
      return kept;
    });
    const removed = [...old.values()];
    for (const s of removed) {
      if (this.ramps.stop(s)) this.setEffective(s, s.userWeight, false);
      s.removedAt = at;
      s.cause = opts.why ?? "removed from the configuration";
      if (s.active > 0) this.leaving.set(s.id, s);
    }
    // The same servers in the same order with the same weights (a reload that changed other
    // settings, a DNS answer given again): the balancer keeps its state (a round-robin its place).
    const same = added.length + removed.length + changed.length === 0 && next.length === this.list.length && next.every((s, i) => s === this.list[i]);
    this.list = next;
    if (this.algorithm && !same) this.balancer = this.algorithm.create(this.list);
    const change = { added, removed, changed };
    if (added.length + removed.length + changed.length > 0) for (const fn of this.setListeners) fn(change);
    return change;
  }

  /**
   * Apply one observed outcome. A success resets the failure count and
   * brings an unhealthy server back; `retry` consecutive failures (one at
   * the start check) take a healthy one away. `source` says who observed it
   * ("traffic" | "probe" | "start").
   */
  report(server: Server, outcome: Outcome, detail = "", source = "traffic"): void {
    if (this.delegate !== undefined) return this.delegate(server, outcome, detail, source);
    if (outcome === "connected") {
      server.failures = 0;
      if (!server.healthy) {
        const first = server.pending;
        this.apply(server, () => {
          server.healthy = true;
          server.pending = false;
          server.checksFailed = 0;
        }, first ? `its first check passed` : `${source} connected`);
      }
      return;
    }
    server.failures++;
    server.counters.failures++;
    if (!server.healthy) {
      if (server.pending) {
        server.cause = `first check failed: ${detail || outcome}`;
        if (server.failures === 1) log.warn(`${server} joined, but its first check failed: ${detail || outcome} (no traffic until it passes)`);
      } else server.cause = detail || outcome;
      return;
    }
    if (server.failures >= this.retry || source === "start") {
      const when =
        source === "start"
          ? "at start"
          : server.failures === 1
            ? "after 1 failure"
            : `after ${server.failures} consecutive failures`;
      this.apply(server, () => {
        server.healthy = false;
        server.checksPassed = 0; // back only after `rise` checks from now
        server.counters.downs++;
      }, `${when}: ${detail || outcome}`);
    } else if (logEnabled("debug")) {
      log.debug(`${server}: failure ${server.failures}/${this.retry}: ${detail || outcome}`);
    }
  }

  /**
   * Apply one check of `server` (never in a worker: the master checks).
   * Every check is recorded (`lastCheck`, failures by reason). An active
   * check (`thresholds` given: the service has `health`) changes health
   * only after `fall` failed checks in a row (up → down) or `rise` passed
   * ones (down → up), and is kept apart from traffic's `failures`, so a
   * failed check does not count toward server_retry. Without thresholds (a
   * first check, or a probe of a down server) it counts as `report` does.
   */
  reportCheck(server: Server, check: CheckRecord, outcome: Outcome, source: "start" | "probe" | "check", thresholds?: CheckThresholds): void {
    if (this.delegate !== undefined) return;
    this.recordCheck(server, check);
    if (thresholds === undefined || source !== "check") {
      // a passed check with thresholds still counts toward `rise`
      if (check.ok) server.checksPassed++;
      else server.checksPassed = 0;
      return this.report(server, check.ok ? "connected" : outcome === "connected" ? "reset" : outcome, check.detail, source);
    }
    const detail = check.detail || outcome;
    if (check.ok) {
      server.checksFailed = 0;
      server.checksPassed++;
      if (server.healthy || (!server.pending && server.checksPassed < thresholds.rise)) {
        if (!server.healthy && logEnabled("debug")) log.debug(`${server}: check passed ${server.checksPassed}/${thresholds.rise}: ${detail}`);
        return;
      }
      const first = server.pending;
      const n = server.checksPassed;
      return this.apply(server, () => {
        server.healthy = true;
        server.pending = false;
        server.failures = 0;
      }, first ? "its first check passed" : `after ${n} passed check${n === 1 ? "" : "s"}: ${detail}`);
    }
    server.checksPassed = 0;
    server.checksFailed++;
    if (!server.healthy) return;
    if (server.checksFailed < thresholds.fall) {
      if (logEnabled("debug")) log.debug(`${server}: check failed ${server.checksFailed}/${thresholds.fall}: ${detail}`);
      return;
    }
    const n = server.checksFailed;
    this.apply(server, () => {
      server.healthy = false;
      server.counters.downs++;
    }, `after ${n} failed check${n === 1 ? "" : "s"}: ${detail}`);
  }

  /** Keep `check` as the server's last one and count its failure; nothing else changes. */
  recordCheck(server: Server, check: CheckRecord): void {
    server.lastCheck = check;
    if (check.ok) return;
    server.counters.checkFailures++;
    server.checkFailuresBy[check.reason ?? "reset"]++;
  }

  /** The operator sets `server`'s weight (0: no new connections, as HAProxy's weight 0). */
  setWeight(server: Server, weight: number, why = "by the operator"): void {
    if (server.userWeight === weight) return;
    const was = server.userWeight;
    server.userWeight = weight;
    this.setEffective(server, this.ramps.weight(server, weight, this.clock()));
    if (!this.quiet) log.info(`${server}: weight ${was} → ${weight} ${why}${server.ramping ? ` (in slow start: ${server.weight} for now)` : ""}`);
  }

  /**
   * A worker takes `server`'s state from the master (through `apply`, so its
   * balancer is told): the master ramps slow starts and pushes each step.
   */
  adopt(server: Server, state: ServerState): void {
    server.address = state.address ?? server.address;
    server.userWeight = state.weight;
    this.setEffective(server, state.effectiveWeight);
    this.apply(server, () => {
      server.healthy = state.healthy;
      server.admin = state.admin;
      server.pending = state.pending;
    }, state.cause || "told by the master");
  }

  /** The operator sets `server`'s admin state (ready, drain, maint). */
  setAdmin(server: Server, admin: AdminState, why = "by the operator"): void {
    if (server.admin === admin) return;
    this.apply(server, () => {
      server.admin = admin;
    }, `${admin === "ready" ? "ready again" : admin === "drain" ? "draining" : "in maintenance"} ${why}`);
  }

  /**
   * The one place a server's eligibility changes: run `change`, start or end
   * its slow start, and when `up` flipped, log the cause once and tell the
   * balancer and the listeners.
   */
  private apply(server: Server, change: () => void, cause: string): void {
    const was = server.up;
    const wasOut = !server.healthy || server.admin === "maint";
    change();
    const now = server.up;
    const ramps = this.ramp(server, wasOut);
    if (ramps) cause += ` (slow start: weight ${server.weight} of ${server.userWeight}, full in ${formatDuration(this.slowstart)})`;
    if (was !== now) server.cause = now ? "" : cause;
    if (this.quiet) {
      if (was !== now && logEnabled("debug")) log.debug(`${server} ${now ? "up" : "takes no new connections"}: ${cause}`);
    } else if (was === now) {
      if (server.admin !== "ready" || !server.healthy) log.info(`${server}: ${cause}`);
    } else if (now) {
      log.info(`${server} is up${server.counters.downs > 0 || !cause.startsWith("its first") ? " again" : ""}: ${cause}`);
    } else if (server.healthy) log.warn(`${server} takes no new connections: ${cause}`);
    else log.warn(`${server} is down ${cause}`);
    if (was === now) return;
    server.counters.transitions++;
    server.lastTransition = { at: this.clock(), up: now, cause: now ? cause : server.cause };
    if (now) this.balancer.up?.(server);
    else this.balancer.down?.(server);
    for (const fn of this.transitionListeners) fn(server, now);
    if (!now && !this.quiet && !this.list.some((s) => s.up)) log.error(`backend "${this.backend}" has no server left`);
  }

  /**
   * Slow start (HAProxy's): a server back in service (healthy again, out of
   * maintenance; a reload's new server through its first check) ramps from
   * now, whether or not it takes connections yet (drained, it goes on
   * ramping); one out of service (down, in maintenance, removed) stops. Not
   * in a worker: the master ramps and pushes the weights. True when a ramp
   * started.
   */
  private ramp(server: Server, wasOut: boolean): boolean {
    if (this.delegate !== undefined) return false;
    if (!server.healthy || server.admin === "maint" || server.removed) {
      if (this.ramps.stop(server)) this.setEffective(server, server.userWeight);
      return false;
    }
    if (!wasOut) return false;
    const t = this.clock();
    if (!this.ramps.start(server, t)) return false;
    this.setEffective(server, this.ramps.weight(server, server.userWeight, t));
    return true;
  }

  /** A slow-start step (or its end) for `server`. */
  private stepped(server: Server, now: number, done: boolean): void {
    this.setEffective(server, this.ramps.weight(server, server.userWeight, now));
    if (done && logEnabled("debug")) log.debug(`${server}: slow start over, weight ${server.weight}`);
  }

  /** The one place `weight` changes: the balancer (through its `weight` hook, unless it is about to be rebuilt) and the listeners are told. */
  private setEffective(server: Server, weight: number, tell = true): void {
    if (server.weight === weight) return;
    server.weight = weight;
    if (!tell) return;
    this.balancer.weight?.(server);
    for (const fn of this.weightListeners) fn(server);
  }

  connectionStart(server: Server): void {
    server.active++;
    server.counters.connections++;
    this.balancer.connectionStart?.(server);
  }

  connectionEnd(server: Server): void {
    server.active--;
    if (!server.removed) this.balancer.connectionEnd?.(server);
    else if (server.active === 0) this.leaving.delete(server.id);
  }

  get upCount(): number {
    let n = 0;
    for (const s of this.list) if (s.up) n++;
    return n;
  }
}
