/**
 * `request_id = true`: every request carries an X-Request-Id to its
 * server: the client's own when it sent one (the first, if non-empty), else
 * a fresh random UUID that plb adds. The same id goes into the access log
 * and the `{request_id}` variable of route header values.
 */
import { fieldLines, type FieldLines } from "./serialize.ts";
import type { RequestHead } from "./types.ts";

/** The request's own X-Request-Id, or undefined (none, or empty). */
export function requestIdOf(head: RequestHead): string | undefined {
  for (const f of head.fields) if (f.lower === "x-request-id" && f.value !== "") return f.value;
  return undefined;
}

/** A new id: a random (v4) UUID. */
export function newRequestId(): string {
  return globalThis.crypto.randomUUID();
}

/** The field line plb adds for an id it made. */
export function requestIdLine(id: string): FieldLines {
  return fieldLines([["X-Request-Id", id]]);
}
