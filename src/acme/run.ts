/**
 * The ACME manager as plb runs it: one per process that owns the
 * configuration (the single process, or the master of workers; a worker
 * runs none and is sent what it serves). Started once the listeners are
 * bound and privileges dropped (the storage is checked as the user plb runs
 * as), it serves the sets of names the services' `tls.acme` give, publishes
 * every certificate and challenge answer (publish.ts), and is kept across
 * reloads (`update`: no new order for a set that did not change).
 *
 * Which challenge: `[acme] challenge` when set; otherwise HTTP-01 when plb
 * has a plain http service (the one the CA reaches on port 80), and
 * TLS-ALPN-01 when a TLS listener serves the names; the manager tries the
 * other one first after a failure.
 */
import type { AcmeConfig, Config } from "../config/types.ts";
import { logger } from "../log.ts";
import { readConfigured } from "../process/files.ts";
import { AcmeManager, type AcmeSettings, type CertificateUpdate, type NameState, type OrderCounts } from "./manager.ts";
import { publish, publishingResponders } from "./publish.ts";
import { acmeSettings, storageInChroot } from "./settings.ts";
import { checkStorage } from "./storage.ts";

const log = logger("acme");

/** The sets of names to manage: each service's `tls.acme` is one certificate (the same set twice is one). */
export function acmeSets(config: Config): string[][] {
  const out: string[][] = [];
  const key = (names: readonly string[]) => [...names].sort().join(",");
  for (const s of config.services) {
    const names = s.tls?.acme;
    if (!Array.isArray(names) || names.length === 0) continue;
    if (!out.some((o) => key(o) === key(names))) out.push([...names]);
  }
  return out;
}

/** The challenges plb can answer with this configuration. */
export function challengeSupport(config: Config): { http01: boolean; tlsAlpn01: boolean } {
  const want = config.acme?.challenge;
  const http01 = config.services.some((s) => s.protocol === "http" && s.tls === undefined);
  const tlsAlpn01 = config.services.some((s) => Array.isArray(s.tls?.acme));
  return { http01: http01 && want !== "tls-alpn-01", tlsAlpn01: tlsAlpn01 && want !== "http-01" };
}

function published(u: CertificateUpdate): void {
  publish({ kind: "certificate", certificate: { names: u.names, chainPem: u.chainPem, keyPem: u.keyPem, notAfter: u.notAfter.toISOString(), issuer: u.issuer, source: u.source } });
}

export class AcmeRun {
  private constructor(
    private readonly manager: AcmeManager,
    private readonly cfg: AcmeConfig,
  ) {}

  /**
   * Before the chroot: read directory_ca and find where the storage is
   * once chrooted; `start` (after the privilege drop) checks it as the user
   * plb runs as. Undefined without [acme] or names.
   */
  static prepare(config: Config): { start(o?: { hold?: boolean }): AcmeRun } | undefined {
    const cfg = config.acme;
    if (cfg === undefined || acmeSets(config).length === 0) return undefined;
    const storage = storageInChroot(cfg.storage, config.global.chroot_dir);
    // Through the kept directories: a reload after the chroot reads directory_ca again.
    const settings = { ...acmeSettings(cfg, (p) => readConfigured(p).toString()), storage };
    return { start: (o = {}) => AcmeRun.begin(config, cfg, settings, o.hold === true) };
  }

  /** prepare and start at once (no chroot between them: a reload that adds the first names). */
  static start(config: Config): AcmeRun | undefined {
    return AcmeRun.prepare(config)?.start();
  }

  /** Serve what storage has (placeholders for the rest) and plan the orders (`hold`: not before `release`). */
  private static begin(config: Config, cfg: AcmeConfig, settings: AcmeSettings, hold: boolean): AcmeRun {
    checkStorage(settings.storage);
    const support = challengeSupport(config);
    if (!support.http01 && !support.tlsAlpn01) log.warn("no challenge plb can answer: HTTP-01 needs a plain http service (port 80), TLS-ALPN-01 a service with tls.acme; orders will fail");
    const manager = new AcmeManager(settings, publishingResponders(support), published);
    if (hold) manager.hold();
    manager.start(acmeSets(config));
    current = new AcmeRun(manager, cfg);
    return current;
  }

  /** Orders may start (the master's workers answer challenges now). */
  release(): void {
    this.manager.release();
  }

  /** A reload: the sets now configured (unchanged ones keep their certificate and schedule). */
  update(config: Config): void {
    if (config.acme !== undefined && JSON.stringify(config.acme) !== JSON.stringify(this.cfg)) log.warn("[acme] changed: the new CA settings take effect at the next start");
    this.manager.update(acmeSets(config));
  }

  status(): NameState[] {
    return this.manager.status();
  }

  get orders(): OrderCounts {
    return this.manager.orders;
  }

  stop(): void {
    this.manager.stop();
    if (current === this) current = undefined;
  }
}

let current: AcmeRun | undefined;

/** The manager running in this process, if any (the stats listener shows it). */
export function runningAcme(): AcmeRun | undefined {
  return current;
}
