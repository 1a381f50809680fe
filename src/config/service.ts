/** Validation of one [[service]] table: its keys, `listen` and `servers`. */
import { findAlgorithm } from "../balance/index.ts";
import { isIP } from "node:net";
import { parseCidr } from "../net/cidr.ts";
import { isHostName, parseListen, parseServerAddress } from "./address.ts";
import { describeValue } from "./describe.ts";
import { type Diagnostic, serviceLabel, suggestion } from "./diagnostics.ts";
import { checkHealth } from "./health.ts";
import type { AccessLogConfig } from "./types.ts";
import type { SourceIndex } from "./locate.ts";
import { keyDef, keysFor, SCHEMA, type KeyDef } from "./schema.ts";
import type { ClientAddressMode, DnsSource, HttpSettings, SmtpSettings, ListenAddress, ServerConfig, ServiceConfig, Timeouts } from "./types.ts";
import { checkValue } from "./values.ts";

export interface ServiceContext {
  /** 0-based [[service]] number. */
  readonly index: number;
  readonly source: SourceIndex;
  /** Resolved global values the service inherits. */
  readonly defaults: Timeouts;
  readonly report: (d: Diagnostic) => void;
}

type Table = Record<string, unknown>;

export function isTable(v: unknown): v is Table {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

const SERVICE_KEYS = keysFor("service");
const SERVER_KEYS = keysFor("server");
const GLOBAL_ONLY = SCHEMA.filter((k) => k.scope === "global").map((k) => k.name);

export interface CheckedService {
  /** Undefined when the service had problems (already reported). */
  readonly config: ServiceConfig | undefined;
  readonly name: string | undefined;
  /** listen[j] when it parsed (undefined when not), for overlap checks even when other keys failed. */
  readonly listen: readonly (ListenAddress | undefined)[];
}

/** Validates one [[service]] table, reporting every problem through `ctx.report`. */
export function checkService(input: unknown, ctx: ServiceContext): CheckedService {
  const { index, source } = ctx;
  let failed = false;
  const at = (key?: string, element?: number) => source.line({ service: index, key, index: element });
  if (!isTable(input)) {
    ctx.report({ path: "", line: at(), message: `service[${index}] must be a table, got ${describeValue(input)}` });
    return { config: undefined, name: undefined, listen: [] };
  }
  const raw: Table = input;
  const service = serviceLabel(raw.name, index);
  const report = (path: string, message: string, line: number | undefined): void => {
    failed = true;
    ctx.report({ path, service, line, message });
  };

  for (const key of Object.keys(raw)) {
    if (SERVICE_KEYS.includes(key)) continue;
    if (GLOBAL_ONLY.includes(key)) {
      report(key, `${JSON.stringify(key)} is a global setting and cannot be set per service (move it above the first [[service]])`, at(key));
    } else {
      report(key, `unknown key ${JSON.stringify(key)}${suggestion(key, SERVICE_KEYS)}`, at(key));
    }
  }

  const value = (name: string): unknown => {
    const def = keyDef(name) as KeyDef;
    if (!Object.hasOwn(raw, name)) {
      if (def.required) report(name, `missing required key ${JSON.stringify(name)}`, at());
      if (def.scope === "both") return ctx.defaults[name as keyof Timeouts];
      // Defaults are trusted: "roundrobin" is not looked up, so an empty registry still loads.
      return def.type.kind === "balance" ? def.default : def.default === undefined ? undefined : unwrap(checkValue(def, def.default));
    }
    const checked = checkValue(def, raw[name]);
    if (checked.ok) return checked.value;
    report(name, checked.error, at(name));
    return undefined;
  };

  const name = value("name") as string;
  const protocol = value("protocol") as ServiceConfig["protocol"];
  for (const def of SCHEMA) {
    if (def.protocols && Object.hasOwn(raw, def.name) && typeof protocol === "string" && !def.protocols.includes(protocol)) {
      report(def.name, `${JSON.stringify(def.name)} applies to protocol ${def.protocols.map((p) => JSON.stringify(p)).join(" or ")} only (this service is ${JSON.stringify(protocol)})`, at(def.name));
    }
  }
  const settingsOf = (p: string) => Object.fromEntries(SCHEMA.filter((d) => d.protocols?.includes(p)).map((d) => [d.name, value(d.name)]));
  const http = settingsOf("http") as unknown as HttpSettings;
  const smtp = settingsOf("smtp") as unknown as SmtpSettings;
  const client_address = value("client_address") as ClientAddressMode;
  if (client_address === "xclient" && protocol !== "smtp") {
    report("client_address", `client_address = "xclient" needs protocol = "smtp" (use "proxy-v1" or "proxy-v2" for ${JSON.stringify(protocol)})`, at("client_address"));
  }
  const accept_proxy = value("accept_proxy") as boolean;
  const timeout_proxy_header = value("timeout_proxy_header") as number;
  const proxy_from = checkAcceptProxy(raw, accept_proxy, http, report, at);
  const balance = value("balance") as string;
  checkHashing(raw, balance, protocol, http, report, at);
  const timeouts = {
    server_retry: value("server_retry") as number,
    timeout_connect: value("timeout_connect") as number,
    timeout_client: value("timeout_client") as number,
    timeout_server: value("timeout_server") as number,
    timeout_cleanup: value("timeout_cleanup") as number,
    maxconn: value("maxconn") as number,
    slowstart: value("slowstart") as number,
  };
  const listen = Object.hasOwn(raw, "listen") ? checkListen(raw.listen, report, at) : (value("listen"), []);
  const { servers, discover } = Object.hasOwn(raw, "servers") ? checkServers(raw.servers, report, at) : (value("servers"), { servers: [], discover: [] });

  const log = value("access_log") as { path: string; format: string | undefined } | undefined;
  if (log?.format === "combined" && protocol !== "http") {
    report("access_log", `access_log.format = "combined" is for http requests; a ${protocol} service logs sessions: use "haproxy" or "json"`, at("access_log"));
  }
  const health = Object.hasOwn(raw, "health") && typeof protocol === "string"
    ? checkHealth(raw.health, protocol, http.health_path, (m) => report("health", m, at("health")))
    : undefined;
  const access_log = log && { path: log.path, format: (log.format ?? (protocol === "http" ? "combined" : "haproxy")) as AccessLogConfig["format"] };
  const config = failed
    ? undefined
    : { name, protocol, client_address, http, smtp, listen: listen as ListenAddress[], servers, discover, balance, access_log, accept_proxy, proxy_from, timeout_proxy_header, health, ...timeouts };
  return { config, name: typeof raw.name === "string" ? raw.name : undefined, listen };
}

/** A header field name: one or more tchar (RFC 9110 §5.6.2). */
const FIELD_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * What the per-request hashing algorithms need: protocol = "http" (the key is
 * read from the request), and for `header` a valid `hash_header`.
 */
function checkHashing(raw: Table, balance: unknown, protocol: unknown, http: HttpSettings, report: Report, at: At): void {
  const name = http.hash_header;
  if (typeof name === "string" && !FIELD_NAME_RE.test(name)) {
    report("hash_header", `hash_header must be a header field name (letters, digits and !#$%&'*+-.^_\`|~), got ${JSON.stringify(name)}`, at("hash_header"));
  }
  const hashes = typeof balance === "string" ? findAlgorithm(balance)?.hashes : undefined;
  if (hashes === undefined || typeof protocol !== "string") return;
  if (protocol !== "http") {
    report("balance", `balance ${JSON.stringify(balance)} needs protocol = "http" (this service is ${JSON.stringify(protocol)})`, at("balance"));
  } else if (hashes === "header" && !Object.hasOwn(raw, "hash_header")) {
    report("balance", `balance ${JSON.stringify(balance)} needs hash_header, the header whose value is hashed (e.g. hash_header = "X-Tenant")`, at("balance"));
  }
}

/**
 * accept_proxy needs proxy_from and cannot work with tls (the header comes
 * before the TLS handshake, which Bun's TLS listener starts on the first
 * bytes); proxy_from and timeout_proxy_header mean nothing without it.
 * Returns proxy_from's ranges, canonical ([] when absent).
 */
function checkAcceptProxy(raw: Table, accept: boolean | undefined, http: HttpSettings, report: Report, at: At): string[] {
  const from = Object.hasOwn(raw, "proxy_from") ? checkRanges(raw.proxy_from, report, at) : [];
  if (accept === undefined) return from; // not a boolean: reported already
  if (!accept) {
    for (const k of ["proxy_from", "timeout_proxy_header"]) {
      if (Object.hasOwn(raw, k)) report(k, `${k} applies only with accept_proxy = true`, at(k));
    }
    return from;
  }
  if (!Object.hasOwn(raw, "proxy_from")) {
    report("accept_proxy", 'accept_proxy = true needs proxy_from, the addresses of the front balancers allowed to send PROXY headers (e.g. proxy_from = ["10.0.0.0/8"]; ["0.0.0.0/0", "::/0"] trusts anyone)', at("accept_proxy"));
  }
  if (http.tls !== undefined) {
    report("accept_proxy", 'accept_proxy cannot be combined with tls: the PROXY header comes before the TLS handshake, and plb\'s TLS listener starts the handshake on the first bytes (terminate TLS on the front balancer, or relay it with protocol = "tcp")', at("accept_proxy"));
  }
  return from;
}

/** proxy_from: a non-empty array of IP ranges, each reported on its own line. */
function checkRanges(v: unknown, report: Report, at: At): string[] {
  if (!Array.isArray(v)) {
    const hint = typeof v === "string" ? ` (write proxy_from = [${JSON.stringify(v)}])` : "";
    report("proxy_from", `proxy_from must be an array of IP ranges, got ${describeValue(v)}${hint}`, at("proxy_from"));
    return [];
  }
  if (v.length === 0) report("proxy_from", 'proxy_from must not be empty: give the front balancers\' addresses (e.g. ["10.0.0.0/8"])', at("proxy_from"));
  const out: string[] = [];
  v.forEach((item, j) => {
    const path = `proxy_from[${j}]`;
    if (typeof item !== "string") return report(path, `${path} must be a string, got ${describeValue(item)}`, at("proxy_from", j));
    const c = parseCidr(item);
    if (typeof c === "string") return report(path, `${path}: ${c}`, at("proxy_from", j));
    out.push(c.text);
  });
  return out;
}

function unwrap(c: ReturnType<typeof checkValue>): unknown {
  if (!c.ok) throw new Error(`schema default is invalid: ${c.error}`);
  return c.value;
}

type Report = (path: string, message: string, line: number | undefined) => void;
type At = (key?: string, element?: number) => number | undefined;

function checkListen(v: unknown, report: Report, at: At): (ListenAddress | undefined)[] {
  if (typeof v === "string") {
    report("listen", `listen must be an array of strings, got ${describeValue(v)} (write listen = [${JSON.stringify(v)}])`, at("listen"));
    return [];
  }
  if (!Array.isArray(v)) {
    report("listen", `listen must be an array of strings, got ${describeValue(v)}`, at("listen"));
    return [];
  }
  if (v.length === 0) report("listen", "listen must not be empty: give at least one address to accept clients on", at("listen"));
  return v.map((item, j) => {
    const path = `listen[${j}]`;
    if (typeof item !== "string") return void report(path, `${path} must be a string, got ${describeValue(item)}`, at("listen", j));
    const parsed = parseListen(item);
    if (typeof parsed !== "string") return parsed;
    report(path, `${path}: ${parsed}`, at("listen", j));
    return undefined;
  });
}

function checkServers(v: unknown, report: Report, at: At): { servers: ServerConfig[]; discover: DnsSource[] } {
  const servers: ServerConfig[] = [];
  const discover: DnsSource[] = [];
  if (!Array.isArray(v)) {
    const hint = typeof v === "string" ? ` (write servers = [${JSON.stringify(v)}])` : "";
    report("servers", `servers must be an array, got ${describeValue(v)}${hint}`, at("servers"));
    return { servers, discover };
  }
  if (v.length === 0) {
    report("servers", "servers must not be empty: give at least one server to relay to", at("servers"));
    return { servers, discover };
  }
  const seen = new Map<string, number>();
  let bad = false;
  v.forEach((item, j) => {
    const path = `servers[${j}]`;
    const line = at("servers", j);
    const fail = (message: string): void => {
      bad = true;
      report(path, `${path}: ${message}`, line);
    };
    const entry = checkServer(item, fail, servers.length);
    if (!entry) return;
    const id = "kind" in entry ? entry.key : `${entry.host.toLowerCase()}:${entry.port}`;
    const first = seen.get(id);
    if (first !== undefined) {
      const what = "kind" in entry ? `${entry.kind} = ${JSON.stringify(entry.kind === "dns" ? `${entry.name}:${entry.port}` : entry.name)}` : entry.address;
      return fail(`duplicate of servers[${first}] (${what}): list a server once and raise its weight instead`);
    }
    seen.set(id, j);
    if ("kind" in entry) discover.push(entry);
    else servers.push(entry);
  });
  // An SRV answer may hold primaries whatever its entry says about backups.
  if (!bad && servers.every((s) => s.backup) && discover.every((d) => d.backup)) {
    report("servers", "servers: every server is a backup; at least one must have backup = false", at("servers"));
  }
  return { servers, discover };
}

const ENTRY_KEYS = ["address", "dns", "srv"] as const;

/** One `servers` entry: a configured server, or a DNS source whose servers come after `before` configured ones. */
function checkServer(entry: unknown, fail: (message: string) => void, before: number): ServerConfig | DnsSource | undefined {
  if (typeof entry === "string") {
    const hp = parseServerAddress(entry);
    if (typeof hp === "string") return void fail(hp);
    return { address: entry, host: hp.host, port: hp.port, weight: 1, backup: false };
  }
  if (!isTable(entry)) {
    return void fail(`must be a "host:port" string or a table { address = "host:port", weight = 1 } (or { dns = "name:port" }, { srv = "_service._proto.name" }), got ${describeValue(entry)}`);
  }
  const item: Table = entry;
  let ok = true;
  const problem = (message: string): void => {
    ok = false;
    fail(message);
  };
  for (const key of Object.keys(item)) {
    if (!SERVER_KEYS.includes(key)) problem(`unknown key ${JSON.stringify(key)}${suggestion(key, SERVER_KEYS)}`);
  }
  const field = (name: string): unknown => {
    const def = keyDef(name) as KeyDef;
    if (!Object.hasOwn(item, name)) return def.default;
    const c = checkValue(def, item[name]);
    if (!c.ok) problem(c.error);
    return c.ok ? c.value : undefined;
  };
  const given = ENTRY_KEYS.filter((k) => Object.hasOwn(item, k));
  if (given.length === 0) return void problem('missing required key "address" (or "dns" / "srv" for servers from DNS)');
  if (given.length > 1) return void problem(`give one of ${given.map((k) => JSON.stringify(k)).join(" and ")}, not both`);
  const kind = given[0]!;
  const text = item[kind];
  if (typeof text !== "string") return void problem(`${kind} must be a string, got ${describeValue(text)}`);
  if (kind === "address") {
    const parsed = parseServerAddress(text);
    if (typeof parsed === "string") problem(parsed);
    const weight = field("weight") as number;
    const backup = field("backup") as boolean;
    if (!ok || typeof parsed === "string") return undefined;
    return { address: text, host: parsed.host, port: parsed.port, weight, backup };
  }
  const weight = field("weight") as number;
  const backup = field("backup") as boolean;
  if (kind === "dns") {
    const parsed = parseServerAddress(text);
    if (typeof parsed === "string") return void problem(`dns: ${parsed}`);
    if (isIP(parsed.host) !== 0) return void problem(`dns = ${JSON.stringify(text)} names an IP address, not a name to resolve: write address = ${JSON.stringify(text)}`);
    if (!ok) return undefined;
    const name = parsed.host.toLowerCase();
    return { kind, key: `dns ${name}:${parsed.port}`, name, port: parsed.port, weight, backup, at: before };
  }
  if (Object.hasOwn(item, "weight")) return void problem("srv: the SRV records give each server its weight (leave weight out)");
  const name = text.toLowerCase();
  if (/:\d+$/.test(name)) return void problem(`srv = ${JSON.stringify(text)}: an SRV name has no port (its records give them); for a name and a port, use dns = ${JSON.stringify(text)}`);
  if (!isHostName(name)) return void problem(`srv: invalid name ${JSON.stringify(text)} (expected "_service._proto.name", e.g. "_http._tcp.web.service.consul")`);
  if (!ok) return undefined;
  return { kind, key: `srv ${name}`, name, port: 0, weight: 1, backup, at: before };
}
