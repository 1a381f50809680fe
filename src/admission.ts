/**
 * How many client connections may be open at once: globally (`maxconn`; by
 * default what the open-file limit allows, two descriptors per connection
 * after a reserve) and per service (a [[service]]'s own `maxconn`).
 *
 * A service at its limit, or every service while the global limit is
 * reached or plb ran out of descriptors, stops accepting: its listeners are
 * paused (net/listen) and new clients wait in the kernel's listen queue, as
 * with HAProxy's maxconn and nginx at worker_connections; they are accepted,
 * in order, as soon as connections close. Nothing spins on a failing
 * accept. A descriptor shortage that plb did not see coming (a connect or a
 * check finding none left) pauses everything for a back-off, then accepting
 * resumes.
 */
import { logger } from "./log.ts";
import type { DescriptorUsers } from "./net/fd-limit.ts";

const log = logger("admission");

/** How often a descriptor shortage is looked for while connections are open (one dup and close). */
const CHECK_MS = 250;
/** Descriptors that must be free before accepting resumes after a shortage. */
const RECOVER_FDS = 16;

/** What admission needs of a service. */
export interface Admitted {
  readonly name: string;
  /** The service's own limit; 0: none but the global one. */
  readonly maxconn: number;
  /** Client connections open on it. */
  active: number;
  /** Start or stop accepting (idempotent). */
  setAccepting(on: boolean): void;
}

export interface AdmissionOptions {
  /** Global limit of open client connections. */
  readonly maxconn: number;
  /** True while `n` more descriptors can be opened (checked while connections are open). */
  readonly descriptorsFree?: (n: number) => boolean;
  /** First back-off after a shortage, ms (doubles up to 8×). */
  readonly backoffMs?: number;
}

export class Admission implements DescriptorUsers {
  /** Client connections open across every service. */
  total = 0;
  maxconn: number;
  private readonly members: Admitted[] = [];
  /** Accepting is off everywhere until this time (descriptor shortage). */
  private shortUntil = 0;
  private backoff: number;
  private readonly baseBackoff: number;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private checker: ReturnType<typeof setInterval> | undefined;
  private lastLog = 0;
  private stopped = false;

  constructor(private readonly opts: AdmissionOptions) {
    this.maxconn = opts.maxconn;
    this.baseBackoff = this.backoff = opts.backoffMs ?? 250;
  }

  add(m: Admitted): void {
    this.members.push(m);
  }

  /** `m` was removed by a reload: it takes no new connections (its open ones are still counted as they close). */
  remove(m: Admitted): void {
    const i = this.members.indexOf(m);
    if (i >= 0) this.members.splice(i, 1);
  }

  /** New limits (a reload): the global maxconn; each member's own is read as it is now. */
  reconfigure(maxconn: number): void {
    this.maxconn = maxconn;
    this.applyAll();
  }

  /** A client connection of `m` opened (it is accepted already). */
  opened(m: Admitted): void {
    this.total++;
    m.active++;
    if (this.total >= this.maxconn) this.applyAll();
    else if (m.maxconn > 0 && m.active >= m.maxconn) this.apply(m);
    if (this.checker === undefined && this.opts.descriptorsFree) {
      this.checker = setInterval(() => this.check(), CHECK_MS);
      this.checker.unref?.();
    }
  }

  /** A client connection of `m` closed. */
  closed(m: Admitted): void {
    const wasFull = this.total >= this.maxconn;
    this.total--;
    m.active--;
    if (wasFull && this.total < this.maxconn) this.applyAll();
    else if (m.maxconn > 0 && m.active === m.maxconn - 1) this.apply(m);
    if (this.total === 0 && this.checker !== undefined) {
      clearInterval(this.checker);
      this.checker = undefined;
    }
  }

  /** plb ran out of descriptors: stop accepting everywhere for a back-off (doubling while it lasts). */
  shortage(): void {
    if (this.stopped) return;
    const t = Date.now();
    if (t < this.shortUntil) return;
    this.shortUntil = t + this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.baseBackoff * 8);
    if (t - this.lastLog >= 10_000) {
      this.lastLog = t;
      log.warn(`out of file descriptors with ${this.total} connections open: not accepting for ${this.shortUntil - t} ms (clients wait in the listen queue)`);
    }
    this.applyAll();
    clearTimeout(this.timer);
    // Not unref'd: with every listener paused and the last connection gone,
    // this timer is what keeps plb alive to accept again.
    this.timer = setTimeout(() => this.recover(), this.shortUntil - t);
  }

  /** Whether `m` may accept now. */
  accepting(m: Admitted): boolean {
    if (this.stopped || this.total >= this.maxconn || Date.now() < this.shortUntil) return false;
    return m.maxconn === 0 || m.active < m.maxconn;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.checker);
    this.checker = undefined;
  }

  private recover(): void {
    // Room for a few connections (client and server each), not just one.
    if (this.opts.descriptorsFree && !this.opts.descriptorsFree(RECOVER_FDS)) return this.shortage();
    this.backoff = this.baseBackoff;
    if (this.total < this.maxconn) log.info(`accepting again (${this.total} connections open)`);
    this.applyAll();
  }

  /** While connections are open: a shortage that admission did not foresee (Bun would spin on accept). */
  private check(): void {
    if (Date.now() >= this.shortUntil && this.opts.descriptorsFree && !this.opts.descriptorsFree(1)) this.shortage();
  }

  private applyAll(): void {
    for (const m of this.members) this.apply(m);
  }

  private apply(m: Admitted): void {
    m.setAccepting(this.accepting(m));
  }
}
