/**
 * AcmeError: what went wrong talking to a CA, with the CA's problem
 * document (RFC 8555 §6.7, RFC 7807) when it sent one. Code "ACME" for
 * every CA or transport failure; the problem's type tells them apart.
 */
import { PlbError } from "../errors.ts";

export interface AcmeProblem {
  /** "urn:ietf:params:acme:error:badNonce", … ("about:blank" when the CA sent none). */
  readonly type: string;
  readonly detail?: string;
  readonly status?: number;
  readonly identifier?: { readonly type: string; readonly value: string };
  readonly subproblems?: readonly AcmeProblem[];
}

const PREFIX = "urn:ietf:params:acme:error:";

/** The short name of an ACME problem type ("badNonce"), or the type as it is. */
export function problemName(type: string): string {
  return type.startsWith(PREFIX) ? type.slice(PREFIX.length) : type;
}

/** One line: "rateLimited: too many certificates (a.test: connection refused)". */
export function describeProblem(p: AcmeProblem): string {
  const subs = (p.subproblems ?? []).map((s) => `${s.identifier?.value ?? "?"}: ${problemName(s.type)}${s.detail ? ` ${s.detail}` : ""}`);
  return `${problemName(p.type)}${p.detail ? `: ${p.detail}` : ""}${subs.length ? ` (${subs.join("; ")})` : ""}`;
}

export class AcmeError extends PlbError {
  /** The CA's problem document, or undefined for a transport failure (refused, timeout, bad TLS). */
  readonly problem: AcmeProblem | undefined;
  /** Milliseconds the CA asked us to wait (Retry-After), if it did. */
  readonly retryAfter: number | undefined;
  /** The names the failed attempt was for, when known. */
  readonly names: readonly string[] | undefined;

  constructor(message: string, options: { problem?: AcmeProblem; retryAfter?: number; names?: readonly string[]; cause?: unknown } = {}) {
    super("ACME", message, { cause: options.cause });
    this.name = "AcmeError";
    this.problem = options.problem;
    this.retryAfter = options.retryAfter;
    this.names = options.names;
  }

  /** True for a problem of this short type ("badNonce", "rateLimited", …). */
  is(name: string): boolean {
    return this.problem !== undefined && problemName(this.problem.type) === name;
  }
}

/** A problem document from a parsed JSON body, or undefined when it is not one. */
export function asProblem(body: unknown): AcmeProblem | undefined {
  if (body === null || typeof body !== "object") return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.type !== "string") return undefined;
  return {
    type: b.type,
    detail: typeof b.detail === "string" ? b.detail : undefined,
    status: typeof b.status === "number" ? b.status : undefined,
    identifier: b.identifier as AcmeProblem["identifier"],
    subproblems: Array.isArray(b.subproblems) ? (b.subproblems.map(asProblem).filter(Boolean) as AcmeProblem[]) : undefined,
  };
}
