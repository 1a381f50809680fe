/**
 * AcmeManager: keeps every managed set of names with a valid certificate.
 *
 * At start it serves what storage has (and a self-signed placeholder for
 * a set without a usable certificate), then orders what is missing and
 * renews at two thirds of the lifetime, or in the CA's ARI window. Every
 * new certificate goes to `onCertificate` (the integrator feeds the
 * certificate store). A failure is retried with growing delays, never
 * given up, and never more than `perWindow` failed attempts per name per
 * hour (kept in storage across restarts). One order per set at a time.
 */
import type { KeyObject } from "node:crypto";
import { logger } from "../log.ts";
import { type Account, registerAccount } from "./account.ts";
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF, FailureLedger } from "./backoff.ts";
import { pem, selfSigned } from "./certs.ts";
import { type CertInfo, certInfo } from "./certinfo.ts";
import type { ChallengeType, Responders } from "./challenges.ts";
import { AcmeClient } from "./client.ts";
import { AcmeError } from "./errors.ts";
import { generateKey, type KeyType, keyFromPem, keyToPem } from "./keys.ts";
import { issue } from "./order.ts";
import { ariCertId, ariRecheck, parseRenewalInfo, pickInWindow, twoThirds } from "./renewal.ts";
import { AcmeStorage, type StoredCertificate } from "./storage.ts";

const log = logger("acme");

export interface AcmeSettings {
  readonly directory: string;
  readonly email?: string;
  readonly storage: string;
  /** PEM text of the extra CA trusted for the directory (the file already read). */
  readonly directoryCa?: string;
  /** Absent: every type plb has a responder for, the other one after a failure. */
  readonly challenge?: ChallengeType;
  readonly keyType: KeyType;
  readonly backoff?: Partial<BackoffOptions>;
  /** Per order, for authorizations and the order to settle; default 120 s. */
  readonly pollTimeoutMs?: number;
}

export type CertificateSource = "stored" | "issued" | "placeholder";

export interface CertificateUpdate {
  readonly names: readonly string[];
  readonly chainPem: string;
  readonly keyPem: string;
  readonly notAfter: Date;
  readonly issuer: string;
  readonly source: CertificateSource;
}

/** One name's state, for /status.json and the status page. */
export interface NameState {
  readonly name: string;
  /** valid: a CA's certificate is served; placeholder: a self-signed one until issuance succeeds. */
  readonly state: "valid" | "placeholder";
  readonly ordering: boolean;
  readonly validUntil?: string;
  readonly issuer?: string;
  readonly renewAt?: string;
  readonly lastAttempt?: string;
  readonly lastError?: string;
  readonly nextAttempt?: string;
}

/** Orders by result, for plb_acme_orders_total{result}. */
export interface OrderCounts {
  issued: number;
  failed: number;
}

interface Entry {
  readonly names: readonly string[];
  current?: { info: CertInfo; chainPem: string; keyPem: string; directory: string };
  placeholder: boolean;
  failures: number;
  running: boolean;
  timer?: ReturnType<typeof setTimeout>;
  /** The next renewalInfo question (one per set). */
  ariTimer?: ReturnType<typeof setTimeout>;
  due?: number;
  renewAt?: number;
  lastAttempt?: number;
  lastError?: string;
  /** No longer managed (a reload dropped it): an order in flight is discarded. */
  removed?: boolean;
}

/** setTimeout holds at most 2^31−1 ms: longer waits wake up and plan again. */
const MAX_SLEEP = 24 * 3_600_000;
/** A CA's Retry-After is honoured up to a day: a far-off one (a proxy's, a week-long rate limit) must not stop renewal for good. */
const MAX_RETRY_AFTER = 24 * 3_600_000;
/** A placeholder this close to its end is made anew (a CA down for a week). */
const PLACEHOLDER_MARGIN = 86_400_000;

const sameNames = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join(",") === [...b].sort().join(",");

export class AcmeManager {
  readonly orders: OrderCounts = { issued: 0, failed: 0 };
  readonly client: AcmeClient;
  private readonly storage: AcmeStorage;
  private readonly backoff: BackoffOptions;
  private readonly ledger: FailureLedger;
  private readonly entries: Entry[] = [];
  private account: Promise<Account> | undefined;
  /** The CA said the stored account URL is unknown: register again. */
  private staleAccountUrl = false;
  private stopped = false;
  /** Orders wait for `release` (a master serves what storage has before its workers can answer challenges). */
  private held = false;

  constructor(
    private readonly settings: AcmeSettings,
    private readonly responders: Responders,
    private readonly onCertificate: (update: CertificateUpdate) => void,
  ) {
    this.client = new AcmeClient({ directory: settings.directory, ca: settings.directoryCa });
    this.storage = new AcmeStorage(settings.storage);
    this.backoff = { ...DEFAULT_BACKOFF, ...settings.backoff };
    this.ledger = new FailureLedger(this.backoff, this.storage.readFailures());
  }

  /** Serves what storage has (placeholders for the rest) and plans every set's next order. */
  start(sets: readonly (readonly string[])[]): void {
    this.update(sets);
  }

  /**
   * The sets to manage from now on (a reload): sets already managed keep
   * their certificate, state and timers; new ones are served from storage
   * or a placeholder and planned; dropped ones stop (an order in flight is
   * discarded, its certificate neither stored nor reported).
   */
  update(sets: readonly (readonly string[])[]): void {
    const keep = this.entries.filter((e) => sets.some((names) => sameNames(e.names, names)));
    for (const e of this.entries) {
      if (keep.includes(e)) continue;
      e.removed = true;
      clearTimeout(e.timer);
      clearTimeout(e.ariTimer);
    }
    this.entries.splice(0, this.entries.length, ...keep);
    const fresh = sets.filter((names) => !keep.some((e) => sameNames(e.names, names)));
    if (fresh.length === 0) return;
    const { certificates, problems } = this.storage.loadCertificates();
    for (const p of problems) log.warn(`stored certificate skipped: ${p}`);
    const now = Date.now();
    for (const names of fresh) {
      const entry: Entry = { names: [...names], placeholder: false, failures: 0, running: false };
      this.entries.push(entry);
      const stored = certificates.find((c) => sameNames(c.names, names) && c.info.notAfter.getTime() > now);
      if (stored) this.useStored(entry, stored);
      else this.usePlaceholder(entry);
      this.plan(entry);
    }
  }

  /** Serve (stored or placeholder certificates) but order nothing until `release`. */
  hold(): void {
    this.held = true;
  }

  /** Plan every set's orders from now on. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    for (const e of this.entries) if (!e.running) this.plan(e);
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.entries) {
      clearTimeout(e.timer);
      clearTimeout(e.ariTimer);
    }
  }

  status(): NameState[] {
    const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
    return this.entries.flatMap((e) =>
      e.names.map((name) => ({
        name,
        state: e.placeholder ? ("placeholder" as const) : ("valid" as const),
        ordering: e.running,
        validUntil: e.current && !e.placeholder ? e.current.info.notAfter.toISOString() : undefined,
        issuer: e.current && !e.placeholder ? e.current.info.issuer : undefined,
        renewAt: iso(e.placeholder ? undefined : e.renewAt),
        lastAttempt: iso(e.lastAttempt),
        lastError: e.lastError,
        nextAttempt: iso(e.running ? undefined : e.due),
      })),
    );
  }

  private emit(entry: Entry, source: CertificateSource): void {
    const c = entry.current!;
    try {
      this.onCertificate({ names: entry.names, chainPem: c.chainPem, keyPem: c.keyPem, notAfter: c.info.notAfter, issuer: c.info.issuer, source });
    } catch (err) {
      log.error(`the certificate of ${entry.names.join(", ")} could not be installed: ${(err as Error).message}`);
    }
  }

  private useStored(entry: Entry, c: StoredCertificate): void {
    entry.current = { info: c.info, chainPem: c.chainPem, keyPem: c.keyPem, directory: c.directory };
    entry.placeholder = false;
    log.info(`${entry.names.join(", ")}: serving the stored certificate, valid until ${c.info.notAfter.toISOString()}`);
    this.emit(entry, "stored");
  }

  private usePlaceholder(entry: Entry): void {
    const key = generateKey("ecdsa");
    const chainPem = pem("CERTIFICATE", selfSigned({ names: entry.names, key }));
    entry.current = { info: certInfo(chainPem), chainPem, keyPem: keyToPem(key), directory: "" };
    entry.placeholder = true;
    log.warn(`${entry.names.join(", ")}: no certificate yet, serving a self-signed placeholder until the CA issues one`);
    this.emit(entry, "placeholder");
  }

  /** When this set's next order is due: now without a usable certificate, else its renewal time. */
  private plan(entry: Entry): void {
    if (this.stopped || this.held) return;
    const c = entry.current;
    if (entry.placeholder || !c || (c.directory !== "" && c.directory !== this.settings.directory)) {
      entry.renewAt = undefined;
      this.schedule(entry, Date.now());
      return;
    }
    entry.renewAt = twoThirds(c.info).getTime();
    this.schedule(entry, entry.renewAt);
    void this.askAri(entry);
  }

  /** RFC 9773: when the directory has renewalInfo, the CA's window replaces two thirds. */
  private async askAri(entry: Entry): Promise<void> {
    const c = entry.current;
    const id = c ? ariCertId(c.info) : undefined;
    if (!c || id === undefined) return;
    try {
      const dir = await this.client.directory();
      if (!dir.renewalInfo) return;
      const res = await this.client.get(`${dir.renewalInfo.replace(/\/$/, "")}/${id}`);
      const w = parseRenewalInfo(res.json);
      if (!w || entry.current !== c || this.stopped || entry.removed) return;
      clearTimeout(entry.ariTimer);
      entry.ariTimer = setTimeout(() => void this.askAri(entry), ariRecheck(res.retryAfter));
      entry.ariTimer.unref?.();
      // An order under way or backing off keeps its own schedule.
      if (entry.running || entry.failures > 0) return;
      entry.renewAt = pickInWindow(w, Date.now()).getTime();
      log.info(`${entry.names.join(", ")}: the CA's renewal window is ${w.start.toISOString()} – ${w.end.toISOString()}`);
      this.schedule(entry, entry.renewAt);
    } catch (err) {
      log.debug(`renewalInfo for ${entry.names.join(", ")}: ${(err as Error).message} (renewing at two thirds)`);
    }
  }

  private schedule(entry: Entry, at: number): void {
    if (this.stopped || entry.removed) return;
    clearTimeout(entry.timer);
    const allowed = Math.max(at, this.ledger.allowedAt(entry.names, Date.now()));
    entry.due = allowed;
    const wake = () => {
      if (Date.now() < allowed) {
        entry.timer = setTimeout(wake, Math.min(MAX_SLEEP, allowed - Date.now()));
        entry.timer.unref?.();
      } else void this.attempt(entry);
    };
    entry.timer = setTimeout(wake, Math.min(MAX_SLEEP, Math.max(0, allowed - Date.now())));
    entry.timer.unref?.();
  }

  private challenges(entry: Entry): ChallengeType[] {
    if (this.settings.challenge) return [this.settings.challenge];
    // TLS-ALPN-01 on the serving listener shows the validation certificate to every client of the name
    // while the CA checks it: only while what is served is refused anyway (a placeholder, an expired
    // certificate), when HTTP-01 can renew.
    const refused = entry.placeholder || (entry.current !== undefined && entry.current.info.notAfter.getTime() <= Date.now());
    if (!refused && this.responders.http01) return ["http-01"];
    const order: ChallengeType[] = ["http-01", "tls-alpn-01"];
    // After a failure try the other type first: one broken path does not stop issuance.
    return entry.failures % 2 === 1 ? order.reverse() : order;
  }

  private async getAccount(): Promise<Account> {
    const dir = this.settings.directory;
    const stored = this.storage.readAccount(dir);
    let key: KeyObject;
    if (stored) key = keyFromPem(stored.keyPem);
    else {
      key = generateKey(this.settings.keyType);
      this.storage.writeAccountKey(dir, keyToPem(key));
    }
    if (stored?.url && !this.staleAccountUrl) return { key, url: stored.url };
    const account = await registerAccount(this.client, key, this.settings.email);
    this.storage.writeAccount(dir, account.url, this.settings.email);
    this.staleAccountUrl = false;
    log.info(`account ${account.url} registered with ${dir}`);
    return account;
  }

  private async attempt(entry: Entry): Promise<void> {
    if (entry.running || this.stopped || entry.removed) return;
    entry.running = true;
    entry.lastAttempt = Date.now();
    const names = entry.names.join(", ");
    try {
      this.account ??= this.getAccount();
      const account = await this.account.catch((err) => {
        this.account = undefined;
        throw err;
      });
      const renewing = !entry.placeholder && entry.current ? ariCertId(entry.current.info) : undefined;
      const dir = await this.client.directory();
      const issued = await issue({
        client: this.client,
        account,
        names: entry.names,
        keyType: this.settings.keyType,
        challenges: this.challenges(entry),
        responders: this.responders,
        replaces: dir.renewalInfo ? renewing : undefined,
        pollTimeoutMs: this.settings.pollTimeoutMs,
        step: (what) => log.debug(`${names}: ${what}`),
      });
      if (this.stopped || entry.removed) return;
      this.storage.writeCertificate(entry.names, issued.chainPem, issued.keyPem, this.settings.directory);
      entry.current = { info: certInfo(issued.chainPem), chainPem: issued.chainPem, keyPem: issued.keyPem, directory: this.settings.directory };
      entry.placeholder = false;
      entry.failures = 0;
      entry.lastError = undefined;
      this.orders.issued++;
      const how = Object.entries(issued.validatedWith).map(([n, t]) => `${n} by ${t}`).join(", ");
      log.info(`${names}: certificate issued by ${entry.current.info.issuer}, valid until ${entry.current.info.notAfter.toISOString()} (${how})`);
      this.emit(entry, "issued");
      entry.running = false;
      this.plan(entry);
    } catch (err) {
      entry.running = false;
      if (this.stopped || entry.removed) return;
      this.failed(entry, err);
    }
  }

  private failed(entry: Entry, err: unknown): void {
    const now = Date.now();
    this.orders.failed++;
    entry.failures++;
    const message = err instanceof Error ? err.message : String(err);
    entry.lastError = message;
    if (err instanceof AcmeError && err.is("accountDoesNotExist")) {
      this.account = undefined;
      this.staleAccountUrl = true;
    }
    // Attempts that reached the CA's validation count against the hourly bound; a CA that is down does not.
    if (err instanceof AcmeError && err.names !== undefined) {
      this.ledger.record(entry.names, now);
      try {
        this.storage.writeFailures(this.ledger.toJSON(now));
      } catch (e) {
        log.warn((e as Error).message);
      }
    }
    const retryAfter = err instanceof AcmeError && err.retryAfter !== undefined ? Math.min(err.retryAfter, MAX_RETRY_AFTER) : 0;
    if (entry.placeholder && entry.current && entry.current.info.notAfter.getTime() < now + PLACEHOLDER_MARGIN) this.usePlaceholder(entry);
    const at = now + Math.max(backoffDelay(entry.failures, this.backoff), retryAfter);
    this.schedule(entry, at);
    log.warn(`${entry.names.join(", ")}: order failed (${entry.failures} in a row): ${message}; next attempt at ${new Date(entry.due!).toISOString()}`);
  }
}
