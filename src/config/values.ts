/**
 * Checks one scalar value against its schema entry. Messages start with the
 * key name: `server_retry must be an integer, got string "three"`.
 */
import { algorithms } from "../balance/index.ts";
import { parseLogLevel } from "../log.ts";
import { describeValue } from "./describe.ts";
import { suggestion } from "./diagnostics.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import type { KeyDef } from "./schema.ts";

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const fail = (error: string): Checked<never> => ({ ok: false, error });

export const NAME_RE = /^[A-Za-z0-9_.-]+$/;
export const SUPPORTED_PROTOCOLS: readonly string[] = ["tcp", "http"];
export const PLANNED_PROTOCOLS: readonly string[] = ["smtp"];

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
      return typeof v === "boolean" ? ok(v) : fail(`${k} must be true or false, got ${describeValue(v)}`);
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
      if (PLANNED_PROTOCOLS.includes(v)) return fail(`protocol ${JSON.stringify(v)} is not supported yet (tcp and http in this version)`);
      return fail(`unknown protocol ${JSON.stringify(v)}${suggestion(v, SUPPORTED_PROTOCOLS)} (valid: ${SUPPORTED_PROTOCOLS.join(", ")})`);
    }
    case "balance": {
      if (typeof v !== "string") return fail(`${k} must be a string, got ${describeValue(v)}`);
      const names = algorithms.map((a) => a.name);
      if (names.includes(v)) return ok(v);
      const valid = names.length > 0 ? `valid: ${names.join(", ")}` : "no algorithms are registered";
      return fail(`balance ${JSON.stringify(v)} is not a known algorithm${suggestion(v, names)} (${valid})`);
    }
    case "listen":
    case "servers":
    case "address":
      // Lists and addresses are checked in service.ts.
      return ok(v);
  }
}
