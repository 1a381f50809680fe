/**
 * `plb --reload`: tell the running plb to reload and wait for its answer.
 * The running process is found through its pid file and sent SIGHUP; it
 * records the outcome in the status file next to the pid file
 * (reload-status.ts). The caller (the CLI) has validated the file already.
 */
import { runningPid } from "./pidfile.ts";
import { readReloadStatus, reloadStatusPath } from "./reload-status.ts";

export interface ReloadOutcome {
  /** 0 reloaded, 1 the running plb refused the configuration, 2 could not tell or not running. */
  readonly code: 0 | 1 | 2;
  readonly message: string;
}

export async function requestReload(pidfile: string, timeoutMs = 10_000): Promise<ReloadOutcome> {
  const found = runningPid(pidfile);
  if ("error" in found) return { code: 2, message: found.error };
  const { pid } = found;
  const before = readReloadStatus(pidfile);
  const since = before?.pid === pid ? before.generation : -1;
  try {
    process.kill(pid, "SIGHUP");
  } catch (err) {
    return { code: 2, message: `cannot signal plb process ${pid}: ${(err as Error).message}` };
  }
  if (before?.pid !== pid) {
    return { code: 2, message: `sent SIGHUP to plb process ${pid}, but it keeps no ${reloadStatusPath(pidfile)} to report the outcome: see its log` };
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await Bun.sleep(25);
    const now = readReloadStatus(pidfile);
    if (now && now.pid === pid && now.generation > since) {
      return now.ok ? { code: 0, message: `plb process ${pid}: ${now.message}` } : { code: 1, message: `plb process ${pid} kept its configuration: ${now.message}` };
    }
  }
  return { code: 2, message: `sent SIGHUP to plb process ${pid}; no outcome within ${timeoutMs / 1000} s: see its log` };
}
