/**
 * Logging: one consola instance, one tagged logger per subsystem.
 *
 * Lines are `2026-11-26T04:27:12.345Z [level] [tag] message`, written
 * synchronously to stderr or to an append-mode log file. Hot paths guard
 * formatting with `logEnabled("debug")` so nothing is built when the level
 * is off.
 *
 * SIGUSR1 calls `reopenLogFile()` (logrotate's postrotate): the file is
 * opened again by its name through its kept directory (log-file.ts), so
 * this also works after chroot and the drop of privileges.
 */
import { createConsola, type ConsolaInstance, type LogObject } from "consola";
import { writeSync } from "node:fs";
import { formatWithOptions } from "node:util";
import type { LogLevelName } from "./config/types.ts";
import { LogFile } from "./log-file.ts";
import { describeUser } from "./process/identity.ts";
import * as libc from "./process/libc.ts";

/** consola's numeric levels for plb's level names. */
const CONSOLA_LEVEL: Record<LogLevelName, number> = { error: 0, warn: 1, info: 3, debug: 4 };

/** PLB 0.3's numeric verbosity (0–4) mapped to names. */
export const NUMERIC_LEVELS: readonly LogLevelName[] = ["error", "warn", "info", "info", "debug"];
export const LEVEL_NAMES: readonly LogLevelName[] = ["error", "warn", "info", "debug"];

/** Accepts "error" | "warn" | "info" | "debug" or "0".."4"; undefined when invalid. */
export function parseLogLevel(value: string | number): LogLevelName | undefined {
  const text = String(value).trim().toLowerCase();
  if (/^[0-4]$/.test(text)) return NUMERIC_LEVELS[Number(text)];
  if (text === "warning") return "warn";
  return (LEVEL_NAMES as readonly string[]).includes(text) ? (text as LogLevelName) : undefined;
}

/** The log file, or undefined for stderr. */
let file: LogFile | undefined;
let current: LogLevelName = "info";
let numericLevel = CONSOLA_LEVEL.info;
/** " [w2]" in a worker's lines: which process wrote them. */
let label = "";

/** Name this process in every line from now on (a worker: "w2"). */
export function setLogLabel(name: string): void {
  label = name ? ` [${name}]` : "";
}

function write(obj: LogObject): void {
  const type = obj.type === "log" ? "info" : obj.type;
  const tag = `${label}${obj.tag ? ` [${obj.tag}]` : ""}`;
  const msg = formatWithOptions({ colors: false, breakLength: Infinity }, ...obj.args);
  const line = `${obj.date.toISOString()} [${type}]${tag} ${msg}\n`;
  try {
    writeSync(file?.fd ?? 2, line);
  } catch {
    // A log write must never take the balancer down (full disk, closed fd).
  }
}

const root: ConsolaInstance = createConsola({
  level: numericLevel,
  reporters: [{ log: write }],
  throttle: 0,
});

/** Tagged loggers copy the level when made: keep them to update it. */
const tagged = new Map<string, ConsolaInstance>();

/** The tagged logger for one subsystem ("relay", "state", "scheduler", …). */
export function logger(tag: string): ConsolaInstance {
  let l = tagged.get(tag);
  if (l === undefined) {
    l = root.withTag(tag);
    l.level = numericLevel;
    tagged.set(tag, l);
  }
  return l;
}

export function setLogLevel(level: LogLevelName): void {
  current = level;
  numericLevel = CONSOLA_LEVEL[level];
  root.level = numericLevel;
  for (const l of tagged.values()) l.level = numericLevel;
}

export function logLevel(): LogLevelName {
  return current;
}

/** Cheap check for hot paths: is `level` written at the current setting? */
export function logEnabled(level: LogLevelName): boolean {
  return CONSOLA_LEVEL[level] <= numericLevel;
}

/** Send logs to `path` (appending), or to stderr for undefined / "-". */
export function setLogFile(path: string | undefined): void {
  const next = path === undefined || path === "-" ? undefined : new LogFile(path);
  file?.close();
  file = next;
}

/** The descriptor logs go to (2: stderr). */
export function logFd(): number {
  return file?.fd ?? 2;
}

/** The absolute path of the log file; undefined when logging to stderr. */
export function logFilePath(): string | undefined {
  return file?.path;
}

export type ReopenResult = { ok: true; path: string } | { ok: false; path: string | undefined; reason: string };

/**
 * Opens the log file by its name again (after logrotate moved it away) and
 * logs one info line there. When that fails (the user plb runs as may not
 * create files in the directory), logs keep going to the file open before,
 * with a warning that names the file, the reason and the user. Never throws.
 */
export function reopenLogFile(): ReopenResult {
  const log = logger("log");
  if (file === undefined) {
    log.info("logging to standard error: no log file to reopen");
    return { ok: false, path: undefined, reason: "logging to standard error" };
  }
  try {
    file.reopen();
  } catch (err) {
    const reason = err instanceof libc.SyscallError ? libc.strerror(err.errno) : (err as Error).message;
    const who = describeUser();
    log.warn(
      `cannot reopen log file ${file.path}${who === "" ? "" : ` as ${who}`}: ${reason}; still logging to the file opened before ` +
        `(let logrotate create the new file for that user: "create 0640 <user> <group>", or let the user write to ${file.directory})`,
    );
    return { ok: false, path: file.path, reason };
  }
  log.info(`reopened log file ${file.path}`);
  return { ok: true, path: file.path };
}
