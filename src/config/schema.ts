/**
 * The one table of configuration keys: where each key may appear, its type,
 * default, range and a one-line doc. The loader validates against it, the
 * CLI prints it (`describeKeys`), and a test checks plb.toml.example
 * mentions every key.
 */
import { algorithms } from "../balance/index.ts";
import { formatDuration } from "./duration.ts";

/**
 * Where a key is written. global: top of the file only. service: inside
 * [[service]] (the listener side: addresses, protocol, TLS, client-side
 * limits and timeouts). backend: inside [[backend]] (what belongs to
 * servers), and inside a [[service]] that lists its own `servers` (that
 * service's own backend). server: inside a `servers` inline table.
 * `inherits`: also written at the top as the default of every service or
 * backend.
 */
export type KeyScope = "global" | "service" | "backend" | "server";

/** Longest duration: fits setTimeout (2^31-1 ms). */
export const MAX_DURATION_MS = 24 * 86_400_000;

export type KeyType =
  | { readonly kind: "string"; readonly absolute?: boolean }
  | { readonly kind: "integer"; readonly min: number; readonly max: number }
  /** true or false, or (`also`) one of a few words: h2c = "only". */
  | { readonly kind: "boolean"; readonly also?: readonly string[] }
  | { readonly kind: "enum"; readonly values: readonly string[] }
  /** An origin-form request path: "/healthz". */
  | { readonly kind: "urlpath" }
  /** A listener's TLS: { cert, key } | { certs = [{ cert, key }, …] } | { dir }, plus strict_sni, min_version, ciphers, client_ca, client_verify (src/tls/settings.ts) */
  | { readonly kind: "tls" }
  /** true, or { verify, ca, server_name, cert, key } (checked in server-tls.ts) */
  | { readonly kind: "servertls" }
  /** { 503 = "file.html", … } for the statuses plb answers itself */
  | { readonly kind: "errorpages" }
  /** Milliseconds; `min` 0 allows zero, 1 means "greater than 0". */
  | { readonly kind: "duration"; readonly min: number; readonly max: number }
  | { readonly kind: "loglevel" }
  /** { path = "file" or "-", format = "combined" | "json" | "haproxy" } */
  | { readonly kind: "accesslog" }
  /** A number of worker processes, or "auto" (one per core). */
  | { readonly kind: "workers" }
  | { readonly kind: "name" }
  | { readonly kind: "protocol" }
  | { readonly kind: "listen" }
  | { readonly kind: "servers" }
  | { readonly kind: "balance" }
  | { readonly kind: "address" }
  /** An array of IP ranges: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]. */
  | { readonly kind: "cidrs" }
  /** dns = "name:port", srv = "_service._proto.name" (checked with the rest of the server entry) */
  | { readonly kind: "dns" }
  | { readonly kind: "srv" }
  /** ["10.0.0.2", "[::1]:5353"] */
  | { readonly kind: "nameservers" }
  /** [[service.route]] tables (checked in route.ts) */
  | { readonly kind: "routes" }
  /** { interval, timeout, rise, fall, path, host, expect, reuse, send } (checked in health.ts) */
  | { readonly kind: "health" };

export interface KeyDef {
  readonly name: string;
  readonly scope: KeyScope;
  readonly type: KeyType;
  /** Default as it would be written in TOML; absent keys without one are unset (or required). */
  readonly default?: string | number | boolean;
  readonly required?: boolean;
  readonly doc: string;
  /** Appended to out-of-range messages. */
  readonly rangeHint?: string;
  /** Service or backend keys that only mean something for these protocols. */
  readonly protocols?: readonly string[];
  /** A service or backend key whose default is the global key of the same name. */
  readonly inherits?: boolean;
}

const positive = { kind: "duration", min: 1, max: MAX_DURATION_MS } as const;
const HTTP = ["http"] as const;
const SMTP = ["smtp"] as const;

export const SCHEMA: readonly KeyDef[] = [
  // Global: process.
  { name: "user", scope: "global", type: { kind: "string" }, doc: "User to switch to after binding the listen ports (start as root)." },
  { name: "group", scope: "global", type: { kind: "string" }, doc: "Group to switch to after binding (default: the user's primary group)." },
  { name: "chroot_dir", scope: "global", type: { kind: "string", absolute: true }, doc: "Absolute directory to chroot into after binding (needs root)." },
  { name: "pidfile", scope: "global", type: { kind: "string" }, doc: "File to write the process id to." },
  { name: "logfile", scope: "global", type: { kind: "string" }, doc: 'File to append logs to; "-" or unset: standard error.' },
  { name: "loglevel", scope: "global", type: { kind: "loglevel" }, default: "info", doc: "error, warn, info or debug (or 0-4 as in PLB 0.3)." },
  { name: "timeout_shutdown", scope: "global", type: { kind: "duration", min: 0, max: MAX_DURATION_MS }, default: "10s", doc: "On stop, how long open connections may finish before they are closed." },
  // Stop: announced before the drain (deploy/: keepalived, front balancers).
  { name: "shutdown_delay", scope: "global", type: { kind: "duration", min: 0, max: MAX_DURATION_MS }, default: 0,
    doc: "On stop, keep accepting this long, with /healthz already answering 503, before the drain: a front balancer or keepalived moves clients away first. 0: stop accepting at once." },
  { name: "workers", scope: "global", type: { kind: "workers" }, default: 1, doc: 'Worker processes that accept and relay (Linux; SO_REUSEPORT), "auto" = one per core; 1: a single process.' },
  { name: "backlog", scope: "global", type: { kind: "integer", min: 1, max: 65535 }, default: 511, doc: "Listen queue length for each listen socket." },
  // Global: servers from DNS (servers = [{ dns = "…" }, { srv = "…" }]) and the resolver.
  { name: "nameservers", scope: "global", type: { kind: "nameservers" },
    doc: 'Nameservers plb asks (UDP, TCP for long answers): ["10.0.0.2", "[fd00::53]:5353"]; unset: those of /etc/resolv.conf, read at start.' },
  { name: "dns_min_ttl", scope: "global", type: { kind: "duration", min: 100, max: MAX_DURATION_MS }, default: "1s",
    doc: "Servers from DNS are re-resolved at the answer's TTL, but not sooner than this (also the first retry after a failed answer)." },
  { name: "dns_max_ttl", scope: "global", type: positive, default: "5m", doc: "…and not later than this (also the longest wait between retries)." },
  // Global defaults a service may override.
  { name: "server_retry", scope: "backend", inherits: true, type: { kind: "integer", min: 1, max: 1000 }, default: 3, doc: "Consecutive failures (connect errors, timeouts) that mark a server down." },
  { name: "timeout_connect", scope: "backend", inherits: true, type: positive, default: "2s", doc: "Time allowed to connect to a server (a timeout counts as a failure)." },
  { name: "timeout_client", scope: "service", inherits: true, type: positive, default: "60s", doc: "Idle time allowed on the client side of a connection." },
  { name: "timeout_server", scope: "backend", inherits: true, type: positive, default: "60s", doc: "Idle time allowed on the server side of a connection." },
  { name: "maxconn", scope: "service", inherits: true, type: { kind: "integer", min: 0, max: 10_000_000 }, default: 0,
    doc: "Most client connections open at once (globally; per service when set in a [[service]]); above it new clients wait in the listen queue. 0: what the open-file limit allows, (limit - 64) / 2." },
  { name: "timeout_cleanup", scope: "backend", inherits: true, type: positive, default: "10s", doc: "How often servers that are down are probed to bring them back." },
  { name: "slowstart", scope: "backend", inherits: true, type: { kind: "duration", min: 0, max: MAX_DURATION_MS }, default: 0,
    doc: "A server back from down or maintenance (or added by a reload) ramps its weight from 5% to full over this time (HAProxy's slowstart; not at start); 0: off." },
  // [[service]]
  { name: "name", scope: "service", type: { kind: "name" }, required: true, doc: "Unique name of the service (or the backend) for logs, metrics and the admin API: letters, digits, '_', '.', '-'." },
  { name: "protocol", scope: "service", type: { kind: "protocol" }, default: "tcp", doc: 'Protocol relayed: "tcp" (bytes), "http" (per request) or "smtp" (after a good greeting).' },
  { name: "listen", scope: "service", type: { kind: "listen" }, required: true, doc: 'Addresses to accept clients on: "127.0.0.1:8080", "[::1]:8080", "*:8080".' },
  { name: "backend", scope: "service", type: { kind: "name" },
    doc: 'The [[backend]] (by name) that takes this service\'s clients; instead of servers = [...] in the service, which makes it a backend of its own, named after the service.' },
  { name: "servers", scope: "backend", type: { kind: "servers" },
    doc: 'Servers to relay to: "host:port" or { address, weight, backup }, or from DNS: { dns = "name:port" } or { srv = "_service._proto.name" }.' },
  { name: "balance", scope: "backend", type: { kind: "balance" }, default: "roundrobin", doc: "Balancing algorithm choosing a server for each client connection." },
  { name: "client_address", scope: "backend", type: { kind: "enum", values: ["none", "proxy-v1", "proxy-v2", "xclient"] }, default: "none",
    doc: 'Tell servers the client address: "proxy-v1"/"proxy-v2" (PROXY protocol header), "xclient" (SMTP only), or "none".' },
  // [[service]] behind a front balancer (PROXY protocol on the listen addresses)
  { name: "accept_proxy", scope: "service", type: { kind: "boolean" }, default: false,
    doc: "Clients arrive through a front balancer that starts each connection with a PROXY v1 or v2 header (HAProxy send-proxy, a cloud network LB, plb's client_address = \"proxy-v2\"): the address it carries is the client's. Needs proxy_from; not with tls." },
  { name: "proxy_from", scope: "service", type: { kind: "cidrs" },
    doc: 'With accept_proxy: the balancers allowed to send the header, ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]; connections from anywhere else are closed (required: ["0.0.0.0/0", "::/0"] trusts anyone).' },
  { name: "timeout_proxy_header", scope: "service", type: positive, default: "3s",
    doc: "With accept_proxy: time a connection has to send its whole PROXY header; after it the connection is closed." },
  // [[service]] with protocol = "smtp"
  { name: "timeout_smtp_greeting", scope: "backend", protocols: SMTP, type: positive, default: "10s",
    doc: "Time a server has to greet (220) before plb tries the next one." },
  { name: "starttls", scope: "service", protocols: SMTP, type: { kind: "tls" },
    doc: 'Offer STARTTLS and terminate it at plb: { cert = "cert.pem", key = "key.pem" } (the forms of tls; not with tls). plb answers STARTTLS itself, the servers stay plain; nothing the client sends after STARTTLS before the handshake is relayed.' },
  { name: "require_tls", scope: "service", protocols: SMTP, type: { kind: "boolean" }, default: false,
    doc: "With starttls: before STARTTLS, MAIL FROM and every other command but EHLO, HELO, NOOP, RSET and QUIT get 530 5.7.0 (RFC 3207)." },
  // [[service]] with protocol = "http"
  { name: "forwarded_for", scope: "service", protocols: HTTP, type: { kind: "enum", values: ["append", "replace", "off"] }, default: "append",
    doc: 'X-Forwarded-For: "append" the client address to it, "replace" it, or "off" (leave it alone).' },
  { name: "forwarded", scope: "service", protocols: HTTP, type: { kind: "boolean" }, default: false, doc: "Also add an RFC 7239 Forwarded field (for, proto, host)." },
  { name: "max_body", scope: "service", protocols: HTTP, type: { kind: "integer", min: 0, max: Number.MAX_SAFE_INTEGER }, default: 0, doc: "Largest request body in bytes (413 above it); 0: no limit." },
  { name: "max_request_line", scope: "service", protocols: HTTP, type: { kind: "integer", min: 64, max: 1048576 }, default: 8192, doc: "Longest request line in bytes (414 above it)." },
  { name: "max_header_size", scope: "service", protocols: HTTP, type: { kind: "integer", min: 256, max: 1048576 }, default: 16384, doc: "Largest request head in bytes (431 above it)." },
  { name: "max_headers", scope: "service", protocols: HTTP, type: { kind: "integer", min: 1, max: 10000 }, default: 100, doc: "Most header fields in a request (431 above it)." },
  { name: "timeout_http_request", scope: "service", protocols: HTTP, type: positive, default: "10s",
    doc: "Time to receive a whole request head, from its first byte (on a kept-alive connection from the end of the previous response; an idle one is then closed): 408 after it." },
  { name: "min_body_rate", scope: "service", protocols: HTTP, type: { kind: "integer", min: 0, max: 1 << 30 }, default: 500,
    doc: "Bytes per second a request body must average from its first byte, after a grace of timeout_http_request (time plb holds the client back excluded): 408 below it; 0: off." },
  { name: "http2", scope: "service", protocols: HTTP, type: { kind: "boolean" }, default: true,
    doc: "TLS listeners offer HTTP/2 (ALPN h2, then http/1.1); false: HTTP/1.1 only. Each h2 stream is one request to the same routes and backends (README: HTTP/2)." },
  { name: "h2c", scope: "service", protocols: HTTP, type: { kind: "boolean", also: ["only"] }, default: false,
    doc: 'Plain listeners also take HTTP/2 with prior knowledge (a client that starts with the h2 preface); HTTP/1 clients are served as before. "only": plain listeners speak h2 alone (HAProxy\'s proto h2; gRPC). The Upgrade: h2c dance is not offered (deprecated by RFC 9113).' },
  { name: "h2_max_concurrent_streams", scope: "service", protocols: HTTP, type: { kind: "integer", min: 1, max: 10000 }, default: 100,
    doc: "HTTP/2: streams a client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused (REFUSED_STREAM)." },
  { name: "h2_initial_window_size", scope: "service", protocols: HTTP, type: { kind: "integer", min: 16384, max: 2147483647 }, default: 65535,
    doc: "HTTP/2: request body bytes a stream may send before plb has passed them on to the server (its flow-control window); the connection's window is 4 times this, or 1 MiB, whichever is more." },
  { name: "h2_max_frame_size", scope: "service", protocols: HTTP, type: { kind: "integer", min: 16384, max: 16777215 }, default: 16384,
    doc: "HTTP/2: the largest frame payload plb accepts (SETTINGS_MAX_FRAME_SIZE)." },
  { name: "pool_max_idle", scope: "backend", protocols: HTTP, type: { kind: "integer", min: 0, max: 100000 }, default: 256, doc: "Idle keep-alive connections kept per server for reuse (0: none)." },
  { name: "timeout_pool_idle", scope: "backend", protocols: HTTP, type: positive, default: "1500ms",
    doc: "How long an idle pooled server connection is kept (less when the server announces Keep-Alive: timeout=N: 3/4 of it)." },
  { name: "server_protocol", scope: "backend", protocols: HTTP, type: { kind: "enum", values: ["http/1.1", "h2"] }, default: "http/1.1",
    doc: 'What plb speaks to the servers: "http/1.1", or "h2" (HTTP/2: with server_tls by ALPN h2, else h2c with prior knowledge; requests are streams multiplexed over few connections per server; gRPC passes end to end).' },
  { name: "h2_max_connections", scope: "backend", protocols: HTTP, type: { kind: "integer", min: 1, max: 1000 }, default: 4,
    doc: "With server_protocol = \"h2\": most connections per server; another is opened only when the others carry as many streams as the server allows (its SETTINGS_MAX_CONCURRENT_STREAMS)." },
  { name: "fail_on_5xx", scope: "backend", protocols: HTTP, type: { kind: "boolean" }, default: false, doc: "Count 5xx answers as server failures (toward server_retry)." },
  { name: "access_log", scope: "service", type: { kind: "accesslog" },
    doc: 'A line per request (http) or session (tcp, smtp): { path = "/var/log/plb/web.log" ("-": stderr), format = "combined" (http) | "json" | "haproxy" }.' },
  { name: "health_path", scope: "backend", protocols: HTTP, type: { kind: "urlpath" },
    doc: 'Probe down servers with "GET <path>" and require a 2xx or 3xx answer (default: a TCP connect); with health, its path unless health.path is set.' },
  { name: "health", scope: "backend", type: { kind: "health" },
    doc: 'Check every server, up or down: { interval = "2s", timeout = "1s", rise = 2, fall = 3 } plus http: path, host, expect ("2xx", [200, 204], { body = "ok" }), reuse (keep the connection for the next check; true), or grpc = true (server_protocol = "h2": the standard grpc.health.v1.Health/Check, up when SERVING) with service = "name"; tcp: send, expect (a string). Unset: only down servers are probed, every timeout_cleanup.' },
  { name: "tls", scope: "service", type: { kind: "tls" },
    doc: 'Terminate TLS on the listen addresses (http; tcp and smtp: implicit TLS): { cert, key }, { certs = [{ cert, key }, …] } (a certificate per name, by SNI) or { dir = "/etc/plb/certs" }; strict_sni, min_version ("1.2" | "1.3"), ciphers (TLS 1.2), client_ca, client_verify ("required" | "optional") (README: TLS).' },
  { name: "server_tls", scope: "backend", type: { kind: "servertls" },
    doc: 'TLS to the servers (traffic, probes, checks): true, or { verify = true, ca = "ca.pem", server_name = "app.internal", cert = "client.pem", key = "client.key" }; verified against ca or the system\'s roots; SNI server_name, else the server\'s host name or DNS name (none for an IP).' },
  { name: "error_pages", scope: "service", protocols: HTTP, type: { kind: "errorpages" },
    doc: 'Bodies for the answers plb gives itself, from files: { 503 = "/etc/plb/503.html" } (sent as text/html).' },
  { name: "hash_header", scope: "backend", protocols: HTTP, type: { kind: "string" }, doc: "Header whose value the `header` algorithm hashes (e.g. X-Tenant)." },
  { name: "route", scope: "service", protocols: ["http", "tcp"], type: { kind: "routes" },
    doc: "[[service.route]] tables: conditions (host, path, path_exact, path_regex, method, header) and actions (backend, redirect, respond, strip_prefix, add_prefix, request_headers, response_headers); the first match in file order wins (README: Routes). tcp: sni = \"name\" or [\"a\", \"*.b\"] and backend, TLS passthrough by the ClientHello's name (README: TLS passthrough by name)." },
  { name: "request_id", scope: "service", protocols: HTTP, type: { kind: "boolean" }, default: false,
    doc: "Add X-Request-Id (a random UUID) to requests that have none; servers and the access log get it." },
  // servers = [ { … } ]
  { name: "address", scope: "server", type: { kind: "address" }, doc: 'Server address: "10.0.0.2:80", "[::1]:80", "db.example:5432" (each entry has address, dns or srv).' },
  { name: "weight", scope: "server", type: { kind: "integer", min: 1, max: 256 }, default: 1, doc: "Relative share of connections (1-256; to drain a server, remove it or mark it backup).",
    rangeHint: "0 is not allowed: to stop sending connections to a server, remove it or mark it backup = true" },
  { name: "backup", scope: "server", type: { kind: "boolean" }, default: false, doc: "Used only while every non-backup server is down." },
  { name: "dns", scope: "server", type: { kind: "dns" },
    doc: 'Instead of address: "name:port"; every A and AAAA address of name is a server on port, re-resolved at the TTL (weight and backup apply to each).' },
  { name: "srv", scope: "server", type: { kind: "srv" },
    doc: 'Instead of address: "_service._proto.name"; each SRV target is a server with its port and weight, the lowest priority primaries and the others backups.' },
];

export function keyDef(name: string): KeyDef | undefined {
  return SCHEMA.find((k) => k.name === name);
}

/**
 * Names of the keys allowed in a table: "global" the top of the file (with
 * the defaults services and backends inherit), "service" a [[service]] that
 * names a backend, "backend" a [[backend]] (with its name), "server" an
 * entry of `servers`. A [[service]] with its own servers takes both
 * service and backend keys.
 */
export function keysFor(scope: KeyScope): readonly string[] {
  const named = scope === "backend" ? ["name"] : [];
  return [...named, ...SCHEMA.filter((k) => k.scope === scope || (scope === "global" && k.inherits === true)).map((k) => k.name)];
}

function typeText(t: KeyType): string {
  switch (t.kind) {
    case "integer":
      return `integer ${t.min}-${t.max}`;
    case "duration":
      return t.min === 0 ? "duration >= 0" : t.min === 1 ? "duration > 0" : `duration >= ${formatDuration(t.min)}`;
    case "string":
      return t.absolute ? "absolute path" : "string";
    case "listen":
      return "array of addresses";
    case "servers":
      return "array of servers";
    case "loglevel":
      return "name or 0-4";
    case "workers":
      return 'integer or "auto"';
    case "accesslog":
      return "{ path, format }";
    case "name":
    case "protocol":
    case "balance":
      return "string";
    case "address":
    case "dns":
      return "host:port";
    case "cidrs":
      return "array of IP ranges";
    case "srv":
      return "SRV name";
    case "nameservers":
      return "array of IP[:port]";
    case "routes":
      return "array of routes";
    case "boolean":
      return t.also ? ["boolean", ...t.also.map((w) => JSON.stringify(w))].join(" | ") : "boolean";
    case "enum":
      return t.values.join(" | ");
    case "urlpath":
      return "path";
    case "tls":
      return "{ cert, key } | { certs } | { dir }";
    case "errorpages":
      return "{ status = file }";
    case "servertls":
      return "true | { verify, ca, … }";
    case "health":
      return "{ interval, rise, fall, … }";
  }
}

function defaultText(k: KeyDef, inTable: boolean): string {
  if (k.required) return "required";
  if (inTable && k.inherits) return "(global)";
  if (k.default === undefined) return "unset";
  return typeof k.default === "string" ? JSON.stringify(k.default) : String(k.default);
}

/** Human-readable key reference (for `plb --help-config` or similar). */
export function describeKeys(): string {
  const sections: [string, KeyScope][] = [
    ["Global keys (top of the file, before the first [[service]]; those marked (global) below take their default from here):", "global"],
    ["[[service]] keys (listen addresses, protocol, TLS, client-side limits and timeouts):", "service"],
    ["[[backend]] keys (a named set of servers; also allowed in a [[service]] that lists its own servers):", "backend"],
    ['Server entries (servers = ["host:port", { address = "host:port", weight = 2, backup = true }, { dns = "name:port" }, { srv = "_http._tcp.name" }]):', "server"],
  ];
  const out: string[] = [];
  for (const [title, scope] of sections) {
    const names = keysFor(scope);
    const keys = names.map((n) => SCHEMA.find((k) => k.name === n)!);
    const rows = keys.map((k) => [k.name, typeText(k.type), defaultText(k, scope !== "global"), k.doc]);
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    const w2 = Math.max(...rows.map((r) => r[2].length));
    out.push(title);
    for (const r of rows) out.push(`  ${r[0].padEnd(w0)}  ${r[1].padEnd(w1)}  ${r[2].padEnd(w2)}  ${r[3]}`);
    out.push("");
  }
  if (algorithms.length > 0) {
    const w = Math.max(...algorithms.map((a) => a.name.length));
    out.push("Balancing algorithms (balance = \"…\"):");
    for (const a of algorithms) out.push(`  ${a.name.padEnd(w)}  ${a.description}`);
    out.push("");
  }
  out.push(`Durations: seconds (2, 0.5) or strings "500ms", "2s", "1m", "1h", "1d" (at most ${formatDuration(MAX_DURATION_MS)}).`);
  return out.join("\n");
}
