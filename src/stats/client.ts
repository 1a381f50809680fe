/**
 * `plb status [--watch]` and `plb drain|maint|ready BACKEND SERVER`: the
 * stats listener's client, for the terminal. It finds the listener and its
 * token in the configuration file and returns text and an exit status; the
 * CLI prints and exits.
 */
import type { StatsConfig } from "../config/types.ts";
import { statsToken } from "./listener.ts";

export interface ClientResult {
  readonly code: 0 | 1 | 2;
  readonly text: string;
}

interface ServerRow {
  name: string;
  state: string;
  sessions_current: number;
  sessions_total: number;
  failures: Record<string, number>;
  cause: string | null;
}
interface ServiceRow {
  name: string;
  protocol: string;
  listen: string[];
  sessions_current: number;
  sessions_total: number;
  responses?: Record<string, number>;
  backend: string;
}
interface BackendRow {
  name: string;
  declared: boolean;
  servers: ServerRow[];
}
export interface Status {
  version: string;
  uptime_seconds: number;
  services: ServiceRow[];
  backends: BackendRow[];
}

async function call(cfg: StatsConfig, path: string, init: RequestInit = {}): Promise<Response> {
  const t = statsToken(cfg);
  const headers = { ...(t ? { Authorization: `Bearer ${t}` } : {}), ...(init.headers as Record<string, string> | undefined) };
  const l = cfg.listen;
  if (l.kind === "unix") return fetch(`http://localhost${path}`, { ...init, headers, unix: l.path } as RequestInit);
  const host = l.host.includes(":") ? `[${l.host === "::" ? "::1" : l.host}]` : l.host === "0.0.0.0" ? "127.0.0.1" : l.host;
  return fetch(`http://${host}:${l.port}${path}`, { ...init, headers });
}

export async function fetchStatus(cfg: StatsConfig): Promise<Status> {
  const r = await call(cfg, "/status.json");
  if (!r.ok) throw new Error(`${cfg.listen.text}/status.json: ${r.status} ${(await r.text()).trim()}`);
  return (await r.json()) as Status;
}

const sum = (o: Record<string, number> | undefined) => Object.values(o ?? {}).reduce((a, b) => a + b, 0);

/**
 * The table: a line per service, then one per server of its backend (a
 * backend several services use: under the first, named by the others);
 * rates from the change since `before` over `seconds`.
 */
export function renderStatus(now: Status, before?: Status, seconds = 1): string {
  const rate = (a: number, b: number | undefined) => (b === undefined ? "-" : ((a - b) / seconds).toFixed(1));
  const rows: string[][] = [["SERVICE / SERVER", "STATE", "SESSIONS", "TOTAL", "PER S", "FAILURES", "WHY"]];
  for (const svc of now.services) {
    const prev = before?.services.find((s) => s.name === svc.name);
    const total = svc.responses ? sum(svc.responses) : svc.sessions_total;
    const prevTotal = prev ? (prev.responses ? sum(prev.responses) : prev.sessions_total) : undefined;
    const b = now.backends.find((x) => x.name === svc.backend);
    const servers = b?.servers ?? [];
    const up = servers.filter((s) => s.state === "up").length;
    const shown = now.services.findIndex((x) => x.backend === svc.backend) < now.services.indexOf(svc);
    const via = b?.declared ? `, backend ${b.name}` : "";
    rows.push([`${svc.name} (${svc.protocol}, ${svc.listen.join(" ")}${via})`, `${up}/${servers.length} up`, String(svc.sessions_current), String(total), rate(total, prevTotal), "", shown ? "servers: see above" : ""]);
    if (shown) continue;
    const pb = before?.backends.find((x) => x.name === svc.backend);
    for (const s of servers) {
      const p = pb?.servers.find((x) => x.name === s.name);
      rows.push([`  ${s.name}`, s.state, String(s.sessions_current), String(s.sessions_total), rate(s.sessions_total, p?.sessions_total), String(sum(s.failures)), s.cause ?? ""]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const head = `plb ${now.version}, up ${Math.round(now.uptime_seconds)} s`;
  return `${head}\n${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd()).join("\n")}\n`;
}

/** `plb status`: two looks a second apart (for the rates). */
export async function status(cfg: StatsConfig): Promise<ClientResult> {
  try {
    const a = await fetchStatus(cfg);
    await Bun.sleep(1000);
    const b = await fetchStatus(cfg);
    return { code: 0, text: renderStatus(b, a, 1) };
  } catch (err) {
    return { code: 2, text: `cannot read the status from ${cfg.listen.text}: ${(err as Error).message}` };
  }
}

/** `plb drain|maint|ready BACKEND SERVER`. */
export async function adminAction(cfg: StatsConfig, action: "drain" | "maint" | "ready", backend: string, server: string): Promise<ClientResult> {
  try {
    const r = await call(cfg, `/servers/${encodeURIComponent(backend)}/${encodeURIComponent(server)}/${action}`, { method: "POST" });
    const body = await r.text();
    if (r.ok) {
      const b = JSON.parse(body) as { server: string; admin: string; up: boolean };
      return { code: 0, text: `${b.server} of "${backend}": ${b.admin}${b.up ? ", taking connections" : ", no new connections"}` };
    }
    let why = body.trim();
    try {
      why = (JSON.parse(body) as { error?: string }).error ?? why;
    } catch {}
    return { code: r.status === 404 || r.status === 400 ? 1 : 2, text: `${action} refused (${r.status}): ${why}` };
  } catch (err) {
    return { code: 2, text: `cannot reach the stats listener on ${cfg.listen.text}: ${(err as Error).message}` };
  }
}
