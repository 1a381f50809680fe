/**
 * The HTTP/2 field rules that make a request malformed (RFC 9113 §8.1.1,
 * §8.2, §8.3): a malformed request is a stream error of type PROTOCOL_ERROR,
 * which the session sends itself. Pure; translate.ts checks the rest (host
 * vs :authority, values HTTP/1.1 would not carry, …).
 *
 * - names and values: field-rules.ts (lowercase tokens; field-content
 *   octets without surrounding SP/HTAB); a ':' only as a pseudo-header's
 *   first octet;
 * - pseudo-headers: only :method, :scheme, :authority, :path, each at most
 *   once, all before the regular fields; :method and (but for CONNECT)
 *   :scheme and a non-empty :path present; CONNECT has :authority and
 *   neither :scheme nor :path (we do not announce extended CONNECT);
 * - no connection-specific field (connection, proxy-connection, keep-alive,
 *   transfer-encoding, upgrade), and te only as "trailers";
 * - content-length: digits, every copy the same value.
 * Trailers: the same name and value rules, no pseudo-header at all.
 */

import { CONNECTION_SPECIFIC, fieldProblem as fieldRuleProblem, quote as show, valueProblem } from "./field-rules.ts";

const PSEUDO = new Set([":method", ":scheme", ":authority", ":path"]);

export type FieldsCheck = { ok: true; /** content-length, or -1 */ contentLength: number } | { ok: false; reason: string };

/** Checks a request head's fields (flat [name, value, …]). */
export function checkRequestFields(fields: readonly string[]): FieldsCheck {
  let regular = false;
  let method: string | undefined, scheme: string | undefined, path: string | undefined, authority: string | undefined;
  let contentLength = -1;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i], value = fields[i + 1];
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return bad(`pseudo-header ${name} after a regular field`);
      if (!PSEUDO.has(name)) return bad(name === ":status" ? "response pseudo-header :status in a request" : `unknown pseudo-header ${show(name)}`);
      const problem = valueProblem(value);
      if (problem) return bad(`${name}: ${problem}`);
      if (name === ":method") {
        if (method !== undefined) return bad("duplicate :method");
        method = value;
      } else if (name === ":scheme") {
        if (scheme !== undefined) return bad("duplicate :scheme");
        scheme = value;
      } else if (name === ":path") {
        if (path !== undefined) return bad("duplicate :path");
        path = value;
      } else {
        if (authority !== undefined) return bad("duplicate :authority");
        authority = value;
      }
      continue;
    }
    regular = true;
    const problem = fieldProblem(name, value);
    if (problem) return bad(problem);
    if (name === "content-length") {
      if (!/^[0-9]{1,15}$/.test(value)) return bad(`content-length ${show(value)} is not a number`);
      const n = Number(value);
      if (contentLength >= 0 && contentLength !== n) return bad("content-length values differ");
      contentLength = n;
    }
  }
  if (method === undefined) return bad("no :method");
  if (method === "CONNECT") {
    if (authority === undefined) return bad("CONNECT without :authority");
    if (scheme !== undefined || path !== undefined) return bad("CONNECT with :scheme or :path");
  } else {
    if (scheme === undefined) return bad("no :scheme");
    if (path === undefined) return bad("no :path");
    if (path === "") return bad("empty :path");
  }
  return { ok: true, contentLength };
}

/** Checks a trailer section's fields. */
export function checkTrailerFields(fields: readonly string[]): FieldsCheck {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i].charCodeAt(0) === 0x3a) return bad(`pseudo-header ${show(fields[i])} in trailers`);
    const problem = fieldProblem(fields[i], fields[i + 1]);
    if (problem) return bad(problem);
  }
  return { ok: true, contentLength: -1 };
}

/** A regular field's problem: the shared rules (field-rules.ts), no connection-specific field, te only "trailers". */
function fieldProblem(name: string, value: string): string | undefined {
  if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
  if (name === "te" && value !== "trailers") return `te ${show(value)}, not "trailers"`;
  return fieldRuleProblem(name, value);
}

const bad = (reason: string): FieldsCheck => ({ ok: false, reason });
