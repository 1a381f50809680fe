/**
 * Checks one scalar value against its schema entry. Messages start with the
 * key name: `server_retry must be an integer, got string "three"`.
 */
import { availableParallelism } from "node:os";
import { algorithms } from "../balance/index.ts";
import { parseLogLevel } from "../log.ts";
import { PROTOCOL_NAMES } from "../protocol-names.ts";
import { parseNameserver } from "./address.ts";
import { describeValue } from "./describe.ts";
import { suggestion } from "./diagnostics.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import type { KeyDef } from "./schema.ts";
import { checkServerTls } from "./server-tls.ts";
import { checkListenTls } from "../tls/settings.ts";

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const fail = (error: string): Checked<never> => ({ ok: false, error });

export const ACCESS_LOG_FORMATS = ["combined", "json", "haproxy"] as const;

/** Most worker processes (a machine with more cores than this gains little from more). */
export const MAX_WORKERS = 64;

export const NAME_RE = /^[A-Za-z0-9_.-]+$/;
export const SUPPORTED_PROTOCOLS: readonly string[] = PROTOCOL_NAMES;
export const PLANNED_PROTOCOLS: readonly string[] = [];
/** Statuses plb's http mode answers itself (error_pages may replace their bodies). */
export const ERROR_STATUSES: readonly number[] = [400, 408, 413, 414, 431, 501, 502, 503, 504, 505];

/** The value of `def` from `v`, converted (durations to ms, loglevel to a name). */
export function checkValue(def: KeyDef, v: unknown): Checked<unknown> {
  const k = def.name;
  const t = def.type;
  switch (t.kind) {
    case "string": {
      if (typeof v !== "string") return fail(`${k} must be a string, got ${describeValue(v)}`);
      if (v === "") return fail(`${k} must not be empty`);
      if (t.absolute && !v.startsWith("/")) return fail(`${k} must be an absolute path, got ${JSON.stringify(v)}`);
      return ok(v);
    }
    case "integer": {
      const isInt = (typeof v === "number" && Number.isInteger(v)) || typeof v === "bigint";
      if (!isInt) return fail(`${k} must be an integer, got ${describeValue(v)}`);
      if (typeof v === "bigint" || (v as number) < t.min || (v as number) > t.max) {
        const hint = def.rangeHint ? ` (${def.rangeHint})` : "";
        // The parser returns a bigint (not always the written value) past 2^53.
        const got = typeof v === "bigint" ? "an integer too large to represent" : String(v);
        return fail(`${k} must be between ${t.min} and ${t.max}, got ${got}${hint}`);
      }
      return ok(v);
    }
    case "boolean":
      if (typeof v === "boolean" || (typeof v === "string" && t.also?.includes(v))) return ok(v);
      return fail(`${k} must be true or false${t.also ? t.also.map((w) => ` or ${JSON.stringify(w)}`).join("") : ""}, got ${describeValue(v)}`);
    case "urlpath":
      if (typeof v !== "string") return fail(`${k} must be a string, got ${describeValue(v)}`);
      if (!/^\/[\x21-\x7e]*$/.test(v) || v.includes("#")) return fail(`${k} must be a request path starting with "/" (no spaces or "#"), got ${JSON.stringify(v)}`);
      return ok(v);
    case "tls":
      return checkListenTls(k, v);
    case "servertls":
      return checkServerTls(k, v);
    case "errorpages": {
      if (v === null || typeof v !== "object" || Array.isArray(v)) return fail(`${k} must be a table { 503 = "file.html" }, got ${describeValue(v)}`);
      const pages: Record<number, string> = {};
      for (const [status, file] of Object.entries(v as Record<string, unknown>)) {
        if (!ERROR_STATUSES.includes(Number(status))) return fail(`${k}: ${JSON.stringify(status)} is not a status plb answers itself (${ERROR_STATUSES.join(", ")})`);
        if (typeof file !== "string" || file === "") return fail(`${k}.${status} must be a file path, got ${describeValue(file)}`);
        pages[Number(status)] = file;
      }
      return ok(pages);
    }
    case "enum":
      return typeof v === "string" && t.values.includes(v)
        ? ok(v)
        : fail(`${k} must be one of ${t.values.map((x) => JSON.stringify(x)).join(", ")}, got ${describeValue(v)}`);
    case "duration": {
      const ms = parseDuration(v);
      if (typeof ms === "string") return fail(`${k} ${ms}`);
      if (ms < t.min) {
        const bound = t.min === 1 ? "greater than 0" : `at least ${formatDuration(t.min)}`;
        return fail(`${k} must be ${bound}, got ${describeValue(v, false)}`);
      }
      if (ms > t.max) return fail(`${k} must be at most ${formatDuration(t.max)}, got ${describeValue(v, false)}`);
      return ok(ms);
    }
    case "accesslog": {
      if (v === null || typeof v !== "object" || Array.isArray(v)) return fail(`${k} must be a table { path = "/var/log/plb/web.log", format = "combined" }, got ${describeValue(v)}`);
      const t2 = v as Record<string, unknown>;
      const extra = Object.keys(t2).filter((x) => x !== "path" && x !== "format");
      if (extra.length) return fail(`${k} has unknown key ${JSON.stringify(extra[0])} (expected path and format)`);
      if (typeof t2.path !== "string" || t2.path === "") return fail(`${k}.path must be a file path or "-" (standard error), got ${describeValue(t2.path)}`);
      if (t2.format !== undefined && !(ACCESS_LOG_FORMATS as readonly unknown[]).includes(t2.format)) {
        return fail(`${k}.format must be one of ${ACCESS_LOG_FORMATS.map((f) => JSON.stringify(f)).join(", ")}, got ${describeValue(t2.format)}`);
      }
      return ok({ path: t2.path, format: t2.format as string | undefined });
    }
    case "workers": {
      if (v === "auto") return ok(Math.max(1, Math.min(MAX_WORKERS, availableParallelism())));
      if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > MAX_WORKERS) {
        return fail(`${k} must be an integer from 1 to ${MAX_WORKERS} or "auto" (one per core), got ${describeValue(v)}`);
      }
      return ok(v);
    }
    case "loglevel": {
      const level = typeof v === "string" || typeof v === "number" ? parseLogLevel(v) : undefined;
      if (level === undefined || (typeof v === "number" && !Number.isInteger(v))) {
        return fail(`${k} must be one of error, warn, info, debug (or 0-4), got ${describeValue(v)}`);
      }
      return ok(level);
    }
    case "name": {
      if (typeof v !== "string") return fail(`${k} must be a string, got ${describeValue(v)}`);
      if (v === "") return fail(`${k} must not be empty`);
      if (!NAME_RE.test(v)) return fail(`${k} may only contain letters, digits, "_", "." and "-", got ${JSON.stringify(v)}`);
      return ok(v);
    }
    case "protocol": {
      if (typeof v !== "string") return fail(`${k} must be a string, got ${describeValue(v)}`);
      if (SUPPORTED_PROTOCOLS.includes(v)) return ok(v);
      if (PLANNED_PROTOCOLS.includes(v)) return fail(`protocol ${JSON.stringify(v)} is not supported yet`);
      return fail(`unknown protocol ${JSON.stringify(v)}${suggestion(v, SUPPORTED_PROTOCOLS)} (valid: ${SUPPORTED_PROTOCOLS.join(", ")})`);
    }
    case "balance": {
      if (typeof v !== "string") return fail(`${k} must be a string, got ${describeValue(v)}`);
      const names = algorithms.map((a) => a.name);
      if (names.includes(v)) return ok(v);
      const valid = names.length > 0 ? `valid: ${names.join(", ")}` : "no algorithms are registered";
      return fail(`balance ${JSON.stringify(v)} is not a known algorithm${suggestion(v, names)} (${valid})`);
    }
    case "nameservers": {
      if (!Array.isArray(v)) return fail(`${k} must be an array of addresses, got ${describeValue(v)}${typeof v === "string" ? ` (write ${k} = [${JSON.stringify(v)}])` : ""}`);
      if (v.length === 0) return fail(`${k} must not be empty (leave it out to use /etc/resolv.conf's)`);
      for (const [j, item] of v.entries()) {
        const ns = parseNameserver(item);
        if (typeof ns === "string") return fail(`${k}[${j}]: ${ns}`);
      }
      return ok([...v] as string[]);
    }
    case "listen":
    case "servers":
    case "address":
    case "cidrs":
    case "dns":
    case "srv":
    case "routes":
    case "health":
      // Lists and addresses are checked in service.ts.
      return ok(v);
  }
}
