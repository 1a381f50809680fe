/**
 * Access log lines, pure functions of the lifecycle events:
 * - http `combined`: exactly nginx's `log_format combined` ($remote_addr -
 *   $remote_user [$time_local] "$request" $status $body_bytes_sent
 *   "$http_referer" "$http_user_agent"), with nginx's escaping (\xHH), so
 *   every tool that reads nginx logs reads it;
 * - `json`: one object per line;
 * - `haproxy`: HAProxy's httplog (http) and tcplog (tcp, smtp) layouts.
 */
import type { EndCause, RequestEvent, SessionEndEvent } from "../events.ts";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

let lastSecond = -1;
let lastText = "";

/** nginx's $time_local, in UTC: 01/Dec/2026:12:30:45 +0000 (made once per second). */
export function timeLocal(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === lastSecond) return lastText;
  const d = new Date(ms);
  lastSecond = second;
  lastText = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
  return lastText;
}

/** HAProxy's date: 01/Dec/2026:12:30:45.123. */
function haproxyTime(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/** nginx's escaping of logged variables: `"`, `\`, control bytes and bytes above 0x7e as \xHH. */
const NEEDS_ESCAPE = /[\x00-\x1f"\\\x7f-\uffff]/;

export function escapeNginx(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c ? `\\x${c.toString(16).toUpperCase().padStart(2, "0")}` : s[i];
  }
  return out;
}

const dash = (s: string) => (s === "" ? "-" : escapeNginx(s));

/** The status to log: what was answered, or nginx's 499 when the client left before an answer. */
function loggedStatus(e: RequestEvent): number {
  return e.status !== 0 ? e.status : 499;
}

export function combined(e: RequestEvent): string {
  const request = e.method === "" ? "-" : escapeNginx(`${e.method} ${e.target} ${e.version}`);
  return `${e.client} - - [${timeLocal(e.start)}] "${request}" ${loggedStatus(e)} ${e.bodyBytesOut} "${dash(e.referer)}" "${dash(e.userAgent)}"\n`;
}

const ms = (v: number) => (v < 0 ? -1 : Math.round(v * 1000) / 1000);

export function requestJson(e: RequestEvent): string {
  return `${JSON.stringify({
    time: new Date(e.start).toISOString(),
    service: e.service,
    client: e.client,
    client_port: e.clientPort,
    server: e.server ?? null,
    method: e.method,
    path: e.target,
    protocol: e.version,
    host: e.host,
    status: e.status,
    bytes_in: e.bytesIn,
    bytes_out: e.bytesOut,
    connect_ms: ms(e.connectMs),
    ttfb_ms: ms(e.ttfbMs),
    total_ms: ms(e.totalMs),
    retries: e.retries,
    cause: e.cause,
    referer: e.referer,
    user_agent: e.userAgent,
  })}\n`;
}

export function sessionJson(e: SessionEndEvent): string {
  return `${JSON.stringify({
    time: new Date(e.start).toISOString(),
    service: e.service,
    protocol: e.protocol,
    client: e.client,
    client_port: e.clientPort,
    server: e.server ?? null,
    duration_ms: e.durationMs,
    bytes_in: e.bytesIn,
    bytes_out: e.bytesOut,
    cause: e.cause,
    tried: e.tried,
    ...(e.handshake === undefined ? {} : { greeting: e.handshake, greeting_detail: e.handshakeDetail }),
  })}\n`;
}

/** HAProxy's two-letter termination state (who ended it, and in which phase). */
const TERMINATION: Record<EndCause, string> = {
  done: "--",
  client_closed: "CD",
  server_closed: "SD",
  server_reset: "SD",
  client_reset: "CD",
  timeout: "cD",
  no_server: "SC",
  shutdown: "KD",
  refused: "PR",
};

const t = (v: number) => (v < 0 ? -1 : Math.round(v));

/** httplog: client:port [date] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes - - ts-- ac/fc/bc/sc/rc sq/bq "request". */
export function httplog(e: RequestEvent): string {
  const tr = e.ttfbMs >= 0 && e.connectMs >= 0 ? e.ttfbMs - e.connectMs : e.ttfbMs;
  const request = e.method === "" ? "<BADREQ>" : `${e.method} ${e.target} ${e.version}`;
  return `${e.client}:${e.clientPort} [${haproxyTime(e.start)}] ${e.service} ${e.service}/${e.server ?? "<NOSRV>"} 0/0/${t(e.connectMs)}/${t(tr)}/${t(e.totalMs)} ${loggedStatus(e)} ${e.bytesOut} - - ${TERMINATION[e.cause]}-- 0/0/0/0/${e.retries} 0/0 "${escapeNginx(request)}"\n`;
}

/**
 * tcplog: client:port [date] frontend backend/server Tw/Tc/Tt bytes ts ac/fc/bc/sc/rc sq/bq;
 * an smtp session adds its greeting outcome last ("greeting=ok", "greeting=bad-greeting"), where
 * tools that read tcplog by position (halog) do not look.
 */
export function tcplog(e: SessionEndEvent): string {
  const retries = Math.max(0, e.tried - 1);
  const greeting = e.protocol === "smtp" ? ` greeting=${e.handshake ?? "none"}` : "";
  return `${e.client}:${e.clientPort} [${haproxyTime(e.start)}] ${e.service} ${e.service}/${e.server ?? "<NOSRV>"} 0/0/${t(e.durationMs)} ${e.bytesOut} ${TERMINATION[e.cause]} 0/0/0/0/${retries} 0/0${greeting}\n`;
}
