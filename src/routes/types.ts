/**
 * The route table's data: what `[[service.route]]` becomes once checked
 * (src/config/route.ts), and the facts about a request that matching reads
 * (src/routes/facts.ts). Plain immutable data: a reload builds new routes
 * and a new table and swaps them whole.
 *
 * Matching rules (each one tested in tests/routes-*.test.ts):
 * - host: exact names compared lowercased, without the port and a trailing
 *   dot; `*.example.com` matches any depth of subdomain ("a.example.com",
 *   "a.b.example.com"), not "example.com" itself (nginx's and Envoy's rule).
 * - path: compared as received (no percent-decoding, no dot-segment
 *   removal, no merging of slashes), the query left out; head.ts has
 *   already refused targets with bytes outside 0x21-0x7E or a "#", and any
 *   Host that is not a host name or IP literal. `path` is a prefix on segment boundaries
 *   ("/v1" matches "/v1", "/v1/", "/v1/x", not "/v1x"; "/v1/" matches
 *   "/v1/x", not "/v1"); `path_exact` the whole path; `path_regex` a
 *   JavaScript regular expression searched in the path (unanchored: write
 *   ^ and $).
 * - method: one of the listed methods, case-sensitively (RFC 9110 §9.1).
 * - header: for each name, a field of that name (case-insensitive) whose
 *   whole value (without surrounding whitespace) equals the given value
 *   case-sensitively; "*" asks only that the field be present.
 * - All of a route's conditions together; the first route in file order
 *   that matches wins.
 */

import type { ClientCertCondition } from "../tls/client-cert.ts";

/** How a route's path condition compares. */
export type PathCondition =
  | { readonly kind: "prefix"; readonly value: string }
  | { readonly kind: "exact"; readonly value: string }
  | { readonly kind: "regex"; readonly value: string; readonly re: RegExp };

/** A header condition: `name` lowercased; `value` undefined asks for presence only ("*"). */
export interface HeaderCondition {
  readonly name: string;
  readonly value: string | undefined;
}

/** The variables a header value may use: `{client_ip}`, `{scheme}`, `{host}`, `{request_id}`. */
export const VARIABLES = ["client_ip", "scheme", "host", "request_id"] as const;
export type Variable = (typeof VARIABLES)[number];

/** A header value from the configuration: literal text and variables, in order. */
export interface Template {
  /** As written in the file. */
  readonly text: string;
  /** Literal strings and variables; a template without variables is one string (or none when empty). */
  readonly parts: readonly (string | { readonly variable: Variable })[];
}

/** What a request_headers / response_headers table asks for (applied: remove, then set, then add). */
export interface HeaderRules {
  /** Lowercased names whose fields are dropped. */
  readonly remove: readonly string[];
  /** Fields replacing every field of the same name: [name as written, value]. */
  readonly set: readonly (readonly [string, Template])[];
  /** Fields added after the others (kept fields of the same name stay). */
  readonly add: readonly (readonly [string, Template])[];
}

export type RedirectStatus = 301 | 302 | 303 | 307 | 308;

/** A redirect: what is not given comes from the request; the query is always kept. */
export interface RedirectAction {
  readonly kind: "redirect";
  readonly scheme: "http" | "https" | undefined;
  /** Lowercased host name or IP literal (IPv6 in brackets). */
  readonly host: string | undefined;
  readonly port: number | undefined;
  /** Replaces the path (the query is kept). */
  readonly path: string | undefined;
  readonly status: RedirectStatus;
}

/** An answer plb gives itself. */
export interface RespondAction {
  readonly kind: "respond";
  /** 200-599. */
  readonly status: number;
  readonly body: string;
  readonly content_type: string;
}

/** Forward to a backend: `name` undefined means the service's default backend. */
export interface BackendAction {
  readonly kind: "backend";
  readonly name: string | undefined;
  /** 1-based line of the `backend` key, when located (for an unknown backend's message). */
  readonly line?: number;
}

export type RouteAction = BackendAction | RedirectAction | RespondAction;

export interface RouteConfig {
  /** 0-based position in the service's list of routes (file order). */
  readonly index: number;
  /** 1-based line of the route in the file, when located. */
  readonly line: number | undefined;
  /** Exact hosts lowercased and "*.suffix" wildcards; undefined: any host (a request without Host too). */
  readonly hosts: readonly string[] | undefined;
  readonly path: PathCondition | undefined;
  /** Methods, case-sensitive; undefined: any. */
  readonly methods: readonly string[] | undefined;
  readonly headers: readonly HeaderCondition[];
  /**
   * A requirement on the client's certificate (tls.client_ca): not a
   * selector. A request the route's other conditions take and this one
   * refuses gets 403, so that a later, wider route never serves it.
   */
  readonly client_cert?: ClientCertCondition;
  readonly action: RouteAction;
  /** Removed from the start of the path (on a segment boundary) before forwarding. */
  readonly strip_prefix: string | undefined;
  /** Put before the path (after strip_prefix) before forwarding. */
  readonly add_prefix: string | undefined;
  readonly request_headers: HeaderRules | undefined;
  readonly response_headers: HeaderRules | undefined;
}

/**
 * What matching reads of a request. `host` is lowercased, without port and
 * trailing dot ("" when the request has none: HTTP/1.0 without Host);
 * `path` is the target's path without the query.
 */
export interface RequestFacts {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  /** Is there a field named `lower` (with exactly `value`, when given)? */
  header(lower: string, value: string | undefined): boolean;
}

/** Values of the template variables for one request. */
export interface TemplateValues {
  readonly client_ip: string;
  readonly scheme: "http" | "https";
  /** The request's host as matched: lowercased, no port, no trailing dot ("" when none). */
  readonly host: string;
  readonly request_id: string;
}
