/**
 * Reads and validates plb.toml. Syntax errors stop at the first one
 * (CONFIG_SYNTAX, `file:line:col: message`); validation problems are all
 * collected into one CONFIG_INVALID error, one line per problem, sorted by
 * line. The result is deeply frozen.
 */
import { parse } from "@iarna/toml";
import { readFileSync } from "node:fs";
import { fileErrorReason, PlbError } from "../errors.ts";
import { listenOverlaps } from "./address.ts";
import { describeValue } from "./describe.ts";
import { formatDuration } from "./duration.ts";
import { type Diagnostic, formatDiagnostics, serviceLabel, suggestion } from "./diagnostics.ts";
import { indexSource, type KeyWhere, type SourceIndex } from "./locate.ts";
import { keysFor, SCHEMA } from "./schema.ts";
import { type BackendDraft, checkBackendTable, checkUnusedBackend, finishBackend } from "./backend.ts";
import { type CheckedService, checkService, isTable } from "./service.ts";
import type { BackendConfig, Config, GlobalConfig, ListenAddress, ProtocolName, ServiceConfig } from "./types.ts";
import { checkStats } from "./stats.ts";
import { acmeFromRoutes, checkAcme } from "./acme.ts";
import { shadowedRoutes } from "../routes/shadow.ts";
import { checkRouteBackends } from "./route.ts";
import { checkValue } from "./values.ts";

const GLOBAL_KEYS = keysFor("global");
/** Keys of [[service]] or [[backend]] tables without a global default. */
const TABLE_ONLY = SCHEMA.filter((k) => (k.scope === "service" || k.scope === "backend") && !k.inherits).map((k) => k.name);

/** Where each parsed configuration's keys are, for problems found after parsing. */
const sources = new WeakMap<Config, SourceIndex>();
/** What is legal but likely a mistake (routes that can never match), one message per line. */
const warnings = new WeakMap<Config, readonly string[]>();
/** Where each backend's keys are written, and its label (`backend "api"`, `service "web"`), for problems found after loading (files). */
const backendSources = new WeakMap<BackendConfig, { readonly label: string; readonly at: (key?: string) => number | undefined }>();

/** Reads `path` and parses it; unreadable files give CONFIG_READ. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new PlbError("CONFIG_READ", `cannot read configuration file ${path}: ${fileErrorReason(err)}`, { cause: err });
  }
  return parseConfig(text, path);
}

/**
 * Parses and validates TOML `text`; `file` names it in messages and in
 * `Config.file`. A CONFIG_INVALID error carries the Diagnostic[] as `cause`.
 */
export function parseConfig(text: string, file: string): Config {
  const doc = parseToml(text, file);
  const source = indexSource(text);
  const problems: Diagnostic[] = [];
  const report = (d: Diagnostic): void => void problems.push(d);

  const global = checkGlobal(doc, source, report);
  const stats = checkStats(doc.stats, source, report);
  const acme = checkAcme(doc.acme, source, report);
  const services: ServiceConfig[] = [];
  const drafts = checkBackendTables(doc.backend, source, global, report);
  let backends: BackendConfig[] = [];
  const rawServices = doc.service;
  if (rawServices === undefined || (Array.isArray(rawServices) && rawServices.length === 0)) {
    report({ path: "service", line: source.line({ key: "service" }), message: "no services defined: add at least one [[service]] table (see plb.toml.example)" });
  } else if (!Array.isArray(rawServices)) {
    const got = isTable(rawServices) ? "a single table" : describeValue(rawServices);
    report({ path: "service", line: source.line({ key: "service" }), message: `service must be an array of tables (write [[service]], not [service]), got ${got}` });
  } else {
    const checked = rawServices.map((raw, index) => checkService(raw, { index, source, defaults: global, report }));
    for (const c of checked) if (c.config) services.push(c.config);
    checkNames(rawServices, source, report);
    checkListenOverlaps(checked, source, report);
    backends = resolveBackends(drafts, checked, report);
    for (const c of checked) {
      const tls = c.config?.tls;
      if (tls?.acme === undefined) continue;
      // tls.acme needs the CA: an [acme] table (an invalid one is reported already).
      if (doc.acme === undefined) report({ path: "tls.acme", service: c.label, line: c.at("tls"), message: "tls.acme needs an [acme] table (the CA and the storage: [acme] with email = \"ops@example.com\")" });
      // acme = true: the routes' hosts (not frozen yet).
      if (tls.acme === true) (c.config as { tls: typeof tls }).tls = acmeFromRoutes(tls, c.config!.routes, (message) => report({ path: "tls.acme", service: c.label, line: c.at("tls"), message }));
    }
  }

  if (problems.length > 0) {
    throw new PlbError("CONFIG_INVALID", formatDiagnostics(file, problems), { cause: problems });
  }
  const config = deepFreeze({ file, global, services, backends, ...(stats ? { stats } : {}), ...(acme ? { acme } : {}) });
  sources.set(config, source);
  // Allowed but probably not meant: a [[backend]] no service uses, a route an earlier one hides.
  const found: Diagnostic[] = [
    ...drafts.filter((d) => !backends.some((b) => b.name === d.name)).map((d) => ({ path: "", service: d.label, line: d.at(), message: "no service uses it: its servers are neither checked nor used" })),
    ...services.flatMap((s, i) => shadowedRoutes(s.routes).map((w) => ({ path: `route[${w.route.index}]`, service: serviceLabel(s.name, i), line: w.route.line, message: w.message }))),
  ];
  if (found.length > 0) warnings.set(config, Object.freeze(formatDiagnostics(file, found).split("\n")));
  return config;
}

/**
 * Warnings about `config` (`plb.toml:12: service "edge": route at line 12
 * can never match: …`): `--check` prints them, start and reload log them.
 */
export function configWarnings(config: Config): readonly string[] {
  return warnings.get(config) ?? [];
}

/**
 * The line of a key in the text `config` was parsed from (service numbers
 * are positions in `config.services`), or undefined (built in memory, or
 * not found).
 */
export function configLine(config: Config, where: KeyWhere): number | undefined {
  return sources.get(config)?.line(where);
}

function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    return parse(text) as Record<string, unknown>;
  } catch (err) {
    const e = err as { line?: number; col?: number; message?: string };
    const where = typeof e.line === "number" ? `${file}:${e.line + 1}:${(e.col ?? 0) + 1}` : file;
    const message = String(e.message ?? err);
    // "Unexpected character … at row 2, col 5, pos 11:\n<excerpt>": keep the reason and the excerpt.
    const m = /^([\s\S]*?) at row \d+, col \d+, pos \d+:\n([\s\S]*)$/.exec(message);
    const reason = m ? m[1] : message.split("\n")[0];
    const excerpt = m ? `\n${m[2].replace(/\s+$/, "")}` : "";
    throw new PlbError("CONFIG_SYNTAX", `${where}: ${reason}${excerpt}`, { cause: err });
  }
}

function checkGlobal(doc: Record<string, unknown>, source: SourceIndex, report: (d: Diagnostic) => void): GlobalConfig {
  for (const key of Object.keys(doc)) {
    if (key === "service" || key === "backend" || key === "stats" || key === "acme" || GLOBAL_KEYS.includes(key)) continue;
    const line = source.line({ key });
    if (TABLE_ONLY.includes(key)) {
      const where = SCHEMA.find((k) => k.name === key)!.scope === "backend" ? "a [[backend]] table (or a [[service]] with its own servers)" : "a [[service]] table";
      report({ path: key, line, message: `${JSON.stringify(key)} is not a global setting: put it inside ${where}` });
    } else if (isTable(doc[key]) || isTableArray(doc[key])) {
      const header = isTable(doc[key]) ? `[${key}]` : `[[${key}]]`;
      const hint = suggestion(key, ["service", "backend"]) || " (global keys go at the top of the file, before the first [[service]])";
      report({ path: key, line, message: `unknown table ${header}${hint}` });
    } else {
      report({ path: key, line, message: `unknown key ${JSON.stringify(key)}${suggestion(key, [...GLOBAL_KEYS, "service"])}` });
    }
  }
  const out: Record<string, unknown> = {};
  for (const def of SCHEMA) {
    if (def.scope !== "global" && !def.inherits) continue;
    if (Object.hasOwn(doc, def.name)) {
      const checked = checkValue(def, doc[def.name]);
      if (checked.ok) {
        out[def.name] = checked.value;
        continue;
      }
      report({ path: def.name, line: source.line({ key: def.name }), message: checked.error });
    }
    // Absent, or invalid (already reported): the default, so services still inherit something sane.
    if (def.default === undefined) continue;
    const fallback = checkValue(def, def.default);
    if (!fallback.ok) throw new Error(`schema default for ${def.name} is invalid: ${fallback.error}`);
    out[def.name] = fallback.value;
  }
  if (typeof out.dns_min_ttl === "number" && typeof out.dns_max_ttl === "number" && out.dns_min_ttl > out.dns_max_ttl) {
    const key = Object.hasOwn(doc, "dns_min_ttl") ? "dns_min_ttl" : "dns_max_ttl";
    report({ path: key, line: source.line({ key }), message: `dns_min_ttl (${formatDuration(out.dns_min_ttl)}) must not be above dns_max_ttl (${formatDuration(out.dns_max_ttl)})` });
  }
  return out as unknown as GlobalConfig;
}

/** The [[backend]] tables, checked as far as they can be before the services that use them are known. */
function checkBackendTables(raw: unknown, source: SourceIndex, defaults: GlobalConfig, report: (d: Diagnostic) => void): BackendDraft[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    const got = isTable(raw) ? "a single table" : describeValue(raw);
    report({ path: "backend", line: source.line({ key: "backend" }), message: `backend must be an array of tables (write [[backend]], not [backend]), got ${got}` });
    return [];
  }
  const drafts: BackendDraft[] = [];
  const first = new Map<string, BackendDraft>();
  raw.forEach((table, index) => {
    const d = checkBackendTable(table, index, source, defaults, report);
    if (d === undefined) return;
    const prev = first.get(d.name);
    if (prev !== undefined) {
      report({ path: "name", service: d.label, line: d.at("name"), message: `duplicate backend name ${JSON.stringify(d.name)} (also used at line ${prev.at("name")})` });
      return;
    }
    first.set(d.name, d);
    drafts.push(d);
  });
  return drafts;
}

/**
 * The label (`backend "api"`, or `service "web"` for a service's own
 * servers) and the line of `key` of a backend of a loaded configuration
 * (undefined lines when it was built in memory).
 */
export function backendWhere(backend: BackendConfig, key?: string): { label: string; line: number | undefined } {
  const s = backendSources.get(backend);
  return { label: s?.label ?? `backend ${JSON.stringify(backend.name)}`, line: s?.at(key) };
}

/**
 * Every service's backend: a [[backend]] it names, or its own servers.
 * A backend serves one protocol, that of the services using it; a
 * [[backend]] no service uses is left out (nothing would check or use its
 * servers). Returns the backends in use, declared ones first.
 */
function resolveBackends(declared: readonly BackendDraft[], services: readonly CheckedService[], report: (d: Diagnostic) => void): BackendConfig[] {
  const byName = new Map(declared.map((d) => [d.name, d]));
  // A service's own servers are a backend like any other: routes (and other services) may name it.
  for (const s of services) {
    const own = s.own;
    if (own === undefined) continue;
    const clash = byName.get(own.name);
    if (clash === undefined || !clash.declared) byName.set(own.name, own);
    else report({ path: "servers", service: s.label, line: s.at("servers"), message: `this service's own servers make a backend named ${JSON.stringify(own.name)}, like the [[backend]] at line ${clash.at("name")}: rename one of them, or write backend = ${JSON.stringify(own.name)} instead of servers` });
  }
  const users = new Map<BackendDraft, { protocol: ProtocolName; service: string }[]>();
  const use = (draft: BackendDraft, cfg: ServiceConfig): void => {
    const list = users.get(draft) ?? [];
    if (!list.some((u) => u.service === cfg.name)) list.push({ protocol: cfg.protocol, service: cfg.name });
    users.set(draft, list);
  };
  const named = new Set(byName.keys());
  for (const s of services) {
    const cfg = s.config;
    if (cfg === undefined) continue;
    const draft = cfg.backend === undefined ? undefined : byName.get(cfg.backend);
    // (Own servers named like a [[backend]]: reported above.)
    if (s.own !== undefined) {
      if (draft === s.own) use(draft, cfg);
    } else if (draft !== undefined) use(draft, cfg);
    else if (cfg.backend !== undefined) {
      const known = byName.size === 0 ? " (no [[backend]] table is defined)" : suggestion(cfg.backend, [...byName.keys()]);
      report({ path: "backend", service: s.label, line: s.at("backend"), message: `backend ${JSON.stringify(cfg.backend)} is not defined${known}` });
    }
    checkRouteBackends(cfg.routes, named, (path, message, line) => report({ path, service: s.label, line, message }));
    for (const r of cfg.routes) {
      if (r.action.kind === "backend" && r.action.name !== undefined && byName.has(r.action.name)) use(byName.get(r.action.name)!, cfg);
    }
  }
  for (const d of declared) if (!users.has(d)) checkUnusedBackend(d, (path, message, line) => report({ path, service: d.label, line, message }));
  const out: BackendConfig[] = [];
  const report1 = (d: BackendDraft) => (path: string, message: string, line: number | undefined) => report({ path, service: d.label, line, message });
  for (const d of [...declared, ...services.flatMap((s) => (s.own && byName.get(s.own.name) === s.own ? [s.own] : []))]) {
    const list = users.get(d);
    if (list === undefined) continue;
    const protocols = [...new Set(list.map((u) => u.protocol))];
    if (protocols.length > 1) {
      const who = list.map((u) => `${JSON.stringify(u.service)} (${u.protocol})`).join(", ");
      report({ path: "name", service: d.label, line: d.at("name"), message: `used by services of different protocols: ${who}; a backend serves one protocol` });
      continue;
    }
    const b = finishBackend(d, protocols[0]!, report1(d));
    if (b !== undefined) {
      out.push(b);
      backendSources.set(b, { label: d.label, at: (key) => d.at(key) });
    }
  }
  return out;
}

function isTableArray(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0 && v.every(isTable);
}

function checkNames(raw: unknown[], source: SourceIndex, report: (d: Diagnostic) => void): void {
  const first = new Map<string, number>();
  raw.forEach((s, index) => {
    if (!isTable(s) || typeof s.name !== "string") return;
    const prev = first.get(s.name);
    if (prev === undefined) return void first.set(s.name, index);
    const line = source.line({ service: index, key: "name" });
    const prevLine = source.line({ service: prev, key: "name" });
    const where = prevLine === undefined ? `service[${prev}]` : `line ${prevLine}`;
    report({ path: "name", service: serviceLabel(s.name, index), line, message: `duplicate service name ${JSON.stringify(s.name)} (also used at ${where})` });
  });
}

/** Two listen addresses that cannot both be bound, within or across services. */
function checkListenOverlaps(checked: readonly CheckedService[], source: SourceIndex, report: (d: Diagnostic) => void): void {
  interface Seen {
    readonly addr: ListenAddress;
    readonly index: number;
    readonly name: string | undefined;
    readonly element: number;
  }
  const seen: Seen[] = [];
  checked.forEach(({ name, listen }, index) => {
    listen.forEach((addr, element) => {
      if (!addr) return;
      const clash = seen.find((s) => listenOverlaps(s.addr, addr));
      if (clash) {
        const other = clash.index === index ? "this service's" : `service ${JSON.stringify(clash.name)}`;
        report({
          path: `listen[${element}]`,
          service: serviceLabel(name, index),
          line: source.line({ service: index, key: "listen", index: element }),
          message: `listen[${element}]: ${addr.text} overlaps with ${other} listen[${clash.element}] (${clash.addr.text})`,
        });
      }
      seen.push({ addr, index, name, element });
    });
  });
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === "object" && !Object.isFrozen(v)) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}
