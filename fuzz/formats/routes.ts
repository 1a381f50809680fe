/**
 * Route tables and requests (src/routes/, src/config/route.ts): the input
 * is `[[service.route]]` tables, a line "---", and a request head. Oracles:
 * - parseConfig only ever throws CONFIG_SYNTAX or CONFIG_INVALID, each
 *   problem on a line of the file;
 * - the routes written back (inline, by `routesToToml`) load to the same
 *   routes;
 * - `buildRouteTable(routes).match` picks the route a plain scan of every
 *   route picks (the exact-host index and the wildcard suffixes change
 *   nothing);
 * - an unreachable-route warning is sound: whenever the route it names
 *   matches the request, the earlier route it blames matches too;
 * - what the matched route makes is a valid message: the forwarded request
 *   head (strip_prefix, add_prefix, request_headers with variables) parses
 *   again with the same method, Host and query; a respond or redirect answer
 *   parses as a response with its status and framing.
 */
import { PlbError } from "../../src/errors.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { Diagnostic } from "../../src/config/diagnostics.ts";
import type { HttpSettings } from "../../src/config/types.ts";
import { ClientForwarding, forwardedRequestHead } from "../../src/http/forward.ts";
import { parseRequestHead, parseResponseHead } from "../../src/http/head.ts";
import { renderRedirect, renderRespond } from "../../src/routes/answer.ts";
import { HeadFacts } from "../../src/routes/facts.ts";
import { headerEdit, requestEdit } from "../../src/routes/rewrite.ts";
import { shadowedRoutes } from "../../src/routes/shadow.ts";
import { buildRouteTable, hostMatches, restMatches } from "../../src/routes/table.ts";
import type { HeaderRules, RouteConfig, TemplateValues } from "../../src/routes/types.ts";
import { type Behaviour, ensure, show, type Target } from "../driver.ts";
import { between, chance, pick, type Rng } from "../rng.ts";

const ENC = new TextEncoder();
const UTF8 = new TextDecoder();
const SERVICE = `[[service]]\nname = "edge"\nprotocol = "http"\nlisten = ["127.0.0.1:8080"]\nservers = ["127.0.0.1:9"]\n`;
const SERVICE_LINES = SERVICE.split("\n").length - 1;
/** The backends the generated routes name (be0 … be9), declared after the routes. */
const BACKENDS = Array.from({ length: 10 }, (_, i) => `\n[[backend]]\nname = "be${i}"\nservers = ["127.0.0.1:9"]\n`).join("");
const BACKEND_LINES = BACKENDS.split("\n").length;
const SEPARATOR = "\n---\n";
const CFG = { forwarded_for: "append", forwarded: false } as HttpSettings;

const toml = (v: string) => JSON.stringify(v).replace(/\x7f/g, "\\u007f");
const key = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : toml(k));

function rulesToToml(r: HeaderRules): string {
  const parts: string[] = [];
  if (r.remove.length > 0) parts.push(`remove = [${r.remove.map(toml).join(", ")}]`);
  for (const [k, list] of [["set", r.set], ["add", r.add]] as const) {
    if (list.length > 0) parts.push(`${k} = { ${list.map(([n, t]) => `${key(n)} = ${toml(t.text)}`).join(", ")} }`);
  }
  return `{ ${parts.join(", ")} }`;
}

/** One route as an inline TOML table, every key explicit. */
export function routeToToml(r: RouteConfig): string {
  const p: string[] = [];
  if (r.hosts) p.push(`host = [${r.hosts.map(toml).join(", ")}]`);
  if (r.path) p.push(`${r.path.kind === "prefix" ? "path" : r.path.kind === "exact" ? "path_exact" : "path_regex"} = ${toml(r.path.value)}`);
  if (r.methods) p.push(`method = [${r.methods.map(toml).join(", ")}]`);
  if (r.headers.length > 0) p.push(`header = { ${r.headers.map((h) => `${key(h.name)} = ${toml(h.value ?? "*")}`).join(", ")} }`);
  const a = r.action;
  if (a.kind === "backend" && a.name !== undefined) p.push(`backend = ${toml(a.name)}`);
  if (a.kind === "redirect") {
    const q = [`status = ${a.status}`];
    if (a.scheme) q.push(`scheme = ${toml(a.scheme)}`);
    if (a.host) q.push(`host = ${toml(a.host)}`);
    if (a.port) q.push(`port = ${a.port}`);
    if (a.path) q.push(`path = ${toml(a.path)}`);
    p.push(`redirect = { ${q.join(", ")} }`);
  }
  if (a.kind === "respond") p.push(`respond = { status = ${a.status}, body = ${toml(a.body)}, content_type = ${toml(a.content_type)} }`);
  if (r.strip_prefix) p.push(`strip_prefix = ${toml(r.strip_prefix)}`);
  if (r.add_prefix) p.push(`add_prefix = ${toml(r.add_prefix)}`);
  if (r.request_headers) p.push(`request_headers = ${rulesToToml(r.request_headers)}`);
  if (r.response_headers) p.push(`response_headers = ${rulesToToml(r.response_headers)}`);
  return `{ ${p.join(", ")} }`;
}

/** A service's routes as one multi-line inline array. */
export function routesToToml(routes: readonly RouteConfig[]): string {
  return routes.length === 0 ? "" : `route = [\n${routes.map((r) => `  ${routeToToml(r)},`).join("\n")}\n]\n`;
}

// Generation: values from small pools, so that requests often meet the routes.
const HOSTS = ["example.com", "www.example.com", "api.example.com", "a.b.example.com", "shop.test", "10.0.0.1", "[::1]"];
const WILD = ["*.example.com", "*.b.example.com", "*.shop.test"];
const PATHS = ["/", "/v1", "/v1/", "/api", "/api/v2", "/static/", "/a/b", "/robots.txt"];
const REGEXES = ["\\.css$", "^/v[0-9]+/", "^/a/.*/c$", "users", "^$", "(a|b)+$"];
const TEMPLATES = ["prod", "{client_ip}", "{scheme}://{host}", "id={request_id}", "{{literal}}", "", "a b\tc", "caf\u00e9"];
const NAMES = ["X-Env", "X-Client", "Via", "X-Tenant", "Host", "X-Request-Id", "Server"];

function condition(r: Rng): string[] {
  const out: string[] = [];
  if (chance(r, 0.7)) out.push(`host = [${Array.from({ length: between(r, 1, 3) }, () => toml(chance(r, 0.35) ? pick(r, WILD) : pick(r, HOSTS))).join(", ")}]`);
  const p = r();
  if (p < 0.4) out.push(`path = ${toml(pick(r, PATHS))}`);
  else if (p < 0.55) out.push(`path_exact = ${toml(pick(r, PATHS))}`);
  else if (p < 0.62) out.push(`path_regex = ${toml(pick(r, REGEXES))}`);
  if (chance(r, 0.2)) out.push(`method = ${toml(pick(r, ["GET", "POST", "HEAD"]))}`);
  if (chance(r, 0.2)) out.push(`header = { "X-Tenant" = ${toml(pick(r, ["blue", "red", "*"]))} }`);
  return out;
}

function rules(r: Rng): string {
  const set = Array.from({ length: between(r, 0, 2) }, () => `${toml(pick(r, NAMES))} = ${toml(pick(r, TEMPLATES))}`);
  const add = Array.from({ length: between(r, 0, 1) }, () => `${toml(pick(r, NAMES))} = ${toml(pick(r, TEMPLATES))}`);
  const parts = [`set = { ${[...new Set(set.map((s) => s.split(" = ")[0]))].map((n) => set.find((s) => s.startsWith(n))).join(", ")} }`];
  if (add.length > 0) parts.push(`add = { ${add.join(", ")} }`);
  if (chance(r, 0.5)) parts.push(`remove = [${toml(pick(r, ["X-Internal", "Cookie", "server"]))}]`);
  return `{ ${parts.join(", ")} }`;
}

function action(r: Rng): string[] {
  const k = r();
  if (k < 0.15) return [`redirect = { ${pick(r, ['scheme = "https"', 'host = "new.example"', 'path = "/moved"', 'port = 8443', 'scheme = "http", port = 80'])}${chance(r, 0.3) ? `, status = ${pick(r, [301, 302, 303, 307, 308])}` : ""} }`];
  if (k < 0.3) {
    const status = pick(r, [200, 204, 403, 404, 418, 503, 299]);
    return [`respond = { status = ${status}${status === 204 ? "" : `, body = ${toml(pick(r, ["", "ok\n", "caf\u00e9", "<h1>x</h1>"]))}`} }`, ...(chance(r, 0.3) ? [`response_headers = ${rules(r)}`] : [])];
  }
  const out = chance(r, 0.8) ? [`backend = "be${between(r, 0, 9)}"`] : [];
  if (chance(r, 0.2)) out.push(`strip_prefix = ${toml(pick(r, ["/v1", "/api", "/a"]))}`);
  if (chance(r, 0.15)) out.push(`add_prefix = ${toml(pick(r, ["/internal", "/v2"]))}`);
  if (chance(r, 0.25)) out.push(`request_headers = ${rules(r)}`);
  if (chance(r, 0.15)) out.push(`response_headers = ${rules(r)}`);
  return out;
}

function requestHead(r: Rng): string {
  const host = chance(r, 0.05) ? undefined : `${chance(r, 0.3) ? `${pick(r, ["x", "deep.x"])}.` : ""}${pick(r, [...HOSTS, "other.org"])}${chance(r, 0.2) ? ":8080" : ""}`;
  const path = `${pick(r, [...PATHS, "/v1/users", "/v1x", "/a/b/c", "/x.css", "/api/v2/users"])}${chance(r, 0.2) ? "?q=/v1/" : ""}`;
  const target = host !== undefined && chance(r, 0.1) ? `http://${host}${path}` : path;
  const lines = [`${pick(r, ["GET", "POST", "HEAD", "PUT"])} ${target} HTTP/1.${host === undefined ? 0 : 1}`];
  if (host !== undefined) lines.push(`Host: ${host}`);
  if (chance(r, 0.3)) lines.push(`X-Tenant: ${pick(r, ["blue", "red"])}`);
  if (chance(r, 0.2)) lines.push(`X-Request-Id: ${pick(r, ["abc", "r-1"])}`);
  if (chance(r, 0.2)) lines.push("X-Internal: 1");
  return `${lines.join("\r\n")}\r\n\r\n`;
}

function generate(r: Rng): Uint8Array {
  const routes = Array.from({ length: between(r, 0, 12) }, () => {
    const body = [...condition(r), ...action(r)];
    return `[[service.route]]\n${(body.length > 0 ? body : ['path = "/"']).join("\n")}\n`;
  });
  return ENC.encode(`${routes.join("")}${SEPARATOR}${requestHead(r)}`);
}

const ROUTE_LINES = [...PATHS.map((p) => `path = ${toml(p)}`), 'host = "*.example.com"', 'path_regex = "(["', 'backend = ""', 'redirect = { }', 'strip_prefix = "/a/"',
  'request_headers = { set = { "X-A" = "{nope}" } }', 'request_headers = { set = { "X-A" = "a\\r\\nb" } }', "[[service.route]]", 'method = "get"', 'respond = { status = 204, body = "x" }'];

function mutate(input: Uint8Array, r: Rng): Uint8Array {
  const text = UTF8.decode(input);
  const at = text.indexOf(SEPARATOR);
  const [routes, req] = at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + SEPARATOR.length)];
  if (chance(r, 0.3)) return ENC.encode(`${routes}${SEPARATOR}${requestHead(r)}`);
  const lines = routes.split("\n");
  const i = between(r, 0, lines.length);
  if (chance(r, 0.5)) lines.splice(i, 0, pick(r, ROUTE_LINES));
  else lines.splice(i, 0, ...condition(r), ...action(r));
  return ENC.encode(`${lines.join("\n")}${SEPARATOR}${req}`);
}

const withoutLines = (v: unknown) => JSON.stringify(v, (k, x) => (k === "line" ? undefined : x instanceof RegExp ? x.source : x));

function check(input: Uint8Array): Behaviour {
  const text = UTF8.decode(input);
  const at = text.indexOf(SEPARATOR);
  const [routesText, req] = at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + SEPARATOR.length)];
  let routes: readonly RouteConfig[];
  try {
    routes = parseConfig(`${SERVICE}${routesText}\n${BACKENDS}`, "fuzz.toml").services[0].routes;
  } catch (e) {
    ensure(e instanceof PlbError && (e.code === "CONFIG_SYNTAX" || e.code === "CONFIG_INVALID"), () => `parseConfig threw ${e instanceof Error ? e.stack : String(e)}`);
    if (e.code === "CONFIG_SYNTAX") return { kind: "syntax" };
    const lines = SERVICE_LINES + routesText.split("\n").length + 1 + BACKEND_LINES;
    for (const p of e.cause as Diagnostic[]) ensure(p.line === undefined || (p.line >= 1 && p.line <= lines), () => `problem on line ${p.line} of ${lines}: ${p.message}`);
    return { kind: "invalid", reason: (e.cause as Diagnostic[])[0].message.replace(/"[^"]*"/g, '"…"').replace(/route\[\d+\]/g, "route[#]").slice(0, 60) };
  }
  const written = routesToToml(routes);
  let again: readonly RouteConfig[];
  try {
    again = parseConfig(`${SERVICE}${written}\n${BACKENDS}`, "fuzz.toml").services[0].routes;
  } catch (e) {
    throw new Error(`the routes written back do not load: ${(e as Error).message}\n${written}`);
  }
  ensure(withoutLines(again) === withoutLines(routes), () => `written back, the routes change:\n${written}`);

  const bytes = ENC.encode(req);
  const p = parseRequestHead(bytes);
  if (p.kind !== "done") return { kind: "no request" };
  const facts = new HeadFacts().reset(p.head);
  const got = buildRouteTable(routes).match(facts);
  const want = routes.find((r) => hostMatches(r, facts.host) && restMatches(r, facts));
  ensure(got === want, () => `the table matched route ${got?.index}, a scan of every route ${want?.index} (facts ${show({ host: facts.host, path: facts.path, method: facts.method })})`);
  const matches = (r: RouteConfig) => hostMatches(r, facts.host) && restMatches(r, facts);
  for (const s of shadowedRoutes(routes)) ensure(!matches(s.route) || matches(s.by), () => `${s.message}, yet only it matches ${show(req)}`);
  if (got === undefined) return { kind: "unmatched" };

  const values: TemplateValues = { client_ip: "192.0.2.1", scheme: "http", host: facts.host, request_id: p.head.fields.find((f) => f.lower === "x-request-id")?.value ?? "plb-1" };
  const a = got.action;
  if (a.kind === "backend") {
    const out = forwardedRequestHead(bytes, p.head, new ClientForwarding("192.0.2.1"), "http", CFG, requestEdit(got, p.head, values));
    const back = parseRequestHead(out);
    ensure(back.kind === "done" && back.consumed === out.length, () => `the forwarded head does not parse: ${show(back)} ${show(UTF8.decode(out))}`);
    const q = (t: string) => (t.includes("?") ? t.slice(t.indexOf("?")) : "");
    ensure(back.head.method === p.head.method && q(back.head.target) === q(p.head.target), () => `the forwarded head changed method or query: ${show(UTF8.decode(out))}`);
    const setsHost = got.request_headers?.set.some(([n]) => n.toLowerCase() === "host") || got.request_headers?.remove.includes("host");
    if (!setsHost) ensure(back.head.host === p.head.host, () => `the forwarded head changed Host: ${show(UTF8.decode(out))}`);
    return { kind: "matched" };
  }
  const head = p.head.method === "HEAD";
  const edit = headerEdit(got.response_headers, values);
  const answer = a.kind === "respond"
    ? renderRespond(a, { head, close: false, edit })
    : renderRedirect(a, { scheme: "http", host: p.head.host, target: p.head.target, targetForm: p.head.targetForm }, { head, close: false, edit });
  const res = parseResponseHead(answer, undefined, 0, p.head.method);
  ensure(res.kind === "done", () => `plb's answer does not parse: ${show(res)} ${show(UTF8.decode(answer))}`);
  const status = a.kind === "respond" ? a.status : p.head.host === undefined && a.host === undefined ? 400 : a.status;
  ensure(res.head.status === status, () => `answered ${res.head.status}, the route says ${status}`);
  const length = res.head.body.kind === "length" ? res.head.body.length : 0;
  ensure(answer.length === res.consumed + (head ? 0 : length), () => `the answer's framing is wrong: ${show(UTF8.decode(answer))}`);
  return { kind: "matched" };
}

export const routeTable: Target = {
  name: "routes",
  generate,
  mutate,
  dict: ["[[service.route]]\n", "host = ", "path = ", "\n", '"', "*.", "/", "{", "}", "{host}", "---", "\r\n", ":8080", "?"],
  binary: false,
  maxLen: 1 << 13,
  check,
  run: (input) => {
    try {
      return check(input);
    } catch (e) {
      return e;
    }
  },
};
