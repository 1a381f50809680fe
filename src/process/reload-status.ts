/**
 * How `plb --reload` learns whether the running plb took its new
 * configuration: next to the pid file (`plb.pid` → `plb.reload`) the
 * running process keeps one JSON line, rewritten after every reload:
 * `{"pid":…,"generation":N,"ok":true|false,"message":"…"}`.
 *
 * The file is created at start, before the privilege drop, and its
 * descriptor kept open, so the process can rewrite it after the chroot and
 * as an unprivileged user. `--reload` reads the generation, sends SIGHUP and
 * waits for the next one.
 */
import { closeSync, ftruncateSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { logger } from "../log.ts";

const log = logger("reload");

export interface ReloadStatus {
  readonly pid: number;
  readonly generation: number;
  readonly ok: boolean;
  readonly message: string;
}

/** The status file that goes with pid file `pidfile`. */
export function reloadStatusPath(pidfile: string): string {
  return pidfile.endsWith(".pid") ? `${pidfile.slice(0, -4)}.reload` : `${pidfile}.reload`;
}

let fd = -1;
let path: string | undefined;
let generation = 0;

/** Create the status file for `pidfile` (at start, before the privilege drop); a failure only warns. */
export function openReloadStatus(pidfile: string): void {
  path = reloadStatusPath(pidfile);
  try {
    fd = openSync(path, "w", 0o644);
  } catch (err) {
    log.warn(`cannot create ${path} (plb --reload will not learn the outcome of a reload): ${(err as Error).message}`);
    fd = -1;
    return;
  }
  write({ pid: process.pid, generation, ok: true, message: "started" });
}

function write(status: ReloadStatus): void {
  if (fd < 0) return;
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, `${JSON.stringify(status)}\n`, 0);
  } catch (err) {
    log.warn(`cannot write ${path}: ${(err as Error).message}`);
  }
}

/** Record the outcome of a reload. */
export function recordReload(ok: boolean, message: string): void {
  generation++;
  write({ pid: process.pid, generation, ok, message });
}

/** Close the status file and remove it where the path still leads to it. */
export function closeReloadStatus(): void {
  if (fd < 0) return;
  try {
    closeSync(fd);
    unlinkSync(path!);
  } catch {
    // after a chroot or without the right to: the next start replaces it
  }
  fd = -1;
}

/** The status in the file for `pidfile`, or undefined (no file, or not one of ours). */
export function readReloadStatus(pidfile: string): ReloadStatus | undefined {
  try {
    const s = JSON.parse(readFileSync(reloadStatusPath(pidfile), "utf8")) as ReloadStatus;
    return typeof s.pid === "number" && typeof s.generation === "number" ? s : undefined;
  } catch {
    return undefined;
  }
}
