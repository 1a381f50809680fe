/**
 * Random route tables and requests, written for plb ([[service.route]]) and
 * for HAProxy (acl + use_backend), for the agreement test against HAProxy
 * (tests/e2e/routes/haproxy-agreement.test.ts). Route i sends to backend
 * "be_i"; no route matched: "be_default" (HAProxy's default_backend, plb's
 * service servers).
 *
 * Only what both express the same way is generated: host names and IPv4
 * (HAProxy 2.6 has no host_only converter: `field(1,:)` would cut an IPv6
 * literal), origin-form targets, path regexes without backslashes (HAProxy's
 * unquoted arguments take "\" as an escape).
 */
import { between, chance, pick, type Rng } from "../../fuzz/rng.ts";

export interface RouteSpec {
  hosts?: string[];
  path?: { kind: "path" | "path_exact" | "path_regex"; value: string };
  methods?: string[];
  headers?: [string, string][];
}

export interface RequestSpec {
  method: string;
  /** As sent (case, port, trailing dot); undefined: HTTP/1.0 without Host. */
  host: string | undefined;
  /** Target: path and maybe a query. */
  target: string;
  headers: [string, string][];
}

const EXACT_HOSTS = ["example.com", "www.example.com", "api.example.com", "a.b.example.com", "shop.test", "api.shop.test", "10.0.0.1"];
const WILD_HOSTS = ["*.example.com", "*.b.example.com", "*.shop.test", "*.api.example.com"];
const PREFIXES = ["/", "/v1", "/v1/", "/api", "/api/v2", "/static/", "/a/b", "/A"];
const EXACT_PATHS = ["/robots.txt", "/v1", "/api/", "/a/b/c", "/"];
const REGEXES = ["[.]css$", "^/v[0-9]+/", "^/a/.*/c$", "users"];
const METHOD_SETS = [["GET"], ["POST", "PUT"], ["GET", "HEAD"], ["DELETE"]];
const HEADER_CONDITIONS: [string, string][] = [["X-Tenant", "blue"], ["X-Tenant", "red"], ["X-Debug", "*"]];

export function randomRoutes(r: Rng, n: number): RouteSpec[] {
  const out: RouteSpec[] = [];
  while (out.length < n) {
    const s: RouteSpec = {};
    if (chance(r, 0.75)) {
      const hosts = new Set<string>();
      for (let k = between(r, 1, 3); k > 0; k--) hosts.add(chance(r, 0.35) ? pick(r, WILD_HOSTS) : pick(r, EXACT_HOSTS));
      s.hosts = [...hosts];
    }
    const p = r();
    if (p < 0.4) s.path = { kind: "path", value: pick(r, PREFIXES) };
    else if (p < 0.6) s.path = { kind: "path_exact", value: pick(r, EXACT_PATHS) };
    else if (p < 0.68) s.path = { kind: "path_regex", value: pick(r, REGEXES) };
    if (chance(r, 0.25)) s.methods = pick(r, METHOD_SETS);
    if (chance(r, 0.25)) {
      const h = pick(r, HEADER_CONDITIONS);
      s.headers = [h];
      if (chance(r, 0.3) && h[0] !== "X-Debug") s.headers.push(["X-Debug", "*"]);
    }
    if (s.hosts || s.path || s.methods || s.headers) out.push(s);
  }
  return out;
}

const LABELS = ["x", "www", "deep", "b", "api", "shop"];
const PATHS = ["/", "/v1", "/v1/", "/v1x", "/v1/users", "/v1/users/3", "/v2/users", "/api", "/api/", "/api/v2", "/api/v2/x", "/api/v22",
  "/static/app.css", "/static", "/robots.txt", "/robots.txt/", "/a/b", "/a/b/c", "/a/x/y/c", "/a/bc", "/A/B", "/A", "/v1%2Fusers", "/x.css"];

function randomHost(r: Rng): string {
  const base = chance(r, 0.85) ? pick(r, EXACT_HOSTS) : pick(r, ["nothing.org", "example.com.evil.org", "test", "example.co", "badexample.com"]);
  let h = chance(r, 0.35) && !/^\d/.test(base) ? `${Array.from({ length: between(r, 1, 2) }, () => pick(r, LABELS)).join(".")}.${base}` : base;
  if (chance(r, 0.15)) h = h.toUpperCase();
  if (chance(r, 0.1) && !/^\d/.test(h)) h += ".";
  if (chance(r, 0.2)) h += `:${pick(r, [80, 8080, 443])}`;
  return h;
}

export function randomRequest(r: Rng): RequestSpec {
  const headers: [string, string][] = [];
  const t = r();
  if (t < 0.3) headers.push([pick(r, ["X-Tenant", "x-tenant"]), pick(r, ["blue", "red", "Blue", "green"])]);
  if (t < 0.05) headers.push(["X-Tenant", pick(r, ["blue", "red"])]);
  if (chance(r, 0.25)) headers.push([pick(r, ["X-Debug", "x-debug"]), pick(r, ["1", "", "yes"])]);
  const query = chance(r, 0.2) ? `?${pick(r, ["q=1", "next=/v1/", "a=.css"])}` : "";
  return {
    method: pick(r, ["GET", "GET", "GET", "POST", "PUT", "HEAD", "DELETE", "PATCH"]),
    host: chance(r, 0.03) ? undefined : randomHost(r),
    target: pick(r, PATHS) + query,
    headers,
  };
}

export function requestText(q: RequestSpec): string {
  const lines = [`${q.method} ${q.target} HTTP/1.${q.host === undefined ? 0 : 1}`];
  if (q.host !== undefined) lines.push(`Host: ${q.host}`);
  for (const [n, v] of q.headers) lines.push(`${n}: ${v}`);
  if (q.method === "POST" || q.method === "PUT") lines.push("Content-Length: 0");
  if (q.host === undefined) lines.push("Connection: keep-alive");
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** plb's [[service.route]] tables: route i to backend "be_i". */
export function plbRoutes(specs: RouteSpec[], opts: { tag?: boolean } = {}): string {
  return specs
    .map((s, i) => {
      const lines = ["[[service.route]]"];
      // Tell the server which backend took it, as HAProxy's backends do (http-request set-header).
      if (opts.tag) lines.push(`request_headers = { set = { "X-Backend" = "be_${i}" } }`);
      if (s.hosts) lines.push(`host = ${JSON.stringify(s.hosts)}`);
      if (s.path) lines.push(`${s.path.kind} = ${JSON.stringify(s.path.value)}`);
      if (s.methods) lines.push(`method = ${JSON.stringify(s.methods)}`);
      if (s.headers) lines.push(`header = { ${s.headers.map(([n, v]) => `${JSON.stringify(n)} = ${JSON.stringify(v)}`).join(", ")} }`);
      lines.push(`backend = "be_${i}"`);
      return lines.join("\n");
    })
    .join("\n\n");
}

/**
 * The same routes as HAProxy rules (one named acl per condition; lines of
 * the same acl name are ORed), in a frontend on `port`; every backend sets
 * X-Backend to its name and forwards to the server on `serverPort`.
 */
export function haproxyRoutes(specs: RouteSpec[], port: number, serverPort: number): string {
  const fe = [
    "frontend fe",
    "  mode http",
    `  bind 127.0.0.1:${port}`,
    // The host as plb matches it: without port, lowercased, without a trailing dot.
    "  http-request set-var(txn.host) req.hdr(host),field(1,:),lower,regsub([.]$,)",
  ];
  const backends: string[] = [];
  const backend = (name: string) => backends.push(`backend ${name}`, "  mode http", `  http-request set-header X-Backend ${name}`, `  server s 127.0.0.1:${serverPort}`);
  specs.forEach((s, i) => {
    const acls: string[] = [];
    const acl = (name: string, rule: string) => {
      fe.push(`  acl r${i}_${name} ${rule}`);
      if (!acls.includes(`r${i}_${name}`)) acls.push(`r${i}_${name}`);
    };
    if (s.hosts) {
      const exact = s.hosts.filter((h) => !h.startsWith("*."));
      if (exact.length > 0) acl("host", `var(txn.host) -m str ${exact.join(" ")}`);
      for (const w of s.hosts.filter((h) => h.startsWith("*."))) acl("host", `var(txn.host) -m end ${w.slice(1)}`);
    }
    if (s.path?.kind === "path") {
      const p = s.path.value;
      if (p.endsWith("/")) acl("path", `path_beg ${p}`);
      else {
        acl("path", `path -m str ${p}`);
        acl("path", `path_beg ${p}/`);
      }
    } else if (s.path?.kind === "path_exact") acl("path", `path -m str ${s.path.value}`);
    else if (s.path?.kind === "path_regex") acl("path", `path_reg ${s.path.value}`);
    if (s.methods) acl("method", `method ${s.methods.join(" ")}`);
    (s.headers ?? []).forEach(([n, v], k) => acl(`h${k}`, v === "*" ? `req.fhdr_cnt(${n.toLowerCase()}) gt 0` : `req.fhdr(${n.toLowerCase()}) -m str ${v}`));
    fe.push(`  use_backend be_${i} if ${acls.join(" ")}`);
    backend(`be_${i}`);
  });
  fe.push("  default_backend be_default");
  backend("be_default");
  return [...fe, ...backends].join("\n");
}
