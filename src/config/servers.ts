/** The `servers` key: addresses, weights, backups, and entries from DNS. */
import { isIP } from "node:net";
import { isHostName, parseServerAddress } from "./address.ts";
import { describeValue } from "./describe.ts";
import { suggestion } from "./diagnostics.ts";
import { keyDef, keysFor, type KeyDef } from "./schema.ts";
import { isTable, type At, type Report, type Table } from "./table.ts";
import type { DnsSource, ServerConfig } from "./types.ts";
import { checkValue } from "./values.ts";

const SERVER_KEYS = keysFor("server");

export function checkServers(v: unknown, report: Report, at: At): { servers: ServerConfig[]; discover: DnsSource[] } {
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
