/**
 * The stats listener ([stats] listen): `GET /` (the live status page),
 * `GET /healthz` (health.ts: 200, or 503 once a stop began; no token),
 * `GET /metrics` (Prometheus text, or OpenMetrics when asked with Accept),
 * `GET /status.json`, and the admin API:
 * `POST /servers/<service>/<server>/drain|maint|ready|weight`. Every POST
 * needs `Authorization: Bearer <token>` (none configured: refused), and so
 * does every GET with `read_token = true`; compared in constant time (401
 * without one, 403 with a wrong one). Admin actions are logged with the
 * caller's address.
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
import { healthz } from "./health.ts";
import type { Server } from "../servers/server.ts";
import type { ServerPool } from "../servers/state.ts";
import type { Metrics } from "./metrics.ts";
import { STATUS_PAGE } from "./page.ts";

const log = logger("stats");

/** What the admin API may change, and who is told after. */
export interface AdminControl {
  /** The backend's pool and the server named `server` (as configured, or host:port), or undefined. */
  find(backend: string, server: string): { readonly pool: ServerPool; readonly server: Server } | undefined;
  /** An action changed `backend`'s servers (the master tells its workers). */
  changed?(backend: string): void;
}

const ACTIONS = ["drain", "maint", "ready", "weight"] as const;

/**
 * The admin API over the running backends (a service's own servers are
 * the backend named after it); `changed` is told after each action.
 */
export function poolControl(backends: () => readonly { readonly name: string; readonly pool: ServerPool }[], changed?: (backend: string) => void): AdminControl {
  return {
    find(backend, name) {
      const b = backends().find((s) => s.name === backend);
      const server = b?.pool.servers.find((s) => s.key === name || s.id === name.toLowerCase());
      return b && server ? { pool: b.pool, server } : undefined;
    },
    changed,
  };
}

export interface StatsListener {
  /** The port bound (tcp), for messages and tests. */
  readonly port: number | undefined;
  /** A reload read the token (file) again: asked for from now on. */
  setToken(token: string | undefined): void;
  /** A reload's `healthz_requires_servers`. */
  setRequireServers(on: boolean): void;
  /** A stop began: /healthz answers 503 from now on (the listener keeps serving until `stop`). */
  stopping(): void;
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

/** 401 without a Bearer token, 403 with a wrong one, undefined when it is `token`. */
function refusal(req: Request, token: string): Response | undefined {
  const auth = req.headers.get("authorization");
  if (auth === null) return new Response("authorization required\n", { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="plb"' } });
  return bearerMatches(auth, token) ? undefined : new Response("wrong token\n", { status: 403 });
}

function json(body: unknown, status = 200): Response {
  return Response.json(body, { status, headers: { "Cache-Control": "no-store" } });
}

/** POST /servers/<backend>/<server>/<action>: the caller is authorised already. */
async function admin(req: Request, path: string, control: AdminControl, who: string): Promise<Response> {
  const m = /^\/servers\/([^/]+)\/([^/]+)\/([a-z]+)$/.exec(path);
  if (!m) return json({ error: "not found: POST /servers/<backend>/<server>/drain|maint|ready|weight" }, 404);
  const [backend, name, action] = [decodeURIComponent(m[1]), decodeURIComponent(m[2]), m[3]];
  if (!(ACTIONS as readonly string[]).includes(action)) return json({ error: `unknown action ${JSON.stringify(action)} (${ACTIONS.join(", ")})` }, 404);
  const found = control.find(backend, name);
  if (!found) return json({ error: `no server ${JSON.stringify(name)} in backend ${JSON.stringify(backend)} (a service's own servers are the backend named after it)` }, 404);
  const { pool, server } = found;
  const why = `by ${who} (admin API)`;
  if (action === "weight") {
    let weight: unknown;
    try {
      weight = ((await req.json()) as { weight?: unknown }).weight;
    } catch {
      return json({ error: 'the body must be JSON: {"weight": N}' }, 400);
    }
    if (typeof weight !== "number" || !Number.isInteger(weight) || weight < 0 || weight > 256) return json({ error: "weight must be an integer from 0 to 256 (0: no new connections)" }, 400);
    pool.setWeight(server, weight, why);
  } else pool.setAdmin(server, action as "drain" | "maint" | "ready", why);
  log.info(`admin: ${action}${action === "weight" ? ` ${server.userWeight}` : ""} ${server} by ${who}`);
  control.changed?.(backend);
  return json({ backend, server: server.key, admin: server.admin, healthy: server.healthy, weight: server.userWeight, effective_weight: server.weight, up: server.up });
}

export function startStats(cfg: StatsConfig, metrics: Metrics, firstToken: string | undefined, control?: AdminControl): StatsListener {
  let token = firstToken;
  let requireServers = cfg.healthz_requires_servers;
  let stopping = false;
  let server: HttpServer<undefined>;
  const respond = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (req.method === "POST") {
      const who = server.requestIP(req)?.address ?? "a local socket";
      if (token === undefined) return json({ error: "the admin API needs a token: set stats.token_file (or stats.token)" }, 403);
      const refused = refusal(req, token);
      if (refused) {
        if (refused.status === 403) log.warn(`admin: a wrong token from ${who} for ${url.pathname}`);
        return refused;
      }
      if (!control) return json({ error: "no admin API here" }, 404);
      return admin(req, url.pathname, control, who);
    }
    // The page holds no data (it reads /status.json with the token typed in): no token needed for it.
    if (url.pathname === "/" && (req.method === "GET" || req.method === "HEAD")) {
      return new Response(STATUS_PAGE, { headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'" } });
    }
    // Probes carry no token: /healthz needs none (and then names no service).
    if (url.pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      const services = metrics.services().map((svc) => ({ name: svc.name, pools: svc.backends.map((b) => b.pool) }));
      const answer = healthz({ stopping, requireServers, private: cfg.read_token && token !== undefined, services });
      return new Response(answer.body, { status: answer.status, headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" } });
    }
    if (cfg.read_token && token !== undefined) {
      const refused = refusal(req, token);
      if (refused) return refused;
    }
    if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, HEAD, POST" } });
    if (url.pathname === "/metrics") {
      const open = /application\/openmetrics-text/.test(req.headers.get("accept") ?? "");
      return new Response(await metrics.prometheus(open), { headers: { "Content-Type": open ? OPENMETRICS_TYPE : TEXT_TYPE } });
    }
    if (url.pathname === "/status.json") return Response.json(await metrics.status(), { headers: { "Cache-Control": "no-store" } });
    return new Response("not found: /, /healthz, /metrics, /status.json\n", { status: 404 });
  };
  const where = cfg.listen;
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
  log.info(`stats listening on ${where.kind === "unix" ? where.text : `${where.host}:${server.port}`} (/healthz, /metrics, /status.json)`);
  return {
    port: server.port,
    setToken(next) {
      if (next !== token) log.info("stats: the token was read again (a reload): the new one is asked for from now on");
      token = next;
    },
    setRequireServers(on) {
      requireServers = on;
    },
    stopping() {
      if (!stopping) log.info("stats: stopping: /healthz answers 503 from now on");
      stopping = true;
    },
    stop() {
      server.stop(true);
    },
  };
}
