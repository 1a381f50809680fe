/**
 * The ACME part of /metrics, /status.json and the status page: each
 * managed name's certificate (tls/managed.ts: what is served) and, where
 * the manager runs (the single process or the master), its orders and each
 * name's state (acme/run.ts).
 */
import { runningAcme } from "../acme/run.ts";
import { managedCertificates } from "../tls/managed.ts";
import type { Exposition } from "./exposition.ts";

export function acmeMetrics(x: Exposition): void {
  for (const [name, c] of managedCertificates.entries()) {
    x.gauge("plb_tls_certificate_expiry_seconds", "When the certificate served for the name ends (Unix time, seconds; a placeholder's too): subtract time() for what is left.", { name }, Date.parse(c.notAfter) / 1000);
  }
  const run = runningAcme();
  if (run === undefined) return;
  for (const result of ["issued", "failed"] as const) x.counter("plb_acme_orders_total", "ACME orders by result since start: issued, failed (a failed one is retried with back-off).", { result }, run.orders[result]);
}

/** Each managed name: what is served and, where the manager runs, its orders; undefined without ACME. */
export function acmeStatus(): object[] | undefined {
  const run = runningAcme();
  const served = managedCertificates.entries();
  if (run === undefined && served.length === 0) return undefined;
  const states = run?.status() ?? [];
  const names = [...new Set([...served.map(([n]) => n), ...states.map((s) => s.name)])].sort();
  return names.map((name) => {
    const c = managedCertificates.get(name);
    const s = states.find((x) => x.name === name);
    return {
      name,
      state: s?.state ?? (c?.source === "placeholder" ? "placeholder" : "valid"),
      source: c?.source ?? null,
      valid_until: c && c.source !== "placeholder" ? c.notAfter : null,
      issuer: c && c.source !== "placeholder" ? c.issuer : null,
      ordering: s?.ordering ?? false,
      renew_at: s?.renewAt ?? null,
      last_attempt: s?.lastAttempt ?? null,
      last_error: s?.lastError ?? null,
      next_attempt: s?.nextAttempt ?? null,
    };
  });
}
