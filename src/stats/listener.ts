/**
 * The stats listener ([stats] listen): `GET /metrics` (Prometheus text, or
 * OpenMetrics when asked with Accept) and `GET /status.json`. With
 * `read_token = true` every request needs `Authorization: Bearer <token>`,
 * compared in constant time (401 without one, 403 with a wrong one).
 * Bound before the privilege drop, like every listener.
 */
import type { Server as HttpServer } from "bun";
import { createHash, timingSafeEqual } from "node:crypto";
import { existsSync, lstatSync, unlinkSync } from "node:fs";
import type { StatsConfig } from "../config/types.ts";
import { fileErrorReason, PlbError } from "../errors.ts";
import { logger } from "../log.ts";
import { readConfigured } from "../process/files.ts";
import { OPENMETRICS_TYPE, TEXT_TYPE } from "./exposition.ts";
import type { Metrics } from "./metrics.ts";

const log = logger("stats");

export interface StatsListener {
  /** The port bound (tcp), for messages and tests. */
  readonly port: number | undefined;
  stop(): void;
}

/** The token of `cfg` (read from token_file), or undefined. */
export function statsToken(cfg: StatsConfig): string | undefined {
  if (cfg.token !== undefined) return cfg.token;
  if (cfg.token_file === undefined) return undefined;
  let text: string;
  try {
    text = readConfigured(cfg.token_file).toString("utf8").trim();
  } catch (err) {
    throw new PlbError("CONFIG_INVALID", `stats.token_file: cannot read ${cfg.token_file}: ${fileErrorReason(err)}`);
  }
  if (text.length < 16) throw new PlbError("CONFIG_INVALID", `stats.token_file: ${cfg.token_file} holds a token shorter than 16 characters`);
  return text;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Whether `header` carries `token` (constant time whatever the lengths). */
export function bearerMatches(header: string | null, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return m !== null && timingSafeEqual(digest(m[1]), digest(token));
}

export function startStats(cfg: StatsConfig, metrics: Metrics, token: string | undefined): StatsListener {
  const respond = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (cfg.read_token && token !== undefined) {
      const auth = req.headers.get("authorization");
      if (auth === null) return new Response("authorization required\n", { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="plb"' } });
      if (!bearerMatches(auth, token)) return new Response("wrong token\n", { status: 403 });
    }
    if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, HEAD" } });
    if (url.pathname === "/metrics") {
      const open = /application\/openmetrics-text/.test(req.headers.get("accept") ?? "");
      return new Response(await metrics.prometheus(open), { headers: { "Content-Type": open ? OPENMETRICS_TYPE : TEXT_TYPE } });
    }
    if (url.pathname === "/status.json") return Response.json(await metrics.status(), { headers: { "Cache-Control": "no-store" } });
    return new Response("not found: /metrics, /status.json\n", { status: 404 });
  };
  const where = cfg.listen;
  let server: HttpServer<undefined>;
  try {
    if (where.kind === "unix") {
      // A socket left by an earlier run (not a file of someone else's).
      if (existsSync(where.path) && lstatSync(where.path).isSocket()) unlinkSync(where.path);
      server = Bun.serve({ unix: where.path, fetch: respond });
    } else server = Bun.serve({ hostname: where.host, port: where.port, fetch: respond });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const why = e.code === "EADDRINUSE" ? "address already in use" : e.code === "EACCES" ? "permission denied" : (e.message ?? String(err));
    throw new PlbError("LISTEN_FAILED", `stats: cannot listen on ${where.text}: ${why}`, { cause: err });
  }
  log.info(`stats listening on ${where.kind === "unix" ? where.text : `${where.host}:${server.port}`} (/metrics, /status.json)`);
  return {
    port: server.port,
    stop() {
      server.stop(true);
    },
  };
}
