/**
 * When to renew: at two thirds of a certificate's lifetime, or inside the
 * window the CA suggests through ACME Renewal Information (RFC 9773) when
 * its directory has `renewalInfo`. Pure functions; the manager fetches.
 */
import type { CertInfo } from "./certinfo.ts";
import { base64url } from "./keys.ts";

/** notBefore + ⅔ (notAfter − notBefore). */
export function twoThirds(info: Pick<CertInfo, "notBefore" | "notAfter">): Date {
  const from = info.notBefore.getTime();
  return new Date(from + ((info.notAfter.getTime() - from) * 2) / 3);
}

/** RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial bytes); undefined without an AKI. */
export function ariCertId(info: Pick<CertInfo, "authorityKeyId" | "serial">): string | undefined {
  if (info.authorityKeyId === undefined) return undefined;
  return `${base64url(info.authorityKeyId)}.${base64url(info.serial)}`;
}

export interface RenewalWindow {
  readonly start: Date;
  readonly end: Date;
}

/** The suggestedWindow of a renewalInfo body, or undefined when it is malformed (start after end, not dates). */
export function parseRenewalInfo(body: unknown): RenewalWindow | undefined {
  const w = (body as { suggestedWindow?: { start?: unknown; end?: unknown } } | undefined)?.suggestedWindow;
  if (!w || typeof w.start !== "string" || typeof w.end !== "string") return undefined;
  const start = Date.parse(w.start);
  const end = Date.parse(w.end);
  if (Number.isNaN(start) || Number.isNaN(end) || end < start) return undefined;
  return { start: new Date(start), end: new Date(end) };
}

/**
 * A time to renew within the CA's window (uniformly at random, RFC 9773
 * §4.2), or now when the window already began; `random` in [0, 1).
 */
export function pickInWindow(w: RenewalWindow, now: number, random = Math.random()): Date {
  if (w.end.getTime() <= now) return new Date(now);
  const from = Math.max(w.start.getTime(), now);
  return new Date(from + (w.end.getTime() - from) * random);
}

/** How long until the next renewalInfo check: the CA's Retry-After, kept within 1 h – 24 h (RFC 9773 §4.3). */
export function ariRecheck(retryAfterMs: number | undefined): number {
  return Math.min(24 * 3_600_000, Math.max(3_600_000, retryAfterMs ?? 6 * 3_600_000));
}
