/**
 * Real HTTP/2 clients for the h2 end-to-end tests, each a child process
 * bounded in time: curl (--http2 over TLS with ALPN, --http2-prior-knowledge
 * for h2c), nghttp (-nv: the frames it saw), h2load (requests succeeded and
 * failed, req/s, latency percentiles from its per-request log), and
 * h2_client.py (Debian's /usr/bin/python3 with hpack): a raw-frame client
 * that sends what conforming clients never do and reports what came back.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Killed by the time limit. */
  readonly killed: boolean;
  /** CPU seconds (user + system) the process used. */
  readonly cpuSeconds: number;
}

/** Run `cmd` (stdin `input`), SIGKILLed after `ms`. */
export async function run(cmd: string[], ms: number, input?: string): Promise<Run> {
  const p = Bun.spawn(cmd, { stdin: input === undefined ? "ignore" : new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe" });
  let killed = false;
  const t = setTimeout(() => {
    killed = true;
    p.kill("SIGKILL");
  }, ms);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(t);
  const cpuSeconds = Number(p.resourceUsage()?.cpuTime.total ?? 0n) / 1e6;
  return { code, stdout, stderr, killed, cpuSeconds };
}

function scratch(): string {
  return mkdtempSync(join(tmpdir(), "plb-h2-peer-"));
}

// ---------------------------------------------------------------- curl

export interface CurlH2Options {
  /** h2c without upgrade (http:// URLs); default: --http2 (ALPN over TLS). */
  priorKnowledge?: boolean;
  /** Trust only this CA; without it the certificate is not checked (-k). */
  ca?: string;
  /** "Name: value" lines (-H). */
  headers?: string[];
  method?: string;
  /** Request body (--data-binary). */
  body?: string;
  /** --resolve / --connect-to entries ("name:port:127.0.0.1"). */
  resolve?: string[];
  maxSeconds?: number;
}

export interface CurlH2Result extends Run {
  /** The final response's status (0: none). */
  readonly status: number;
  /** curl's %{http_version}: "2" for HTTP/2, "1.1", or "0" when nothing came back. */
  readonly httpVersion: string;
  /** The final response's fields, names lowercased, in order. */
  readonly headers: [string, string][];
  readonly body: string;
}

/** One request with curl over HTTP/2. */
export async function curlH2(url: string, o: CurlH2Options = {}): Promise<CurlH2Result> {
  const dir = scratch();
  try {
    const max = o.maxSeconds ?? 10;
    const cmd = ["curl", "-sS", "--max-time", String(max), o.priorKnowledge ? "--http2-prior-knowledge" : "--http2"];
    cmd.push(...(o.ca ? ["--cacert", o.ca] : ["-k"]));
    for (const h of o.headers ?? []) cmd.push("-H", h);
    for (const r of o.resolve ?? []) cmd.push("--resolve", r);
    if (o.method) cmd.push("-X", o.method);
    if (o.body !== undefined) {
      writeFileSync(join(dir, "body-out"), o.body);
      cmd.push("--data-binary", `@${join(dir, "body-out")}`);
    }
    cmd.push("-D", join(dir, "head"), "-o", join(dir, "body"), "-w", "%{http_version} %{response_code}", url);
    const r = await run(cmd, (max + 5) * 1000);
    const [httpVersion = "0", status = "0"] = r.stdout.trim().split(" ");
    const read = (f: string) => {
      try {
        return readFileSync(join(dir, f), "latin1");
      } catch {
        return "";
      }
    };
    // The last block of the head file is the final response (after any 1xx).
    const blocks = read("head").split(/\r?\n\r?\n/).filter((b) => b.trim() !== "");
    const headers = (blocks.at(-1) ?? "")
      .split(/\r?\n/)
      .slice(1)
      .map((l) => {
        const i = l.indexOf(":");
        return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as [string, string];
      });
    return { ...r, status: Number(status), httpVersion, headers, body: read("body") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- nghttp

export interface NghttpOptions {
  /** "name: value" (-H). */
  headers?: string[];
  /** Request body (-d, sent as POST). */
  body?: string;
  /** h2c by HTTP/1.1 Upgrade (-u) instead of prior knowledge (http:// URLs). */
  upgrade?: boolean;
  /** Send the request this many times on the connection (-m). */
  multiply?: number;
  timeoutSeconds?: number;
}

export interface NghttpResult extends Run {
  /** "The negotiated protocol" over TLS (undefined for h2c). */
  readonly alpn?: string;
  /** :status of the first response, 0 if none. */
  readonly status: number;
  /** Every received response field of the first stream, in order (:status included). */
  readonly headers: [string, string][];
  /** Frames received / sent, by type ("SETTINGS", "HEADERS", "DATA", …). */
  readonly received: Record<string, number>;
  readonly sent: Record<string, number>;
  /** Bytes of DATA payload received. */
  readonly dataLength: number;
  /** Responses with a :status. */
  readonly responses: number;
  readonly goaway?: { readonly by: "send" | "recv"; readonly lastStreamId: number; readonly error: string };
  readonly resets: { readonly by: "send" | "recv"; readonly stream: number; readonly error: string }[];
}

/** One request (or -m N) with nghttp -nv; the frames seen, parsed from its verbose output. */
export async function nghttp(url: string, o: NghttpOptions = {}): Promise<NghttpResult> {
  const dir = scratch();
  try {
    const t = o.timeoutSeconds ?? 10;
    const cmd = ["nghttp", "-nv", "-y", `--timeout=${t}`];
    for (const h of o.headers ?? []) cmd.push("-H", h);
    if (o.body !== undefined) {
      writeFileSync(join(dir, "body"), o.body);
      cmd.push("-d", join(dir, "body"));
    }
    if (o.upgrade) cmd.push("-u");
    if (o.multiply) cmd.push("-m", String(o.multiply));
    cmd.push(url);
    const r = await run(cmd, (t + 5) * 1000);
    return { ...r, ...parseNghttp(r.stdout) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What nghttp -v printed: frames by direction and type, the first stream's fields, GOAWAY and RST_STREAM. */
export function parseNghttp(out: string): Omit<NghttpResult, keyof Run> {
  const received: Record<string, number> = {};
  const sent: Record<string, number> = {};
  const headers: [string, string][] = [];
  const resets: NghttpResult["resets"][number][] = [];
  let goaway: NghttpResult["goaway"];
  let dataLength = 0;
  let responses = 0;
  let first: number | undefined;
  const lines = out.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const f = /\] (send|recv) (\w+) frame <length=(\d+), flags=0x[0-9a-f]+, stream_id=(\d+)>/.exec(l);
    if (f) {
      const [, by, type, length, stream] = f;
      (by === "send" ? sent : received)[type] = ((by === "send" ? sent : received)[type] ?? 0) + 1;
      if (by === "recv" && type === "DATA") dataLength += Number(length);
      const detail = lines[i + 1] ?? "";
      if (type === "GOAWAY") {
        const g = /last_stream_id=(\d+), error_code=(\w+)/.exec(detail);
        if (g) goaway = { by: by as "send" | "recv", lastStreamId: Number(g[1]), error: g[2] };
      }
      if (type === "RST_STREAM") {
        const e = /error_code=(\w+)/.exec(detail);
        resets.push({ by: by as "send" | "recv", stream: Number(stream), error: e?.[1] ?? "?" });
      }
      continue;
    }
    const h = /\] recv \(stream_id=(\d+)\) ([^:\s][^:]*|:[^:]+): (.*)$/.exec(l);
    if (h) {
      const stream = Number(h[1]);
      if (h[2] === ":status") responses++;
      first ??= stream;
      if (stream === first) headers.push([h[2], h[3]]);
    }
  }
  const status = Number(headers.find(([n]) => n === ":status")?.[1] ?? 0);
  const alpn = /The negotiated protocol: (\S+)/.exec(out)?.[1];
  return { alpn, status, headers, received, sent, dataLength, responses, goaway, resets };
}

// ---------------------------------------------------------------- h2load

export interface H2loadOptions {
  /** -n (default 100), or a duration in seconds (-D) instead. */
  requests?: number;
  duration?: number;
  /** --warm-up-time in seconds (with duration). */
  warmUp?: number;
  /** -c clients (1) and -m streams per connection (1); -t threads (1). */
  clients?: number;
  streams?: number;
  threads?: number;
  headers?: string[];
  /** A file sent as every request's body (-d: POST). */
  data?: string;
  /** Run under this command (["taskset", "-c", "1"], ["nice", "-n", "-10"]). */
  prefix?: string[];
  /** The kill timer (default: duration or 30 s, plus 15 s). */
  limitSeconds?: number;
}

export interface H2loadResult extends Run {
  /** "Application protocol:" (h2 over TLS; h2c for http://). */
  readonly protocol?: string;
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly errored: number;
  readonly timeout: number;
  readonly status2xx: number;
  /** Responses with a 3xx, 4xx or 5xx status. */
  readonly statusOther: number;
  /** h2load's own "finished in Xs, N req/s". */
  readonly reqPerSec: number;
  readonly seconds: number;
  /** Bytes of DATA payload received ("traffic: … (N) data"). */
  readonly dataBytes: number;
  /** Request times from --log-file (ms), over the requests logged. */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** h2load against `url`, its per-request log read for percentiles. */
export async function h2load(url: string, o: H2loadOptions = {}): Promise<H2loadResult> {
  const dir = scratch();
  try {
    const logFile = join(dir, "requests.log");
    const cmd = [...(o.prefix ?? []), "h2load", "-c", String(o.clients ?? 1), "-m", String(o.streams ?? 1), "-t", String(o.threads ?? 1), `--log-file=${logFile}`];
    if (o.duration !== undefined) cmd.push("-D", String(o.duration), ...(o.warmUp ? [`--warm-up-time=${o.warmUp}`] : []));
    else cmd.push("-n", String(o.requests ?? 100));
    for (const h of o.headers ?? []) cmd.push("-H", h);
    if (o.data !== undefined) cmd.push("-d", o.data);
    cmd.push(url);
    const r = await run(cmd, ((o.limitSeconds ?? (o.duration ?? 30) + (o.warmUp ?? 0)) + 15) * 1000);
    let times: number[] = [];
    try {
      times = readFileSync(logFile, "utf8")
        .split("\n")
        .filter((l) => l)
        .map((l) => Number(l.split("\t")[2]) / 1000)
        .filter((n) => Number.isFinite(n))
        .sort((a, b) => a - b);
    } catch {}
    const at = (q: number) => (times.length ? times[Math.min(times.length - 1, Math.floor(q * times.length))] : NaN);
    return { ...r, ...parseH2load(r.stdout), p50Ms: at(0.5), p99Ms: at(0.99) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The counters of h2load's summary. */
export function parseH2load(out: string): Omit<H2loadResult, keyof Run | "p50Ms" | "p99Ms"> {
  const n = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  const fin = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/.exec(out);
  return {
    protocol: /Application protocol: (\S+)/.exec(out)?.[1],
    total: n(/requests: (\d+) total/),
    succeeded: n(/(\d+) succeeded/),
    failed: n(/(\d+) failed/),
    errored: n(/(\d+) errored/),
    timeout: n(/(\d+) timeout/),
    status2xx: n(/status codes: (\d+) 2xx/),
    statusOther: n(/(\d+) 3xx/) + n(/(\d+) 4xx/) + n(/(\d+) 5xx/),
    reqPerSec: fin ? Number(fin[3]) : NaN,
    seconds: fin ? Number(fin[1]) / (fin[2] === "ms" ? 1000 : 1) : NaN,
    dataBytes: n(/\((\d+)\) data/),
  };
}

// ---------------------------------------------------------------- the raw-frame client

/** A header list as pairs, names and values as sent (latin1). */
export type Fields = [string, string][];

export type Step =
  | { op: "request"; stream?: number; headers?: Fields; add?: Fields; method?: string; path?: string; authority?: string; body?: string; body_size?: number; trailers?: Fields; end_stream?: boolean; ignore_flow_control?: boolean; ms?: number }
  | { op: "headers"; stream?: number; headers: Fields; end_stream?: boolean; end_headers?: boolean }
  | { op: "data"; stream?: number; data?: string; size?: number; end_stream?: boolean; ignore_flow_control?: boolean; ms?: number }
  | { op: "rst"; stream?: number; code?: number }
  | { op: "window_update"; stream?: number; increment: number }
  | { op: "settings"; settings: Record<string, number> }
  | { op: "settings_flood"; count: number }
  | { op: "ping"; count: number }
  | { op: "continuation"; stream?: number; headers?: Fields; count: number; fragment?: number; end_headers?: boolean; end_stream?: boolean }
  | { op: "frame"; type: number; flags?: number; stream?: number; payload?: string }
  | { op: "bytes"; hex: string }
  | { op: "flood"; type: number; flags?: number; stream?: number; payload?: string; count: number }
  | { op: "open_streams"; count: number; path?: string; method?: string; end_stream?: boolean; rst?: number }
  | { op: "hpack_bomb"; value_size?: number; refs?: number; streams?: number; path?: string }
  | { op: "stop_reading" }
  | { op: "start_reading" }
  | { op: "wait"; until: "response" | "end" | "data" | "reset" | "goaway" | "closed" | "settings" | "ping_acks"; stream?: number; count?: number; ms?: number }
  | { op: "sleep"; ms: number }
  | { op: "close" };

export interface Scenario {
  host?: string;
  port: number;
  tls?: boolean;
  sni?: string;
  /** Verify the server's certificate against this CA (none: not checked). */
  ca?: string;
  alpn?: string[];
  /** Our SETTINGS in the preface, by name ("INITIAL_WINDOW_SIZE") or number. */
  settings?: Record<string, number>;
  /** Send the preface and SETTINGS first (default true). */
  preface?: boolean;
  auto?: { settings_ack?: boolean; ping_ack?: boolean; window_update?: boolean };
  /** The whole run (default 10 s). */
  timeout_ms?: number;
  /** Default: one GET, waiting for its end. */
  steps?: Step[];
}

export interface StreamSeen {
  status: number | null;
  headers: Fields | null;
  informational: number[];
  data_length: number;
  trailers: Fields | null;
  /** RST_STREAM error code received, or null. */
  reset: number | null;
  ended: boolean;
}

export interface Summary {
  alpn: string | null;
  streams: Record<string, StreamSeen>;
  goaway: { last_stream_id: number; code: number; error: string; debug: string } | null;
  closed: boolean;
  frames: Record<string, number>;
  ping_acks: number;
  settings_acks: number;
  server_settings: Record<string, number>;
  write_error: string | null;
  elapsed_ms: number;
}

export type Event = { event: string } & Record<string, unknown>;

export interface H2ClientResult {
  readonly events: Event[];
  readonly summary: Summary;
  readonly stderr: string;
}

export const H2_CLIENT = join(import.meta.dir, "h2_client.py");
/** Debian's python3: it sees the python3-hpack package (a pyenv python3 on PATH would not). */
export const DEBIAN_PYTHON = "/usr/bin/python3";

/** Run one scenario with h2_client.py; throws if it gave no summary. */
export async function h2Client(s: Scenario): Promise<H2ClientResult> {
  const scenario = { host: "127.0.0.1", ...s };
  const r = await run([DEBIAN_PYTHON, H2_CLIENT], (s.timeout_ms ?? 10_000) + 10_000, JSON.stringify(scenario));
  const events = r.stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Event);
  const last = events.at(-1);
  if (last?.event !== "summary") throw new Error(`h2_client.py gave no summary (exit ${r.code}${r.killed ? ", killed" : ""}):\n${r.stdout}${r.stderr}`);
  return { events: events.slice(0, -1), summary: last as unknown as Summary, stderr: r.stderr };
}
