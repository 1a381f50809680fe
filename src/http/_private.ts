/** Small helpers of the http connection and exchange. */
import type { RequestHead } from "./types.ts";

/** Client bytes held beyond the current request before the client is paused. */
export const HOLD_LIMIT = 64 << 10;

/** The request's key for hashing balancers: its path, or a header's value ("" when absent). */
export function hashKey(req: RequestHead, hashes: "path" | "header", header: string | undefined): string {
  if (hashes === "path") {
    const t = req.target;
    const q = t.indexOf("?");
    return q < 0 ? t : t.slice(0, q);
  }
  const lower = header?.toLowerCase();
  return req.fields.find((f) => f.lower === lower)?.value ?? "";
}

/** Idempotent (RFC 9110 §9.2.2). Compared, not hashed: a method is a fresh substring of the head. */
export function idempotent(m: string): boolean {
  return m === "GET" || m === "HEAD" || m === "OPTIONS" || m === "PUT" || m === "DELETE" || m === "TRACE";
}

/**
 * plb may send the request again on a fresh connection when a server closes
 * without answering: idempotent and complete in its head.
 */
export function retryable(req: RequestHead): boolean {
  return req.body.kind === "none" && idempotent(req.method);
}

