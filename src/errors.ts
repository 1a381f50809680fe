/**
 * One error base class with stable codes. Each protocol renders its own
 * reply from `code` (tcp: close, http: status, smtp: 421); the CLI maps
 * codes to exit statuses.
 */
export type PlbErrorCode =
  | "CONFIG_SYNTAX"
  | "CONFIG_INVALID"
  | "CONFIG_READ"
  | "LISTEN_FAILED"
  | "PRIVILEGES"
  | "PIDFILE"
  | "DAEMON"
  | "NO_SERVER"
  | "CONNECT_TIMEOUT"
  | "CONNECT_REFUSED"
  | "UNREACHABLE"
  /** An h2 server refused a stream unprocessed (GOAWAY above it, REFUSED_STREAM): not a failure of the server. */
  | "STREAM_REFUSED"
  | "RESOLVE"
  | "FFI"
  | "ACME"
  | "ACME_STORAGE";

export class PlbError extends Error {
  readonly code: PlbErrorCode;
  constructor(code: PlbErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PlbError";
    this.code = code;
  }
}

/** Exit status for an error that stops the process (1 config, 2 runtime start). */
export function exitCodeFor(err: unknown): number {
  if (err instanceof PlbError && err.code.startsWith("CONFIG")) return 1;
  return 2;
}

/** Why a file could not be read, for messages: "no such file (ENOENT)", "permission denied (EACCES)", … */
export function fileErrorReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const reason = e.code === "ENOENT" ? "no such file" : e.code === "EACCES" ? "permission denied" : e.code === "EISDIR" ? "is a directory" : e.message;
  return `${reason}${e.code ? ` (${e.code})` : ""}`;
}
