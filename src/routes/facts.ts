/**
 * The request facts route matching reads, taken from a parsed request head
 * (src/http/head.ts has already refused an invalid Host, and checked that an
 * absolute-form target names the same host). One object per connection,
 * `reset` for each request: nothing is allocated for a lowercase Host
 * without port and an origin-form target without query.
 */
import type { RequestHead } from "../http/types.ts";
import type { RequestFacts } from "./types.ts";

/** `Example.COM:8080` → `example.com`, `[::1]:80` → `[::1]`, `example.com.` → `example.com`. */
export function normalizeHost(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 0x5b) {
    const close = host.indexOf("]");
    if (close > 0) end = close + 1;
  } else {
    const colon = host.indexOf(":");
    if (colon >= 0) end = colon;
    if (end > 0 && host.charCodeAt(end - 1) === 0x2e) end--;
  }
  let lower = true;
  for (let i = 0; i < end; i++) {
    const c = host.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) {
      lower = false;
      break;
    }
  }
  const h = end === host.length ? host : host.slice(0, end);
  return lower ? h : h.toLowerCase();
}

/**
 * The path of a request target, without the query: origin-form as it is;
 * absolute-form after its authority ("/" when it has no path); "*" for the
 * asterisk form and "" for CONNECT's authority form (no path: only routes
 * without a path condition match them).
 */
export function targetPath(target: string, form: RequestHead["targetForm"]): string {
  if (form === "origin") {
    const q = target.indexOf("?");
    return q < 0 ? target : target.slice(0, q);
  }
  if (form === "absolute") {
    const start = target.indexOf("/", target.indexOf("//") + 2);
    const q = target.indexOf("?");
    if (start < 0 || (q >= 0 && q < start)) return "/";
    return q < 0 ? target.slice(start) : target.slice(start, q);
  }
  return form === "asterisk" ? "*" : "";
}

/** Request facts over one parsed head at a time. */
export class HeadFacts implements RequestFacts {
  method = "";
  host = "";
  path = "";
  private fields: RequestHead["fields"] = [];

  /** Read `head` (the previous request's facts are forgotten). */
  reset(head: RequestHead): this {
    this.method = head.method;
    this.host = head.host === undefined ? "" : normalizeHost(head.host);
    this.path = targetPath(head.target, head.targetForm);
    this.fields = head.fields;
    return this;
  }

  header(lower: string, value: string | undefined): boolean {
    const fields = this.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      if (f.lower === lower && (value === undefined || f.value === value)) return true;
    }
    return false;
  }
}

/** Facts of one request head (a fresh object: for tests and one-off use). */
export function requestFacts(head: RequestHead): RequestFacts {
  return new HeadFacts().reset(head);
}
