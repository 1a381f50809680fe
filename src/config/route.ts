/**
 * Validation of a service's routes: `[[service.route]]` tables, or an inline
 * `route = [{ … }, …]` array. Every problem is reported with its line (the
 * key's line inside a `[[service.route]]` table, else the route's) and, for
 * a misspelt key or variable, a suggestion. The matching rules are in
 * src/routes/types.ts; the checks here make sure a route is never
 * ambiguous and can never produce a message that splits:
 * - a route has at least one key, and at most one of backend / redirect /
 *   respond (none: the service's default backend, which must exist);
 * - at most one of path / path_exact / path_regex; paths are origin-form
 *   ("/", visible ASCII, no "?" or "#"); a regex must compile;
 * - strip_prefix, add_prefix and request_headers only with a backend;
 * - header names are tokens, values field content (no CR, LF, NUL), with
 *   known variables only; a request's Host can only be set, to host[:port]
 *   or "{host}"; fields that carry framing or that plb manages
 *   (Content-Length, Transfer-Encoding, Connection and the other hop-by-hop
 *   fields, X-Forwarded-*) cannot be set, added or removed.
 * tcp services have routes too (TLS passthrough by name): `sni` (one name
 * or a list; exact names and "*.example.com" wildcards, lowercased) and
 * `backend`, nothing else; `sni` is required (a route for every client is
 * the service's own backend), and is kept in the route's `hosts` so that
 * the route table and the shadow checks serve both protocols.
 * Backend names are checked apart (`checkRouteBackends`), once the
 * configuration's backends are known.
 */
import { isIP } from "node:net";
import { isToken } from "../http/types.ts";
import { parseTemplate, badFieldChar, describeChar } from "../routes/template.ts";
import type { HeaderCondition, HeaderRules, PathCondition, RedirectStatus, RouteAction, RouteConfig, Template } from "../routes/types.ts";
import { describeValue } from "./describe.ts";
import { CLIENT_CERT_FIELDS, type ClientCertCondition } from "../tls/client-cert.ts";
import { didYouMean, suggestion } from "./diagnostics.ts";

const CONDITIONS = ["host", "path", "path_exact", "path_regex", "method", "header", "client_cert"] as const;
const TERMINAL = ["backend", "redirect", "respond"] as const;
const FORWARDING = ["strip_prefix", "add_prefix", "request_headers"] as const;
export const ROUTE_KEYS: readonly string[] = [...CONDITIONS, ...TERMINAL, ...FORWARDING, "response_headers"];
/** The keys of a tcp service's route. */
export const TCP_ROUTE_KEYS: readonly string[] = ["sni", "backend"];
const REDIRECT_KEYS = ["scheme", "host", "port", "path", "status"];
const RESPOND_KEYS = ["status", "body", "content_type"];
const RULE_KEYS = ["set", "add", "remove"];
export const REDIRECT_STATUSES: readonly RedirectStatus[] = [301, 302, 303, 307, 308];
const STANDARD_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
/** Fields a route may not touch: the framing, the hop-by-hop ones plb manages, and the forwarding fields plb writes. */
const MANAGED: Record<string, string> = {
  "content-length": "it frames the body",
  "transfer-encoding": "it frames the body",
  connection: "plb manages connections",
  "keep-alive": "plb manages connections",
  "proxy-connection": "plb manages connections",
  te: "it is hop-by-hop",
  upgrade: "plb manages upgrades",
  "x-forwarded-for": "plb writes it (see forwarded_for)",
  "x-forwarded-proto": "plb writes it",
  "x-forwarded-host": "plb writes it",
  ...Object.fromEntries(CLIENT_CERT_FIELDS.map((f) => [f, "plb writes it (client certificates, tls.client_ca)"])),
};

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);

export interface RouteContext {
  /** Line of route `index` (0-based), or of `key` inside it when located. */
  at(index: number, key?: string): number | undefined;
  /** Report a problem; `path` is "route[2].path". */
  report(path: string, message: string, line: number | undefined): void;
  /** The service has a default backend (`servers` or `backend`): routes without backend/redirect/respond use it. */
  readonly hasDefault: boolean;
  /** The service's protocol: "tcp" routes have sni and backend only (default "http"). */
  readonly protocol?: "http" | "tcp";
}

/**
 * The routes of `raw` (the value of a service's `route` key), in file
 * order. Problems are reported; the routes with problems are left out.
 */
export function checkRoutes(raw: unknown, ctx: RouteContext): RouteConfig[] {
  if (!Array.isArray(raw)) {
    const got = isTable(raw) ? "a single table (write [[service.route]], not [service.route])" : describeValue(raw);
    ctx.report("route", `route must be an array of tables ([[service.route]] or route = [{ … }]), got ${got}`, ctx.at(0));
    return [];
  }
  const out: RouteConfig[] = [];
  raw.forEach((item, index) => {
    const r = checkRoute(item, index, ctx);
    if (r !== undefined) out.push(r);
  });
  return out;
}

function checkRoute(item: unknown, index: number, ctx: RouteContext): RouteConfig | undefined {
  const label = `route[${index}]`;
  let ok = true;
  const fail = (key: string | undefined, message: string): void => {
    ok = false;
    ctx.report(key === undefined ? label : `${label}.${key}`, `${key === undefined ? label : `${label}.${key}`}: ${message}`, ctx.at(index, key?.split(".")[0]));
  };
  if (!isTable(item)) {
    fail(undefined, `must be a table, got ${describeValue(item)}`);
    return undefined;
  }
  const keys = Object.keys(item);
  if (ctx.protocol === "tcp") return checkTcpRoute(item, index, ctx, fail, () => ok);
  for (const k of keys) {
    if (k === "sni") fail(k, 'sni is a condition of tcp routes (TLS passthrough by name); an http route matches the request\'s host: write host = …');
    else if (!ROUTE_KEYS.includes(k)) fail(k, `unknown key ${JSON.stringify(k)}${suggestion(k, ROUTE_KEYS)} (route keys: ${ROUTE_KEYS.join(", ")})`);
  }
  if (keys.length === 0) {
    fail(undefined, "an empty route: give it conditions (host, path, path_exact, path_regex, method, header) and an action (backend, redirect, respond, …)");
    return undefined;
  }
  const has = (k: string) => Object.hasOwn(item, k);

  const hosts = has("host") ? checkHosts(item.host, (m) => fail("host", m)) : undefined;
  const paths = (["path", "path_exact", "path_regex"] as const).filter(has);
  if (paths.length > 1) fail(paths[1], `give one of path, path_exact and path_regex (this route has ${paths.join(" and ")})`);
  const path = paths.length === 0 ? undefined : checkPathCondition(paths[0], item[paths[0]], (m) => fail(paths[0], m));
  const methods = has("method") ? checkMethods(item.method, (m) => fail("method", m)) : undefined;
  const headers = has("header") ? checkHeaderConditions(item.header, (m) => fail("header", m)) : [];
  const client_cert = has("client_cert") ? checkClientCert(item.client_cert, (m) => fail("client_cert", m)) : undefined;

  const terminal = TERMINAL.filter(has);
  if (terminal.length > 1) fail(terminal[1], `a route has one of backend, redirect and respond (this one has ${terminal.join(" and ")})`);
  let action: RouteAction | undefined;
  const kind = terminal[0];
  if (kind === "backend") {
    const name = item.backend;
    if (typeof name !== "string" || name === "") fail("backend", `must be a backend name, got ${describeValue(name)}`);
    else action = { kind: "backend", name, line: ctx.at(index, "backend") };
  } else if (kind === "redirect") action = checkRedirect(item.redirect, (k, m) => fail(k === undefined ? "redirect" : `redirect.${k}`, m));
  else if (kind === "respond") action = checkRespond(item.respond, (k, m) => fail(k === undefined ? "respond" : `respond.${k}`, m));
  else if (!ctx.hasDefault) {
    fail(undefined, "this route has no backend, redirect or respond, and the service has no default backend to send it to: add backend = \"…\" to the route (or to the service)");
  } else action = { kind: "backend", name: undefined };

  if (kind === "redirect" || kind === "respond") {
    for (const k of FORWARDING) if (has(k)) fail(k, `applies to requests forwarded to a backend (this route answers with ${kind})`);
  }
  const strip_prefix = has("strip_prefix") ? checkPrefix("strip_prefix", item.strip_prefix, (m) => fail("strip_prefix", m)) : undefined;
  const add_prefix = has("add_prefix") ? checkPrefix("add_prefix", item.add_prefix, (m) => fail("add_prefix", m)) : undefined;
  const request_headers = has("request_headers") ? checkRules(item.request_headers, (k, m) => fail(k === undefined ? "request_headers" : `request_headers.${k}`, m), true) : undefined;
  const response_headers = has("response_headers") ? checkRules(item.response_headers, (k, m) => fail(k === undefined ? "response_headers" : `response_headers.${k}`, m), false) : undefined;

  if (!ok || action === undefined) return undefined;
  return {
    index,
    line: ctx.at(index),
    hosts,
    path,
    methods,
    headers,
    ...(client_cert ? { client_cert } : {}),
    action,
    strip_prefix,
    add_prefix,
    request_headers,
    response_headers,
  };
}

/** A tcp route: `sni` (required) and `backend` (or the service's default). */
function checkTcpRoute(item: Table, index: number, ctx: RouteContext, fail: (key: string | undefined, message: string) => void, ok: () => boolean): RouteConfig | undefined {
  for (const k of Object.keys(item)) {
    if (TCP_ROUTE_KEYS.includes(k)) continue;
    const http = ROUTE_KEYS.includes(k) || k === "response_headers";
    fail(k, http ? `${k} applies to http routes; a tcp route has sni and backend only (it sees a TLS ClientHello, not requests)` : `unknown key ${JSON.stringify(k)}${suggestion(k, TCP_ROUTE_KEYS)} (tcp route keys: ${TCP_ROUTE_KEYS.join(", ")})`);
  }
  let hosts: string[] | undefined;
  if (!Object.hasOwn(item, "sni")) fail(undefined, 'a tcp route needs sni = "name" or a list of names (a route for every client is the service\'s backend)');
  else hosts = checkHosts(item.sni, (m) => fail("sni", m), true);
  let action: RouteAction | undefined;
  if (Object.hasOwn(item, "backend")) {
    const name = item.backend;
    if (typeof name !== "string" || name === "") fail("backend", `must be a backend name, got ${describeValue(name)}`);
    else action = { kind: "backend", name, line: ctx.at(index, "backend") };
  } else if (!ctx.hasDefault) {
    fail(undefined, 'this route has no backend, and the service has no default backend to send it to: add backend = "…" to the route (or to the service)');
  } else action = { kind: "backend", name: undefined };
  if (!ok() || action === undefined || hosts === undefined) return undefined;
  return { index, line: ctx.at(index), hosts, path: undefined, methods: undefined, headers: [], action, strip_prefix: undefined, add_prefix: undefined, request_headers: undefined, response_headers: undefined };
}

const HOST_RE = /^[a-z0-9_~-]+(?:\.[a-z0-9_~-]+)*$/;

/** One host pattern, lowercased: "example.com", "*.example.com", "10.0.0.1", "[::1]"; or an error. */
export function checkHostPattern(v: string): string | { error: string } {
  let h = v.toLowerCase();
  if (h.startsWith("[") && h.endsWith("]") && isIP(h.slice(1, -1)) === 6) return h;
  if (isIP(h) === 6) return `[${h}]`;
  if (h === "*") return { error: 'host "*" matches every host: leave host out instead' };
  if (/:\d*$/.test(h)) return { error: `${JSON.stringify(v)}: hosts are matched without the port (write ${JSON.stringify(h.replace(/:\d*$/, ""))})` };
  if (h.endsWith(".")) h = h.slice(0, -1);
  const wild = h.startsWith("*.");
  const name = wild ? h.slice(2) : h;
  if (name.includes("*")) return { error: `${JSON.stringify(v)}: a wildcard is "*." in front of a domain, as in "*.example.com"` };
  if (!HOST_RE.test(name)) return { error: `${JSON.stringify(v)} is not a host name (letters, digits, "-", "_", "~" and dots) or IP address` };
  return wild ? `*.${name}` : name;
}

/** host = …, or (`sni`) a tcp route's names: never an IP address (SNI carries names only, RFC 6066). */
function checkHosts(v: unknown, fail: (m: string) => void, sni = false): string[] | undefined {
  const what = sni ? "name" : "host";
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list)) return void fail(`must be a ${what} or an array of ${what}s, got ${describeValue(v)}`);
  if (list.length === 0) return void fail(sni ? "must not be empty (a route for every client is the service's backend)" : "must not be empty (leave host out to match any host)");
  const out: string[] = [];
  for (const [j, h] of list.entries()) {
    if (typeof h !== "string") return void fail(`${sni ? "sni" : "host"}[${j}] must be a string, got ${describeValue(h)}`);
    const p = checkHostPattern(h);
    if (typeof p !== "string") return void fail(sni ? p.error.replace('host "*" matches every host: leave host out instead', "\"*\" matches every name: that is the service's backend").replace("hosts are matched", "names are matched") : p.error);
    if (sni && (isIP(p) !== 0 || p.startsWith("["))) return void fail(`${JSON.stringify(h)}: clients send names in SNI, never IP addresses (RFC 6066): a client connecting by address sends no name and goes to the service's backend`);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** An origin-form path: "/" then visible ASCII, without "?" and "#"; or an error. */
function pathError(key: string, v: unknown): string | undefined {
  if (typeof v !== "string") return `must be a string, got ${describeValue(v)}`;
  if (!v.startsWith("/")) return `must start with "/", got ${JSON.stringify(v)}${v.startsWith("*") || v.includes("*") ? " (a prefix needs no \"*\"; for patterns use path_regex)" : ""}`;
  const bad = [...v].findIndex((c) => c < "!" || c > "~" || c === "?" || c === "#");
  if (bad >= 0) {
    const c = v[bad];
    return c === "?" || c === "#" ? `${JSON.stringify(c)} cannot be in ${key} (paths are matched without the query)` : `${describeChar(c)} cannot be in a path (write it percent-encoded, as clients send it)`;
  }
  return undefined;
}

function checkPathCondition(key: "path" | "path_exact" | "path_regex", v: unknown, fail: (m: string) => void): PathCondition | undefined {
  if (key === "path_regex") {
    if (typeof v !== "string" || v === "") return void fail(`must be a regular expression, got ${describeValue(v)}`);
    try {
      return { kind: "regex", value: v, re: new RegExp(v) };
    } catch (err) {
      return void fail(`invalid regular expression: ${(err as Error).message}`);
    }
  }
  const e = pathError(key, v);
  if (e !== undefined) return void fail(e);
  return { kind: key === "path" ? "prefix" : "exact", value: v as string };
}

function checkPrefix(key: string, v: unknown, fail: (m: string) => void): string | undefined {
  const e = pathError(key, v);
  if (e !== undefined) return void fail(e);
  const s = v as string;
  if (s === "/" || s.endsWith("/")) return void fail(`must not end with "/" (write ${JSON.stringify(s.replace(/\/+$/, "") || "/v1")}: ${key} works on whole path segments)`);
  return s;
}


function checkMethods(v: unknown, fail: (m: string) => void): string[] | undefined {
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length === 0) return void fail(`must be a method or a non-empty array of methods, got ${describeValue(v)}`);
  const out: string[] = [];
  for (const m of list) {
    if (typeof m !== "string" || !isToken(m)) return void fail(`${describeValue(m)} is not a method`);
    if (m !== m.toUpperCase() && STANDARD_METHODS.includes(m.toUpperCase())) return void fail(`methods are case-sensitive: ${JSON.stringify(m)} matches no client's request (did you mean ${JSON.stringify(m.toUpperCase())}?)`);
    if (!out.includes(m)) out.push(m);
  }
  return out;
}

function checkHeaderConditions(v: unknown, fail: (m: string) => void): HeaderCondition[] {
  if (!isTable(v)) return fail(`must be a table { "X-Name" = "value" } ("*": present with any value), got ${describeValue(v)}`), [];
  const out: HeaderCondition[] = [];
  for (const [name, value] of Object.entries(v)) {
    if (!isToken(name)) return fail(`${JSON.stringify(name)} is not a header field name`), [];
    if (typeof value !== "string") return fail(`${name} must be a string ("*": present with any value), got ${describeValue(value)}`), [];
    const bad = badFieldChar(value);
    if (bad >= 0) return fail(`${name}: ${describeChar(value[bad])} can never be in a header value`), [];
    out.push({ name: name.toLowerCase(), value: value === "*" ? undefined : value.trim() });
  }
  return out;
}

function checkRedirect(v: unknown, fail: (key: string | undefined, m: string) => void): RouteAction | undefined {
  if (!isTable(v)) return void fail(undefined, `must be a table { scheme = "https", status = 308 } (also host, port, path), got ${describeValue(v)}`);
  let ok = true;
  const bad = (k: string | undefined, m: string) => ((ok = false), fail(k, m));
  for (const k of Object.keys(v)) if (!REDIRECT_KEYS.includes(k)) bad(k, `unknown key ${JSON.stringify(k)}${suggestion(k, REDIRECT_KEYS)} (redirect keys: ${REDIRECT_KEYS.join(", ")})`);
  if (!REDIRECT_KEYS.slice(0, 4).some((k) => Object.hasOwn(v, k))) bad(undefined, "redirects to itself: give at least one of scheme, host, port and path");
  const { scheme, host, port, path, status = 308 } = v;
  if (scheme !== undefined && scheme !== "http" && scheme !== "https") bad("scheme", `must be "http" or "https", got ${describeValue(scheme)}`);
  let h: string | undefined;
  if (host !== undefined) {
    const p = typeof host === "string" ? checkHostPattern(host) : { error: `must be a string, got ${describeValue(host)}` };
    if (typeof p !== "string") bad("host", p.error);
    else if (p.startsWith("*.")) bad("host", "a redirect goes to one host, not a wildcard");
    else h = p;
  }
  if (port !== undefined && !(typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65535)) bad("port", `must be an integer from 1 to 65535, got ${describeValue(port)}`);
  if (path !== undefined) {
    const e = pathError("a redirect path", path);
    if (e !== undefined) bad("path", e);
  }
  if (!(REDIRECT_STATUSES as readonly unknown[]).includes(status)) {
    bad("status", `must be one of ${REDIRECT_STATUSES.join(", ")} (308 and 307 keep the method and body, 301 and 302 may turn a POST into a GET, 303 always does), got ${describeValue(status)}`);
  }
  if (!ok) return undefined;
  return { kind: "redirect", scheme: scheme as "http" | "https" | undefined, host: h, port: port as number | undefined, path: path as string | undefined, status: status as RedirectStatus };
}

function checkRespond(v: unknown, fail: (key: string | undefined, m: string) => void): RouteAction | undefined {
  if (!isTable(v)) return void fail(undefined, `must be a table { status = 200, body = "…", content_type = "text/plain" }, got ${describeValue(v)}`);
  let ok = true;
  const bad = (k: string | undefined, m: string) => ((ok = false), fail(k, m));
  for (const k of Object.keys(v)) if (!RESPOND_KEYS.includes(k)) bad(k, `unknown key ${JSON.stringify(k)}${suggestion(k, RESPOND_KEYS)} (respond keys: ${RESPOND_KEYS.join(", ")})`);
  const { status = 200, body = "", content_type = "text/plain; charset=utf-8" } = v;
  if (!(typeof status === "number" && Number.isInteger(status) && status >= 200 && status <= 599)) bad("status", `must be an integer from 200 to 599, got ${describeValue(status)}`);
  if (typeof body !== "string") bad("body", `must be a string, got ${describeValue(body)}`);
  else if (body !== "" && (status === 204 || status === 304)) bad("body", `a ${status} answer has no body`);
  if (typeof content_type !== "string" || content_type === "") bad("content_type", `must be a media type, got ${describeValue(content_type)}`);
  else if (badFieldChar(content_type) >= 0) bad("content_type", `${describeChar(content_type[badFieldChar(content_type)])} cannot be in a header value`);
  if (!ok) return undefined;
  return { kind: "respond", status: status as number, body: body as string, content_type: content_type as string };
}

/** A Host value a route may set: `host[:port]` as head.ts accepts it, or `{host}`. */
const HOST_VALUE = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

function checkRules(v: unknown, fail: (key: string | undefined, m: string) => void, request: boolean): HeaderRules | undefined {
  if (!isTable(v)) return void fail(undefined, `must be a table { set = { … }, add = { … }, remove = [ … ] }, got ${describeValue(v)}`);
  let ok = true;
  const bad = (k: string | undefined, m: string) => ((ok = false), fail(k, m));
  for (const k of Object.keys(v)) if (!RULE_KEYS.includes(k)) bad(k, `unknown key ${JSON.stringify(k)}${suggestion(k, RULE_KEYS)} (set, add, remove)`);
  const name = (k: string, n: string): boolean => {
    if (!isToken(n)) return bad(k, `${JSON.stringify(n)} is not a header field name (letters, digits and !#$%&'*+-.^_\`|~; no colon, space, CR or LF)`), false;
    if (!request && n.toLowerCase() === "host") return bad(k, "Host is a request field: it has no place in a response"), false;
    const why = MANAGED[n.toLowerCase()];
    if (why !== undefined) return bad(k, `${n} cannot be changed by a route: ${why}`), false;
    return true;
  };
  const fields = (k: "set" | "add"): [string, Template][] => {
    const t = v[k];
    if (t === undefined) return [];
    if (!isTable(t)) return bad(k, `must be a table { "X-Name" = "value" }, got ${describeValue(t)}`), [];
    const out: [string, Template][] = [];
    for (const [n, value] of Object.entries(t)) {
      if (!name(k, n)) continue;
      if (typeof value !== "string") {
        bad(k, `${n} must be a string, got ${describeValue(value)}`);
        continue;
      }
      const tpl = parseTemplate(value);
      if (typeof tpl === "string") bad(k, `${n}: ${tpl}`);
      else if (request && n.toLowerCase() === "host" && (k === "add" || (value !== "{host}" && !HOST_VALUE.test(value)))) {
        bad(k, k === "add" ? "Host cannot be added (a request has one Host): use set" : `Host must be set to a host[:port] (or "{host}"), got ${JSON.stringify(value)}`);
      } else out.push([n, tpl]);
    }
    return out;
  };
  const set = fields("set");
  const add = fields("add");
  const remove: string[] = [];
  if (v.remove !== undefined) {
    if (!Array.isArray(v.remove)) bad("remove", `must be an array of header names, got ${describeValue(v.remove)}${typeof v.remove === "string" ? ` (write remove = [${JSON.stringify(v.remove)}])` : ""}`);
    else for (const n of v.remove) {
      if (typeof n !== "string") bad("remove", `must hold header names, got ${describeValue(n)}`);
      else if (request && n.toLowerCase() === "host") bad("remove", "Host cannot be removed (an HTTP/1.1 request must have one): use set to change it");
      else if (name("remove", n)) remove.push(n.toLowerCase());
    }
  }
  const setNames = set.map(([n]) => n.toLowerCase());
  for (const n of remove) if (setNames.includes(n)) bad("remove", `${n} is both set and removed (set already replaces the fields of that name)`);
  if (!ok) return undefined;
  return { remove, set, add };
}

/**
 * Routes naming a backend that does not exist, reported with a
 * suggestion; for the integrator to call once the configuration's backend
 * names are known.
 */
export function checkRouteBackends(routes: readonly RouteConfig[], known: ReadonlySet<string>, report: (path: string, message: string, line: number | undefined) => void): void {
  for (const r of routes) {
    if (r.action.kind !== "backend" || r.action.name === undefined || known.has(r.action.name)) continue;
    const near = didYouMean(r.action.name, [...known]);
    const hint = near !== undefined ? ` (did you mean ${JSON.stringify(near)}?)` : known.size > 0 ? ` (backends: ${[...known].join(", ")})` : " (no [[backend]] is defined)";
    report(`route[${r.index}].backend`, `route[${r.index}].backend: unknown backend ${JSON.stringify(r.action.name)}${hint}`, r.action.line ?? r.line);
  }
}

/**
 * `client_cert = "verified"`, or `{ subject = "CN=alice,O=Example" }` /
 * `{ san = ["alice.example", "alice@example.com"] }` (a verified certificate
 * with that RFC 4514 subject / one of those subjectAltName values). Needs
 * the service's tls.client_ca (config/service.ts checks it).
 */
function checkClientCert(v: unknown, fail: (m: string) => void): ClientCertCondition | undefined {
  if (v === "verified") return { subject: undefined, san: undefined };
  if (!isTable(v)) return fail(`must be "verified" or a table { subject = "CN=…", san = ["…"] }, got ${describeValue(v)}`), undefined;
  const extra = Object.keys(v).find((k) => k !== "subject" && k !== "san");
  if (extra !== undefined) return fail(`unknown key ${JSON.stringify(extra)} (expected subject and san)`), undefined;
  if (v.subject === undefined && v.san === undefined) return fail('give subject, san, or write client_cert = "verified"'), undefined;
  if (v.subject !== undefined && (typeof v.subject !== "string" || v.subject === "")) return fail(`subject must be a distinguished name ("CN=alice,O=Example"), got ${describeValue(v.subject)}`), undefined;
  const san = typeof v.san === "string" ? [v.san] : v.san;
  if (san !== undefined && (!Array.isArray(san) || san.length === 0 || !san.every((s) => typeof s === "string" && s !== ""))) {
    return fail(`san must be a name or an array of names (DNS names, e-mail addresses, URIs), got ${describeValue(v.san)}`), undefined;
  }
  return { subject: v.subject as string | undefined, san: san as string[] | undefined };
}
