/**
 * Access log lines, pure functions of the lifecycle events:
 * - http `combined`: exactly nginx's `log_format combined` ($remote_addr -
 *   $remote_user [$time_local] "$request" $status $body_bytes_sent
 *   "$http_referer" "$http_user_agent"), with nginx's escaping (\xHH), so
 *   every tool that reads nginx logs reads it;
 * - `json`: one object per line;
 * - `haproxy`: HAProxy's httplog (http) and tcplog (tcp, smtp) layouts.
 *
 * `combined` and `haproxy` encode straight into the writer's buffer
 * (line.ts: no string per request); `json` is JSON.stringify's string. Each
 * format is a `Format`: its encoder and the most bytes a line can take.
 * `render` gives a line as a string (tests, and nothing on the hot path).
 */
import type { EndCause, RequestEvent, SessionEndEvent } from "../events.ts";
import { headBound, LineEncoder, textBound } from "./line.ts";

export interface Format<T> {
  /** Most bytes the line of `e` takes; called right before `encode(…, e)`. */
  bound(e: T): number;
  /** Write the line (with its newline) at `out.pos`. */
  encode(out: LineEncoder, e: T): void;
}

/** A line made as a string (json), written as UTF-8: made once, in `bound`. */
export function stringFormat<T>(line: (e: T) => string): Format<T> {
  let made = "";
  return {
    bound(e) {
      made = line(e);
      return made.length * 3;
    },
    encode(out) {
      out.text(made);
      made = "";
    },
  };
}

/** The line of `e` as a string (tests; the writer encodes into its buffer). */
export function render<T>(f: Format<T>, e: T): string {
  const out = new LineEncoder(new Uint8Array(f.bound(e)));
  f.encode(out, e);
  return Buffer.from(out.buf.buffer, 0, out.pos).toString("utf8");
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

let lastSecond = -1;
let lastDate = "";

/** 01/Dec/2026:12:30:45 of `ms` (UTC; nginx's $time_local adds " +0000"), made once per second. */
function dateOf(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === lastSecond) return lastDate;
  const d = new Date(ms);
  lastSecond = second;
  lastDate = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return lastDate;
}

/** The status to log: what was answered, or nginx's 499 when the client left before an answer. */
function loggedStatus(e: RequestEvent): number {
  return e.status !== 0 ? e.status : 499;
}

const SP = 0x20, QUOTE = 0x22, SLASH = 0x2f, COLON = 0x3a, LF = 0x0a;

/** The request line as logged, escaped ("GET /a HTTP/1.1"; "-" or `none` when there was none). */
function requestLine(out: LineEncoder, e: RequestEvent, none: string): void {
  if (e.method === "") return out.text(none);
  out.escaped(e.method);
  out.byte(SP);
  out.escaped(e.target);
  out.byte(SP);
  out.text(e.version);
}

const requestBound = (e: RequestEvent) => headBound(e.method) + headBound(e.target) + 16;

export const combined: Format<RequestEvent> = {
  encode(out, e) {
    out.text(e.client);
    out.text(" - - [");
    out.text(dateOf(e.start));
    out.text(' +0000] "');
    requestLine(out, e, "-");
    out.text('" ');
    out.int(loggedStatus(e));
    out.byte(SP);
    out.int(e.bodyBytesOut);
    out.text(' "');
    out.escapedOrDash(e.referer);
    out.text('" "');
    out.escapedOrDash(e.userAgent);
    out.byte(QUOTE);
    out.byte(LF);
  },
  bound: (e) => 128 + textBound(e.client) + requestBound(e) + headBound(e.referer) + headBound(e.userAgent),
};

const ms = (v: number) => (v < 0 ? -1 : Math.round(v * 1000) / 1000);

function requestJsonLine(e: RequestEvent): string {
  return `${JSON.stringify({
    time: new Date(e.start).toISOString(),
    service: e.service,
    client: e.client,
    client_port: e.clientPort,
    backend: e.backend ?? null,
    server: e.server ?? null,
    ...(e.requestId !== "" ? { request_id: e.requestId } : {}),
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

function sessionJsonLine(e: SessionEndEvent): string {
  return `${JSON.stringify({
    time: new Date(e.start).toISOString(),
    service: e.service,
    protocol: e.protocol,
    client: e.client,
    client_port: e.clientPort,
    backend: e.backend ?? null,
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

/** HAProxy's date: 01/Dec/2026:12:30:45.123. */
function haproxyTime(out: LineEncoder, ms: number): void {
  out.text(dateOf(ms));
  out.byte(0x2e);
  out.padded(((ms % 1000) + 1000) % 1000, 3);
}

/** HAProxy's timer: whole ms, -1 for none. */
const timer = (out: LineEncoder, v: number) => out.int(v < 0 ? -1 : v);

/** client:port [date] frontend backend/server (the start of both layouts). */
function haproxyStart(out: LineEncoder, e: RequestEvent | SessionEndEvent): void {
  out.text(e.client);
  out.byte(COLON);
  out.int(e.clientPort);
  out.text(" [");
  haproxyTime(out, e.start);
  out.text("] ");
  out.text(e.service);
  out.byte(SP);
  // HAProxy's backend: the one that took it (the service's name when none did).
  out.text(e.backend ?? e.service);
  out.byte(SLASH);
  out.text(e.server ?? "<NOSRV>");
  out.byte(SP);
}

const startBound = (e: RequestEvent | SessionEndEvent) => 64 + textBound(e.client) + textBound(e.service) + textBound(e.backend ?? e.service) + textBound(e.server ?? "");

/** httplog: client:port [date] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes - - ts-- ac/fc/bc/sc/rc sq/bq "request". */
export const httplog: Format<RequestEvent> = {
  encode(out, e) {
    haproxyStart(out, e);
    out.text("0/0/");
    timer(out, e.connectMs);
    out.byte(SLASH);
    timer(out, e.ttfbMs >= 0 && e.connectMs >= 0 ? e.ttfbMs - e.connectMs : e.ttfbMs);
    out.byte(SLASH);
    timer(out, e.totalMs);
    out.byte(SP);
    out.int(loggedStatus(e));
    out.byte(SP);
    out.int(e.bytesOut);
    out.text(" - - ");
    out.text(TERMINATION[e.cause]);
    out.text("-- 0/0/0/0/");
    out.int(e.retries);
    out.text(' 0/0 "');
    requestLine(out, e, "<BADREQ>");
    out.byte(QUOTE);
    out.byte(LF);
  },
  bound: (e) => 128 + startBound(e) + requestBound(e),
};

/**
 * tcplog: client:port [date] frontend backend/server Tw/Tc/Tt bytes ts ac/fc/bc/sc/rc sq/bq;
 * an smtp session adds its greeting outcome last ("greeting=ok", "greeting=bad-greeting"), where
 * tools that read tcplog by position (halog) do not look.
 */
export const tcplog: Format<SessionEndEvent> = {
  encode(out, e) {
    haproxyStart(out, e);
    out.text("0/0/");
    timer(out, e.durationMs);
    out.byte(SP);
    out.int(e.bytesOut);
    out.byte(SP);
    out.text(TERMINATION[e.cause]);
    out.text(" 0/0/0/0/");
    out.int(Math.max(0, e.tried - 1));
    out.text(" 0/0");
    if (e.protocol === "smtp") {
      out.text(" greeting=");
      out.text(e.handshake ?? "none");
    }
    out.byte(LF);
  },
  bound: (e) => 128 + startBound(e),
};

export const requestJson: Format<RequestEvent> = stringFormat(requestJsonLine);
export const sessionJson: Format<SessionEndEvent> = stringFormat(sessionJsonLine);
