/**
 * The field rules of HTTP/2 as plb applies them, in one place (RFC 9113
 * §8.2): a name is a lowercase token (stricter than §8.2.1's octet ranges:
 * what plb's HTTP/1 parser would take, since requests go on as HTTP/1.1),
 * a value holds field-content octets only (no NUL, CR, LF or other
 * controls) with no surrounding SP/HTAB, and connection-specific fields
 * (§8.2.2) do not exist in HTTP/2. Used by the session (malformed requests
 * and trailers), the translation to HTTP/1.1 and back, and the
 * translation of h2 servers' responses. Pure.
 */
import { FVAL, TCHAR } from "../types.ts";

/** Connection-specific fields (RFC 9113 §8.2.2): a message carrying one is malformed. */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/** A client's string in a reason (for the log): quoted, at most 40 characters of it. */
export const quote = (s: string): string => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);

/** Why `name` is not a lowercase token, or undefined. */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "empty field name";
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) return `uppercase field name ${quote(name)}`;
    if (c > 0xff || TCHAR[c] === 0) return `field name ${quote(name)} with octet 0x${c.toString(16)}`;
  }
  return undefined;
}

/** Why `value` is not a field value, or undefined. */
export function valueProblem(value: string): string | undefined {
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c > 0xff || FVAL[c] === 0) return `value with ${c === 0 ? "NUL" : c === 13 ? "CR" : c === 10 ? "LF" : "a control"} (octet 0x${c.toString(16)})`;
  }
  if (n > 0) {
    const a = value.charCodeAt(0), b = value.charCodeAt(n - 1);
    if (a === 0x20 || a === 9 || b === 0x20 || b === 9) return "value with leading or trailing whitespace";
  }
  return undefined;
}

/** The first problem of a regular field (`name: value`), or undefined. */
export function fieldProblem(name: string, value: string): string | undefined {
  const bad = nameProblem(name);
  if (bad !== undefined) return bad;
  const v = valueProblem(value);
  return v === undefined ? undefined : `${name}: ${v}`;
}
