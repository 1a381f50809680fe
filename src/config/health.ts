/**
 * The `health` key: active checks of every server, up or down, every
 * `interval` (rise / fall as HAProxy's). A pure validator: it takes the
 * table as written and the service's protocol, and returns a HealthConfig
 * or reports each problem with the sub-key it is about.
 *
 *   health = { path = "/healthz", interval = "2s", timeout = "1s", rise = 2, fall = 3, expect = "2xx", host = "api.example.com", reuse = true }
 *
 * Which sub-keys mean something depends on the protocol: http checks send
 * `GET path` (with `host`) and match `expect` against the status and body;
 * tcp checks connect, optionally `send` a string and `expect` one back;
 * smtp checks read the greeting, say EHLO and QUIT (no sub-keys of their own).
 * `grpc = true` (http, server_protocol = "h2"): the standard gRPC health
 * check, grpc.health.v1.Health/Check for `service` ("" by default: the
 * server as a whole), up when it answers SERVING.
 */
import { isIP } from "node:net";
import { isHostName } from "./address.ts";
import { describeValue } from "./describe.ts";
import { suggestion } from "./diagnostics.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import type { GrpcCheckConfig, HealthConfig, HttpCheckConfig, HttpExpect, TcpCheckConfig } from "./types.ts";

export type { GrpcCheckConfig, HealthConfig, HttpCheckConfig, HttpExpect, TcpCheckConfig };

/** Longest body read by an http check looking for `expect.body`. */
export const MAX_CHECK_BODY = 64 * 1024;

export const HEALTH_DEFAULTS = { interval: 2000, timeout: 1000, rise: 2, fall: 3, path: "/", reuse: true } as const;
/** 2xx and 3xx pass, as health_path's probe always required. */
export const DEFAULT_EXPECT: HttpExpect = { classes: [2, 3], codes: [], body: undefined };

const MAX_INTERVAL = 24 * 3_600_000;
const MAX_COUNT = 100;

/** Sub-keys, and the protocols each applies to (all when absent). */
const SUB_KEYS: Readonly<Record<string, readonly string[] | undefined>> = {
  interval: undefined,
  timeout: undefined,
  rise: undefined,
  fall: undefined,
  path: ["http"],
  host: ["http"],
  expect: ["http", "tcp"],
  send: ["tcp"],
  reuse: ["http"],
  grpc: ["http"],
  service: ["http"],
};
export const HEALTH_KEYS: readonly string[] = Object.keys(SUB_KEYS);

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);

/**
 * Check `v` (the value of `health`) for a service of `protocol`.
 * `healthPath`: the service's older `health_path`, the default `path`.
 * Each problem goes to `fail` as one message starting with "health…";
 * returns undefined when there was any.
 */
export function checkHealth(v: unknown, protocol: string, healthPath: string | undefined, fail: (message: string) => void): HealthConfig | undefined {
  if (!isTable(v)) {
    fail(`health must be a table { interval = "2s", rise = 2, fall = 3, … }, got ${describeValue(v)}`);
    return undefined;
  }
  let ok = true;
  const problem = (message: string): undefined => {
    ok = false;
    fail(message);
    return undefined;
  };
  for (const key of Object.keys(v)) {
    if (!Object.hasOwn(SUB_KEYS, key)) {
      problem(`health has unknown key ${JSON.stringify(key)}${suggestion(key, HEALTH_KEYS)} (valid: ${HEALTH_KEYS.join(", ")})`);
      continue;
    }
    const only = SUB_KEYS[key];
    if (only && !only.includes(protocol)) {
      problem(`health.${key} applies to protocol ${only.map((p) => JSON.stringify(p)).join(" or ")} only (this service is ${JSON.stringify(protocol)}${protocol === "smtp" ? ": its checks read the greeting, say EHLO and QUIT" : ""})`);
    }
  }
  const duration = (key: string, dflt: number): number | undefined => {
    if (!Object.hasOwn(v, key)) return dflt;
    const ms = parseDuration(v[key]);
    if (typeof ms === "string") return problem(`health.${key} ${ms}`);
    if (!(ms > 0)) return problem(`health.${key} must be greater than 0, got ${describeValue(v[key], false)}`);
    if (ms > MAX_INTERVAL) return problem(`health.${key} must be at most ${formatDuration(MAX_INTERVAL)}, got ${describeValue(v[key], false)}`);
    return ms;
  };
  const count = (key: string, dflt: number): number | undefined => {
    if (!Object.hasOwn(v, key)) return dflt;
    const n = v[key];
    if (typeof n !== "number" || !Number.isInteger(n)) return problem(`health.${key} must be an integer, got ${describeValue(n)}`);
    if (n < 1 || n > MAX_COUNT) return problem(`health.${key} must be between 1 and ${MAX_COUNT}, got ${n}`);
    return n;
  };
  const interval = duration("interval", HEALTH_DEFAULTS.interval);
  const timeout = duration("timeout", Math.min(HEALTH_DEFAULTS.timeout, interval ?? HEALTH_DEFAULTS.timeout));
  if (interval !== undefined && timeout !== undefined && timeout > interval) {
    problem(`health.timeout (${formatDuration(timeout)}) must not be longer than health.interval (${formatDuration(interval)}): one check per server at a time`);
  }
  const rise = count("rise", HEALTH_DEFAULTS.rise);
  const fall = count("fall", HEALTH_DEFAULTS.fall);
  let http: HttpCheckConfig | undefined;
  let tcp: TcpCheckConfig | undefined;
  let grpc: GrpcCheckConfig | undefined;
  if (protocol === "http" && Object.hasOwn(v, "grpc")) {
    if (typeof v.grpc !== "boolean") problem(`health.grpc must be true or false, got ${describeValue(v.grpc)}`);
    for (const k of ["path", "host", "expect", "reuse"]) if (v.grpc === true && Object.hasOwn(v, k)) problem(`health.${k} does not apply to health.grpc = true (the gRPC health check asks grpc.health.v1.Health/Check; name the service with health.service)`);
  }
  if (protocol === "http" && Object.hasOwn(v, "service")) {
    if (v.grpc !== true) problem("health.service names the gRPC service to check: it needs health.grpc = true");
    else if (typeof v.service !== "string" || v.service.length > 1000) problem(`health.service must be a gRPC service name ("" for the whole server), got ${describeValue(v.service)}`);
  }
  if (protocol === "http" && v.grpc === true) {
    grpc = { service: typeof v.service === "string" ? v.service : "" };
  } else if (protocol === "http") {
    if (Object.hasOwn(v, "path") && healthPath !== undefined) {
      problem("health.path and health_path are both set: keep health.path (health_path is the older key for the same path)");
    }
    const path = Object.hasOwn(v, "path") ? checkPath(v.path, problem) : (healthPath ?? HEALTH_DEFAULTS.path);
    const host = Object.hasOwn(v, "host") ? checkHost(v.host, problem) : undefined;
    const expect = Object.hasOwn(v, "expect") ? parseHttpExpect(v.expect, problem) : DEFAULT_EXPECT;
    let reuse: boolean | undefined = HEALTH_DEFAULTS.reuse;
    if (Object.hasOwn(v, "reuse")) {
      reuse = typeof v.reuse === "boolean" ? v.reuse : problem(`health.reuse must be true or false, got ${describeValue(v.reuse)}`);
      if (v.reuse === true && expect?.body !== undefined) problem("health.reuse = true cannot be combined with expect.body: a check looking for a body reads it to the close (HTTP/1.0)");
    }
    if (path !== undefined && expect !== undefined && reuse !== undefined) http = { path, host, expect, reuse: reuse && expect.body === undefined };
  } else if (protocol === "tcp") {
    const text = (key: string): string | undefined => {
      if (!Object.hasOwn(v, key)) return undefined;
      const s = v[key];
      if (typeof s !== "string" || s === "") return problem(`health.${key} must be a non-empty string, got ${describeValue(s)}${key === "expect" ? " (tcp checks look for a string in what the server sends)" : ""}`);
      return s;
    };
    tcp = { send: text("send"), expect: text("expect") };
  }
  if (!ok || interval === undefined || timeout === undefined || rise === undefined || fall === undefined) return undefined;
  return { interval, timeout, rise, fall, http, tcp, grpc };
}

function checkPath(p: unknown, problem: (m: string) => undefined): string | undefined {
  if (typeof p !== "string") return problem(`health.path must be a string, got ${describeValue(p)}`);
  if (!/^\/[\x21-\x7e]*$/.test(p) || p.includes("#")) return problem(`health.path must be a request path starting with "/" (no spaces or "#"), got ${JSON.stringify(p)}`);
  return p;
}

/** A Host field value: a name or IP literal ([v6] bracketed), with an optional port. */
function checkHost(h: unknown, problem: (m: string) => undefined): string | undefined {
  if (typeof h !== "string") return problem(`health.host must be a string, got ${describeValue(h)}`);
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(h);
  const name = m?.[1] ?? "";
  const port = m?.[2] === undefined ? 1 : Number(m[2]);
  const okName = name.startsWith("[") ? isIP(name.slice(1, -1)) === 6 : isIP(name) === 4 || isHostName(name);
  if (!m || !okName || port < 1 || port > 65535) {
    return problem(`health.host must be a host name or IP address with an optional port ("api.example.com", "10.0.0.2:8080", "[::1]:80"), got ${JSON.stringify(h)}`);
  }
  return h;
}

const CLASS_RE = /^([1-5])xx$/i;

/**
 * An http `expect`: "2xx", 204, ["2xx", 301], or { status = …, body = "ok" }
 * (status then defaults to 2xx and 3xx).
 */
export function parseHttpExpect(v: unknown, problem: (m: string) => undefined): HttpExpect | undefined {
  if (isTable(v)) {
    for (const k of Object.keys(v)) {
      if (k !== "status" && k !== "body") return problem(`health.expect has unknown key ${JSON.stringify(k)}${suggestion(k, ["status", "body"])} (expected status and body)`);
    }
    let body: string | undefined;
    if (Object.hasOwn(v, "body")) {
      if (typeof v.body !== "string" || v.body === "") return problem(`health.expect.body must be a non-empty string, got ${describeValue(v.body)}`);
      if (v.body.length > MAX_CHECK_BODY) return problem(`health.expect.body must be at most ${MAX_CHECK_BODY} characters`);
      body = v.body;
    }
    const status = Object.hasOwn(v, "status") ? parseStatuses(v.status, "health.expect.status", problem) : DEFAULT_EXPECT;
    return status && { classes: status.classes, codes: status.codes, body };
  }
  return parseStatuses(v, "health.expect", problem);
}

function parseStatuses(v: unknown, key: string, problem: (m: string) => undefined): HttpExpect | undefined {
  const items = Array.isArray(v) ? v : [v];
  if (items.length === 0) return problem(`${key} must not be empty: give a status class ("2xx") or codes ([200, 204])`);
  const classes: number[] = [];
  const codes: number[] = [];
  for (const item of items) {
    if (typeof item === "number" && Number.isInteger(item) && item >= 100 && item <= 599) codes.push(item);
    else if (typeof item === "string" && CLASS_RE.test(item)) classes.push(Number(item[0]));
    else if (typeof item === "string" && !Array.isArray(v) && key === "health.expect") {
      return problem(`health.expect: ${JSON.stringify(item)} is not a status class ("2xx") or code; for a body substring write expect = { body = ${JSON.stringify(item)} }`);
    } else return problem(`${key} must be a status class ("2xx"), a status code (100-599) or an array of them, got ${describeValue(item)}`);
  }
  return { classes, codes, body: undefined };
}
