/**
 * Validation of one [[service]] table: its keys and `listen`. A service
 * names its backend (`backend = "NAME"`) or lists its own `servers` with
 * the backend keys beside them: its own backend, named after it
 * (config/backend.ts reads those).
 */
import { parseCidr } from "../net/cidr.ts";
import { parseListen } from "./address.ts";
import { BACKEND_KEYS, type BackendDraft, readBackend } from "./backend.ts";
import { describeValue } from "./describe.ts";
import { type Diagnostic, serviceLabel, suggestion } from "./diagnostics.ts";
import type { SourceIndex } from "./locate.ts";
import { keyDef, keysFor, SCHEMA, type KeyDef } from "./schema.ts";
import { checkRoutes } from "./route.ts";
import { type At, isTable, type Report, type Table } from "./table.ts";
import type { AccessLogConfig, HttpSettings, ListenAddress, ServiceConfig, Timeouts } from "./types.ts";
import { checkValue } from "./values.ts";

export { isTable } from "./table.ts";

export interface ServiceContext {
  /** 0-based [[service]] number. */
  readonly index: number;
  readonly source: SourceIndex;
  /** Resolved global values the service (and its own backend) inherits. */
  readonly defaults: Timeouts;
  readonly report: (d: Diagnostic) => void;
}

const SERVICE_KEYS = keysFor("service");
const OWN_BACKEND_KEYS = [...SERVICE_KEYS, ...BACKEND_KEYS];
const GLOBAL_ONLY = SCHEMA.filter((k) => k.scope === "global").map((k) => k.name);

export interface CheckedService {
  /** Undefined when the service had problems (already reported). */
  readonly config: ServiceConfig | undefined;
  readonly name: string | undefined;
  /** listen[j] when it parsed (undefined when not), for overlap checks even when other keys failed. */
  readonly listen: readonly (ListenAddress | undefined)[];
  /** Its own backend (servers = [...] in the service), when it lists servers. */
  readonly own: BackendDraft | undefined;
  /** Where its `backend` key is, for problems found once every backend is known. */
  readonly at: At;
  readonly label: string;
}

/** Validates one [[service]] table, reporting every problem through `ctx.report`. */
export function checkService(input: unknown, ctx: ServiceContext): CheckedService {
  const { index, source } = ctx;
  let failed = false;
  const at: At = (key, element) => source.line({ service: index, key, index: element });
  if (!isTable(input)) {
    ctx.report({ path: "", line: at(), message: `service[${index}] must be a table, got ${describeValue(input)}` });
    return { config: undefined, name: undefined, listen: [], own: undefined, at, label: `service[${index}]` };
  }
  const raw: Table = input;
  const service = serviceLabel(raw.name, index);
  const report: Report = (path, message, line) => {
    failed = true;
    ctx.report({ path, service, line, message });
  };
  const ownServers = Object.hasOwn(raw, "servers");
  const named = Object.hasOwn(raw, "backend");
  const allowed = ownServers ? OWN_BACKEND_KEYS : SERVICE_KEYS;

  for (const key of Object.keys(raw)) {
    if (allowed.includes(key)) continue;
    if (GLOBAL_ONLY.includes(key)) {
      report(key, `${JSON.stringify(key)} is a global setting and cannot be set per service (move it above the first [[service]])`, at(key));
    } else if (BACKEND_KEYS.includes(key)) {
      const which = typeof raw.backend === "string" ? `backend ${JSON.stringify(raw.backend)}` : "the backend";
      report(key, `${JSON.stringify(key)} belongs to the servers: set it in the [[backend]] table of ${which} (or list this service's own servers = [...] instead of backend = …)`, at(key));
    } else {
      report(key, `unknown key ${JSON.stringify(key)}${suggestion(key, allowed)}`, at(key));
    }
  }

  const value = (name: string): unknown => {
    const def = keyDef(name) as KeyDef;
    if (!Object.hasOwn(raw, name)) {
      if (def.required) report(name, `missing required key ${JSON.stringify(name)}`, at());
      if (def.inherits) return ctx.defaults[name as keyof Timeouts];
      return def.default === undefined ? undefined : unwrap(checkValue(def, def.default));
    }
    const checked = checkValue(def, raw[name]);
    if (checked.ok) return checked.value;
    report(name, checked.error, at(name));
    return undefined;
  };

  const name = value("name") as string;
  const protocol = value("protocol") as ServiceConfig["protocol"];
  for (const def of SCHEMA) {
    if (def.scope === "service" && def.protocols && Object.hasOwn(raw, def.name) && typeof protocol === "string" && !def.protocols.includes(protocol)) {
      report(def.name, `${JSON.stringify(def.name)} applies to protocol ${def.protocols.map((p) => JSON.stringify(p)).join(" or ")} only (this service is ${JSON.stringify(protocol)})`, at(def.name));
    }
  }
  const http = Object.fromEntries(SCHEMA.filter((d) => d.scope === "service" && d.protocols?.includes("http") && d.type.kind !== "routes" && d.type.kind !== "tls").map((d) => [d.name, value(d.name)])) as unknown as HttpSettings;
  const accept_proxy = value("accept_proxy") as boolean;
  const timeout_proxy_header = value("timeout_proxy_header") as number;
  const tls = value("tls") as ServiceConfig["tls"];
  const proxy_from = checkAcceptProxy(raw, accept_proxy, tls, report, at);
  const timeout_client = value("timeout_client") as number;
  const maxconn = value("maxconn") as number;
  const listen = Object.hasOwn(raw, "listen") ? checkListen(raw.listen, report, at) : (value("listen"), []);
  // An http service may route every request itself (no default: a request no route takes gets 404);
  // a tcp service every connection by its TLS name (no default: a client no route takes is closed).
  const routed = (protocol === "http" || protocol === "tcp") && Object.hasOwn(raw, "route");
  if (ownServers && named) {
    report("backend", "give either backend = \"NAME\" (a [[backend]] table) or this service's own servers = [...], not both", at("backend"));
  } else if (!ownServers && !named && !routed) {
    report("servers", 'missing required key "servers" (the servers to relay to), or backend = "NAME" naming a [[backend]] table', at());
  }
  const backend = ownServers ? name : (value("backend") as string | undefined);
  const own = ownServers && typeof name === "string" ? readBackend(raw, name, false, service, ctx.defaults, report, at) : undefined;

  const log = value("access_log") as { path: string; format: string | undefined } | undefined;
  if (log?.format === "combined" && protocol !== "http") {
    report("access_log", `access_log.format = "combined" is for http requests; a ${protocol} service logs sessions: use "haproxy" or "json"`, at("access_log"));
  }
  if (routed && protocol === "tcp" && Object.hasOwn(raw, "tls")) {
    report("route", "a tcp service's routes pass TLS through by name and cannot be combined with tls (which terminates it): send the names plb should terminate to a service with tls instead (README: TLS passthrough by name)", at("route"));
  }
  const routes = routed
    ? checkRoutes(raw.route, { at: (j, key) => source.line({ service: index, key: "route", index: j, sub: key }), report, hasDefault: ownServers || named, protocol: protocol === "tcp" ? "tcp" : "http" })
    : [];
  const certRoute = routes.find((r) => r.client_cert !== undefined);
  if (certRoute !== undefined && tls?.client_ca === undefined) {
    report(`route[${certRoute.index}].client_cert`, `route[${certRoute.index}].client_cert: the service asks for no client certificate: set tls.client_ca (and client_verify = "optional" for routes that do without one)`, certRoute.line);
  }
  const access_log = log && { path: log.path, format: (log.format ?? (protocol === "http" ? "combined" : "haproxy")) as AccessLogConfig["format"] };
  const config =
    failed || (backend === undefined && !routed)
      ? undefined
      : { name, protocol, http, listen: listen as ListenAddress[], tls, backend, routes, access_log, accept_proxy, proxy_from, timeout_proxy_header, timeout_client, maxconn };
  return { config, name: typeof raw.name === "string" ? raw.name : undefined, listen, own, at, label: service };
}

/**
 * accept_proxy needs proxy_from and cannot work with tls (the header comes
 * before the TLS handshake, which Bun's TLS listener starts on the first
 * bytes); proxy_from and timeout_proxy_header mean nothing without it.
 * Returns proxy_from's ranges, canonical ([] when absent).
 */
function checkAcceptProxy(raw: Table, accept: boolean | undefined, tls: ServiceConfig["tls"], report: Report, at: At): string[] {
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
  if (tls !== undefined) {
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

