/**
 * Logging: one consola instance, one tagged logger per subsystem.
 *
 * Lines are `2026-11-26T04:27:12.345Z [level] [tag] message`, written
 * synchronously to stderr or to an append-mode log file. Hot paths guard
 * formatting with `logEnabled("debug")` so nothing is built when the level
 * is off.
 */
import { createConsola, type ConsolaInstance, type LogObject } from "consola";
import { closeSync, openSync, writeSync } from "node:fs";
import { formatWithOptions } from "node:util";
import type { LogLevelName } from "./config/types.ts";

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

let fd = 2;
let ownFd = false;
let current: LogLevelName = "info";
let numericLevel = CONSOLA_LEVEL.info;

function write(obj: LogObject): void {
  const type = obj.type === "log" ? "info" : obj.type;
  const tag = obj.tag ? ` [${obj.tag}]` : "";
  const msg = formatWithOptions({ colors: false, breakLength: Infinity }, ...obj.args);
  const line = `${obj.date.toISOString()} [${type}]${tag} ${msg}\n`;
  try {
    writeSync(fd, line);
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
  const next = path === undefined || path === "-" ? 2 : openSync(path, "a", 0o640);
  if (ownFd) closeSync(fd);
  fd = next;
  ownFd = next !== 2;
}

/** The descriptor logs go to (the daemon keeps it open across re-exec). */
export function logFd(): number {
  return fd;
}
