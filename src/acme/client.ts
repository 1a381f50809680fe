/**
 * The transport to one ACME server: its directory, a pool of nonces, and
 * signed POSTs (RFC 8555 §6). A `badNonce` answer is retried at once with
 * the fresh nonce it carries (every ACME response carries one); other
 * problems become AcmeError with the CA's problem document and its
 * Retry-After, for the caller's back-off.
 */
import type { KeyObject } from "node:crypto";
import { rootCertificates } from "node:tls";
import { AcmeError, asProblem, describeProblem } from "./errors.ts";
import { signedRequest } from "./jws.ts";

export interface Directory {
  readonly newNonce: string;
  readonly newAccount: string;
  readonly newOrder: string;
  readonly revokeCert?: string;
  readonly keyChange?: string;
  /** RFC 9773 ACME Renewal Information, when the CA offers it. */
  readonly renewalInfo?: string;
  readonly meta?: { readonly termsOfService?: string; readonly [k: string]: unknown };
}

export interface AcmeResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The Location header (account URL, order URL). */
  readonly location: string | undefined;
  /** Milliseconds from Retry-After, when present. */
  readonly retryAfter: number | undefined;
  /** The body as text (a certificate chain), and parsed when it is JSON. */
  readonly text: string;
  readonly json: unknown;
}

export interface ClientOptions {
  readonly directory: string;
  /** PEM of an extra CA trusted for the ACME server itself (beside the built-in roots). */
  readonly ca?: string;
  /** Per request; default 30 s. */
  readonly timeoutMs?: number;
  /** badNonce answers retried per request; default 5. */
  readonly badNonceRetries?: number;
}

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class AcmeClient {
  readonly directoryUrl: string;
  private readonly tls: { ca: string[] } | undefined;
  private readonly timeoutMs: number;
  private readonly maxBadNonce: number;
  private directoryCache: Directory | undefined;
  private readonly nonces: string[] = [];
  /** badNonce answers retried so far (for tests and the log). */
  badNonceRetried = 0;

  constructor(o: ClientOptions) {
    this.directoryUrl = o.directory;
    this.tls = o.ca ? { ca: [...rootCertificates, o.ca] } : undefined;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.maxBadNonce = o.badNonceRetries ?? 5;
  }

  private async send(url: string, init: RequestInit): Promise<AcmeResponse> {
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs), tls: this.tls, redirect: "manual" } as RequestInit);
      text = await res.text();
    } catch (err) {
      this.directoryCache = undefined; // the CA may have moved: ask for its directory again next time
      throw new AcmeError(`cannot reach the ACME server at ${url}: ${(err as Error).message}`, { cause: err });
    }
    const nonce = res.headers.get("replay-nonce");
    if (nonce) this.nonces.push(nonce);
    let json: unknown;
    if ((res.headers.get("content-type") ?? "").includes("json")) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    return { status: res.status, headers: res.headers, location: res.headers.get("location") ?? undefined, retryAfter: parseRetryAfter(res.headers.get("retry-after")), text, json };
  }

  private fail(what: string, res: AcmeResponse): never {
    const problem = asProblem(res.json) ?? { type: "about:blank", detail: `HTTP ${res.status}${res.text ? `: ${res.text.slice(0, 200)}` : ""}`, status: res.status };
    throw new AcmeError(`${what}: ${describeProblem(problem)}`, { problem, retryAfter: res.retryAfter });
  }

  async directory(): Promise<Directory> {
    if (this.directoryCache) return this.directoryCache;
    const res = await this.send(this.directoryUrl, { method: "GET" });
    const d = res.json as Partial<Directory> | undefined;
    if (res.status !== 200 || !d || typeof d.newNonce !== "string" || typeof d.newAccount !== "string" || typeof d.newOrder !== "string") {
      if (res.status !== 200) this.fail(`directory ${this.directoryUrl}`, res);
      throw new AcmeError(`directory ${this.directoryUrl}: not an ACME directory (no newNonce, newAccount or newOrder)`);
    }
    this.directoryCache = d as Directory;
    return this.directoryCache;
  }

  private async nonce(): Promise<string> {
    const n = this.nonces.pop();
    if (n !== undefined) return n;
    const dir = await this.directory();
    const res = await this.send(dir.newNonce, { method: "HEAD" });
    const fresh = this.nonces.pop();
    if (fresh === undefined) this.fail("newNonce gave no Replay-Nonce", res);
    return fresh;
  }

  /** A plain GET (renewalInfo); problems as AcmeError. */
  async get(url: string): Promise<AcmeResponse> {
    const res = await this.send(url, { method: "GET" });
    if (res.status >= 400) this.fail(`GET ${url}`, res);
    return res;
  }

  /**
   * A signed POST (payload undefined: POST-as-GET) with `kid` or, without
   * it, the key's jwk. `what` names the step in errors ("newOrder").
   */
  async post(what: string, url: string, o: { key: KeyObject; kid?: string; payload?: unknown; accept?: string }): Promise<AcmeResponse> {
    for (let attempt = 0; ; attempt++) {
      const body = signedRequest({ key: o.key, kid: o.kid, url, nonce: await this.nonce(), payload: o.payload });
      const headers: Record<string, string> = { "content-type": "application/jose+json" };
      if (o.accept) headers.accept = o.accept;
      const res = await this.send(url, { method: "POST", headers, body: JSON.stringify(body) });
      if (res.status < 400) return res;
      const problem = asProblem(res.json);
      if (problem?.type === "urn:ietf:params:acme:error:badNonce" && attempt < this.maxBadNonce) {
        this.badNonceRetried++;
        continue;
      }
      this.fail(what, res);
    }
  }
}
