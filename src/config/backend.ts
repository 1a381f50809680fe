/**
 * Backends in the configuration: a `[[backend]]` table, or the backend keys
 * of a `[[service]]` that lists its own `servers` (its own backend, named
 * after it). Keys are read in two steps, because a declared backend's
 * protocol is known only once the services that use it are: `readBackend`
 * checks every value, `finishBackend` then checks what depends on the
 * protocol (keys for http or smtp only, xclient, hashing) and builds the
 * BackendConfig.
 */
import { findAlgorithm } from "../balance/index.ts";
import { describeValue } from "./describe.ts";
import { type Diagnostic, suggestion } from "./diagnostics.ts";
import type { SourceIndex } from "./locate.ts";
import { keyDef, keysFor, SCHEMA, type KeyDef } from "./schema.ts";
import { PROTOCOL_NAMES } from "../protocol-names.ts";
import { isToken } from "../http/types.ts";
import { checkHealth } from "./health.ts";
import { checkServers } from "./servers.ts";
import { type At, isTable, type Report, type Table } from "./table.ts";
import type { BackendConfig, BackendDefaults, ClientAddressMode, DnsSource, HttpBackendSettings, ProtocolName, ServerConfig, ServerTlsConfig, SmtpBackendSettings } from "./types.ts";
import { checkValue } from "./values.ts";

/** Keys of backends ("name" aside). */
export const BACKEND_KEYS: readonly string[] = SCHEMA.filter((k) => k.scope === "backend").map((k) => k.name);

/** A backend's values, checked; what depends on its protocol is checked by `finishBackend`. */
export interface BackendDraft {
  readonly name: string;
  readonly declared: boolean;
  /** `backend "api"` or `service "web"`, for messages. */
  readonly label: string;
  /** Where its keys are (for the checks of `finishBackend`). */
  readonly at: At;
  /** Protocol-specific keys written in it. */
  readonly written: readonly string[];
  /** `health` as written (checked against the protocol by `finishBackend`), or undefined. */
  readonly health: unknown;
  readonly values: Omit<BackendConfig, "name" | "declared" | "protocol" | "health">;
  /** Some value was invalid (reported already). */
  readonly failed: boolean;
}

/**
 * Reads the backend keys of `raw` (a [[backend]] table or a service with
 * its own servers); unknown keys are the caller's to report.
 */
export function readBackend(raw: Table, name: string, declared: boolean, label: string, defaults: BackendDefaults, report: Report, at: At): BackendDraft {
  let failed = false;
  const problem: Report = (path, message, line) => {
    failed = true;
    report(path, message, line);
  };
  const value = (key: string): unknown => {
    const def = keyDef(key) as KeyDef;
    if (!Object.hasOwn(raw, key)) {
      if (def.inherits) return defaults[key as keyof BackendDefaults];
      // Defaults are trusted: "roundrobin" is not looked up, so an empty registry still loads.
      if (def.type.kind === "balance" || def.default === undefined) return def.default;
      const c = checkValue(def, def.default);
      if (!c.ok) throw new Error(`schema default is invalid: ${c.error}`);
      return c.value;
    }
    const checked = checkValue(def, raw[key]);
    if (checked.ok) return checked.value;
    problem(key, checked.error, at(key));
    return undefined;
  };
  const settingsOf = (p: string) => Object.fromEntries(SCHEMA.filter((d) => d.scope === "backend" && d.protocols?.includes(p)).map((d) => [d.name, value(d.name)]));
  let servers: ServerConfig[] = [];
  let discover: DnsSource[] = [];
  if (Object.hasOwn(raw, "servers")) ({ servers, discover } = checkServers(raw.servers, problem, at));
  else problem("servers", `missing required key "servers": the servers this backend sends clients to`, at());
  const values = {
    client_address: value("client_address") as ClientAddressMode,
    servers,
    discover,
    balance: value("balance") as string,
    server_retry: value("server_retry") as number,
    timeout_connect: value("timeout_connect") as number,
    timeout_server: value("timeout_server") as number,
    timeout_cleanup: value("timeout_cleanup") as number,
    slowstart: value("slowstart") as number,
    server_tls: value("server_tls") as ServerTlsConfig | undefined,
    http: settingsOf("http") as unknown as HttpBackendSettings,
    smtp: settingsOf("smtp") as unknown as SmtpBackendSettings,
  };
  const header = values.http.hash_header;
  if (typeof header === "string" && !isToken(header)) {
    problem("hash_header", `hash_header must be a header field name (letters, digits and !#$%&'*+-.^_\`|~), got ${JSON.stringify(header)}`, at("hash_header"));
  }
  const written = SCHEMA.filter((d) => d.scope === "backend" && d.protocols !== undefined && Object.hasOwn(raw, d.name)).map((d) => d.name);
  return { name, declared, label, at, written, health: raw.health, values, failed };
}

/**
 * What depends on the protocol of the services using the backend: keys for
 * another protocol, xclient (smtp only), the hashing algorithms (http, and
 * hash_header for `header`). Undefined when a problem was reported.
 */
export function finishBackend(draft: BackendDraft, protocol: ProtocolName, report: Report): BackendConfig | undefined {
  let failed = draft.failed;
  const problem: Report = (path, message, line) => {
    failed = true;
    report(path, message, line);
  };
  const { at, values } = draft;
  const users = draft.declared ? ` (it is used by ${protocol} services)` : ` (this service is ${JSON.stringify(protocol)})`;
  for (const key of draft.written) {
    const def = keyDef(key)!;
    if (!def.protocols!.includes(protocol)) problem(key, `${JSON.stringify(key)} applies to protocol ${def.protocols!.map((p) => JSON.stringify(p)).join(" or ")} only${users}`, at(key));
  }
  const proxy = values.client_address === "proxy-v1" || values.client_address === "proxy-v2";
  if (proxy && values.server_tls !== undefined) {
    problem("client_address", `client_address = ${JSON.stringify(values.client_address)} cannot be combined with server_tls yet: servers that take both (HAProxy, nginx) expect the PROXY header before the TLS handshake, and plb would send it inside TLS`, at("client_address"));
  }
  if (proxy && values.http.server_protocol === "h2" && protocol === "http") {
    problem("client_address", `client_address = ${JSON.stringify(values.client_address)} cannot be combined with server_protocol = "h2": an h2 connection carries the streams of many clients, and a PROXY header names one`, at("client_address"));
  }
  if (values.client_address === "xclient" && protocol !== "smtp") {
    problem("client_address", `client_address = "xclient" needs protocol = "smtp" (use "proxy-v1" or "proxy-v2" for ${JSON.stringify(protocol)})`, at("client_address"));
  }
  const name = values.http.hash_header;
  const hashes = typeof values.balance === "string" ? findAlgorithm(values.balance)?.hashes : undefined;
  if (hashes !== undefined && protocol !== "http") {
    problem("balance", `balance ${JSON.stringify(values.balance)} needs protocol = "http"${users}`, at("balance"));
  } else if (hashes === "header" && name === undefined) {
    problem("balance", `balance ${JSON.stringify(values.balance)} needs hash_header, the header whose value is hashed (e.g. hash_header = "X-Tenant")`, at("balance"));
  }
  const health = draft.health === undefined ? undefined : checkHealth(draft.health, protocol, values.http.health_path, (m) => problem("health", m, at("health")));
  if (health?.grpc !== undefined && values.http.server_protocol !== "h2") problem("health", 'health.grpc = true needs server_protocol = "h2" (gRPC runs over HTTP/2)', at("health"));
  if (failed) return undefined;
  return { name: draft.name, declared: draft.declared, protocol, ...values, health };
}

/**
 * A [[backend]] no service uses has no protocol: its `health` is checked as
 * it could be used, and refused only when no protocol would take it (a
 * rise of 0 is wrong whatever the backend later serves).
 */
export function checkUnusedBackend(draft: BackendDraft, report: Report): void {
  if (draft.health === undefined) return;
  const attempts = PROTOCOL_NAMES.map((p) => {
    const problems: string[] = [];
    checkHealth(draft.health, p, draft.values.http.health_path, (m) => problems.push(m));
    return problems;
  });
  if (attempts.every((a) => a.length > 0)) for (const m of attempts[0]) report("health", m, draft.at("health"));
}


const NAMED_KEYS = keysFor("backend");
const SERVICE_ONLY = SCHEMA.filter((k) => k.scope === "service").map((k) => k.name);
const GLOBAL_ONLY = SCHEMA.filter((k) => k.scope === "global").map((k) => k.name);

/** Checks one [[backend]] table (number `index`); undefined when it is not a table or has no usable name. */
export function checkBackendTable(input: unknown, index: number, source: SourceIndex, defaults: BackendDefaults, push: (d: Diagnostic) => void): BackendDraft | undefined {
  const at: At = (key, element) => source.line({ backend: index, key, index: element });
  if (!isTable(input)) {
    push({ path: "", line: at(), message: `backend[${index}] must be a table, got ${describeValue(input)}` });
    return undefined;
  }
  const raw: Table = input;
  const label = typeof raw.name === "string" && raw.name !== "" ? `backend ${JSON.stringify(raw.name)}` : `backend[${index}]`;
  const report: Report = (path, message, line) => push({ path, service: label, line, message });
  for (const key of Object.keys(raw)) {
    if (NAMED_KEYS.includes(key)) continue;
    if (SERVICE_ONLY.includes(key)) report(key, `${JSON.stringify(key)} is a service setting (the listener side): put it in the [[service]] that uses this backend`, at(key));
    else if (GLOBAL_ONLY.includes(key)) report(key, `${JSON.stringify(key)} is a global setting and cannot be set per backend (move it above the first table)`, at(key));
    else report(key, `unknown key ${JSON.stringify(key)}${suggestion(key, NAMED_KEYS)}`, at(key));
  }
  let name: string | undefined;
  if (!Object.hasOwn(raw, "name")) report("name", 'missing required key "name": services name the backend they use with backend = "NAME"', at());
  else {
    const c = checkValue(keyDef("name")!, raw.name);
    if (c.ok) name = c.value as string;
    else report("name", c.error, at("name"));
  }
  const draft = readBackend(raw, name ?? "", true, label, defaults, report, at);
  return name === undefined ? undefined : draft;
}
