/**
 * The `[stats]` table: where the stats listener (metrics, status, admin
 * API) listens and the token it asks for.
 *
 *   [stats]
 *   listen = "127.0.0.1:8404"          # or "unix:/run/plb/stats.sock"
 *   token_file = "/etc/plb/stats.token"  # or token = "…"; needed for POSTs, and GETs with read_token
 *   read_token = false
 *   healthz_requires_servers = false   # true: /healthz is 503 while a service has no server up
 *
 * A listener on an address other than loopback (or a unix socket) must have
 * a token. The token file is read when plb starts (and on reload), like TLS
 * files; here only its path is checked.
 */
import { describeValue } from "./describe.ts";
import type { Diagnostic } from "./diagnostics.ts";
import { suggestion } from "./diagnostics.ts";
import { parseListen } from "./address.ts";
import type { SourceIndex } from "./locate.ts";
import type { StatsConfig } from "./types.ts";

/** Every key of [stats] (the deploy/ tests check a configuration's keys against it). */
export const STATS_KEYS = ["listen", "token", "token_file", "read_token", "healthz_requires_servers"];

function isLoopback(host: string): boolean {
  return host === "::1" || host.startsWith("127.");
}

/** The checked `[stats]` table, or undefined (absent, or invalid: problems reported). */
export function checkStats(raw: unknown, source: SourceIndex, report: (d: Diagnostic) => void): StatsConfig | undefined {
  if (raw === undefined) return undefined;
  const line = (sub?: string) => source.line({ key: "stats", sub });
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    report({ path: "stats", line: line(), message: `stats must be a table ([stats] with listen = "127.0.0.1:8404"), got ${describeValue(raw)}` });
    return undefined;
  }
  const t = raw as Record<string, unknown>;
  const problems: Diagnostic[] = [];
  const bad = (sub: string, message: string) => problems.push({ path: `stats.${sub}`, line: line(sub), message: `stats.${message}` });
  for (const k of Object.keys(t)) if (!STATS_KEYS.includes(k)) bad(k, `${k}: unknown key${suggestion(k, STATS_KEYS)} (stats keys: ${STATS_KEYS.join(", ")})`);

  let listen: StatsConfig["listen"] | undefined;
  if (t.listen === undefined) bad("listen", 'listen is required: an address such as "127.0.0.1:8404", or "unix:/run/plb/stats.sock"');
  else if (typeof t.listen === "string" && t.listen.startsWith("unix:")) {
    const path = t.listen.slice(5);
    if (!path.startsWith("/")) bad("listen", `listen: a unix socket needs an absolute path ("unix:/run/plb/stats.sock"), got ${JSON.stringify(t.listen)}`);
    else listen = { kind: "unix", path, text: t.listen };
  } else {
    const addr = parseListen(t.listen);
    if (typeof addr === "string") bad("listen", `listen: ${addr}`);
    else listen = { kind: "tcp", host: addr.host, port: addr.port, text: addr.text };
  }
  for (const k of ["token", "token_file"]) {
    if (t[k] !== undefined && (typeof t[k] !== "string" || t[k] === "")) bad(k, `${k} must be a non-empty string, got ${describeValue(t[k])}`);
  }
  if (t.token !== undefined && t.token_file !== undefined) bad("token", "token and token_file are both set: keep one");
  if (typeof t.token === "string" && t.token !== "" && t.token.length < 16) bad("token", "token must be at least 16 characters (a random one: openssl rand -hex 16)");
  for (const k of ["read_token", "healthz_requires_servers"]) {
    if (t[k] !== undefined && typeof t[k] !== "boolean") bad(k, `${k} must be true or false, got ${describeValue(t[k])}`);
  }
  const hasToken = typeof t.token === "string" || typeof t.token_file === "string";
  if (listen?.kind === "tcp" && !isLoopback(listen.host) && !hasToken) {
    bad("listen", `listen: ${listen.text} is not a loopback address: set token_file (or token), or listen on 127.0.0.1 or a unix socket`);
  }
  for (const p of problems) report(p);
  if (problems.length > 0 || listen === undefined) return undefined;
  return {
    listen,
    token: t.token as string | undefined,
    token_file: t.token_file as string | undefined,
    read_token: (t.read_token as boolean | undefined) ?? false,
    healthz_requires_servers: (t.healthz_requires_servers as boolean | undefined) ?? false,
  };
}
