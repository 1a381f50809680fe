/**
 * Configuration values and files for src/config/:
 * - config-duration: parseDuration on strings ("#n:…" inputs are numbers,
 *   "#b:…" bigints, as TOML gives them) against `referenceDuration`, a
 *   character scanner written from duration.ts's doc comment; accepted
 *   values survive formatDuration → parseDuration.
 * - config-address: parseListen, parseServerAddress and parseNameserver
 *   against `referenceListen` / `referenceServer` / `referenceNameserver`,
 *   written from address.ts's doc comment with fuzz/formats/ip.ts for the
 *   literals.
 * - config-toml: whole files built from the schema (every key, services of
 *   each protocol, [stats]); a generated file carries its expectation in its
 *   last line ("# expect ok" or "# expect invalid LINE", with a hash of the
 *   text above and of the expectation, so a mutated file has none): ok files must load, and a file
 *   with one invalid value must be rejected with a problem on that line.
 *   Every file either loads or throws a PlbError CONFIG_SYNTAX /
 *   CONFIG_INVALID (problems on lines of the file); a loaded configuration
 *   is deeply frozen and written back to TOML (`toToml`) loads to the same.
 */
import { routesToToml } from "./routes.ts";
import { PlbError } from "../../src/errors.ts";
import { parseConfig } from "../../src/config/load.ts";
import { parseListen, parseNameserver, parseServerAddress } from "../../src/config/address.ts";
import { formatDuration, parseDuration } from "../../src/config/duration.ts";
import type { Diagnostic } from "../../src/config/diagnostics.ts";
import type { BackendConfig, Config, ServiceConfig } from "../../src/config/types.ts";
import { keyDef } from "../../src/config/schema.ts";
import { PROTOCOL_NAMES } from "../../src/protocol-names.ts";
import { type Behaviour, ensure, same, show, type Target } from "../driver.ts";
import { between, chance, hashBytes, int, pick, type Rng } from "../rng.ts";
import { format6, parse4, parse6, random4, random6, spell6 } from "./ip.ts";

const UTF8 = new TextDecoder();
const ENC = new TextEncoder();
const WS = /\s/;
const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const UNIT: Record<string, number> = { "": 1000, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

// ---------------------------------------------------------------------------
// Durations

type DurationRef = number | "negative" | "format" | "large" | "finite";

/** The duration rules scanned character by character. */
export function referenceDuration(v: unknown): DurationRef {
  const ms = (x: number): DurationRef => (!Number.isFinite(x) || x > Number.MAX_SAFE_INTEGER ? "large" : Math.round(x));
  if (typeof v === "number") return Number.isNaN(v) ? "format" : v < 0 ? "negative" : v === Infinity ? "finite" : ms(v * 1000);
  if (typeof v === "bigint") return v < 0n ? "negative" : "large";
  if (typeof v !== "string") return "format";
  const t = v.trim();
  let i = 0;
  if (t[0] === "-") {
    let j = 1;
    while (j < t.length && WS.test(t[j])) j++;
    if (isDigit(t[j]) || (t[j] === "." && isDigit(t[j + 1]))) return "negative";
  }
  while (isDigit(t[i])) i++;
  const intDigits = i;
  if (t[i] === ".") {
    i++;
    while (isDigit(t[i])) i++;
  }
  if (intDigits === 0 && i - intDigits < 2) return "format"; // neither "5", "5." nor ".5"
  const num = Number(t.slice(0, i));
  while (i < t.length && WS.test(t[i])) i++;
  const unit = t.slice(i).toLowerCase();
  if (!Object.hasOwn(UNIT, unit)) return "format";
  return ms(num * UNIT[unit]);
}

const durationClass = (r: number | string): DurationRef =>
  typeof r === "number" ? r : r.startsWith("must not be negative") ? "negative" : r.startsWith("is too large") ? "large" : r.startsWith("must be finite") ? "finite" : "format";

function durationInput(input: Uint8Array): unknown {
  const s = UTF8.decode(input);
  if (s.startsWith("#n:")) return Number(s.slice(3));
  if (s.startsWith("#b:")) {
    try {
      return BigInt(s.slice(3));
    } catch {
      return s;
    }
  }
  return s;
}

function checkDuration(input: Uint8Array): Behaviour {
  const v = durationInput(input);
  const got = parseDuration(v);
  const ref = referenceDuration(v);
  ensure(durationClass(got) === ref, () => `parseDuration(${show(typeof v === "bigint" ? `${v}n` : v)}) = ${show(got)}, the reference ${show(ref)}`);
  if (typeof got === "number") {
    ensure(Number.isSafeInteger(got) && got >= 0, "not a whole number of ms");
    const back = parseDuration(formatDuration(got));
    ensure(back === got, () => `formatDuration(${got}) = ${formatDuration(got)} parses to ${show(back)}`);
    return { kind: "done" };
  }
  return { kind: "error", reason: ref as string };
}

function durationText(r: Rng): Uint8Array {
  const num = pick(r, ["0", "1", "2", "0.5", ".5", "5.", "10", "1500", "24", "9007199254740993", "1e3", "007", String(int(r, 100000)), String(r() * 100)]);
  const unit = pick(r, ["", "", "ms", "s", "m", "h", "d", "MS", "S", "D", "us", "sec", "w"]);
  const ws = () => pick(r, ["", "", " ", "\t", "\n", "\u00a0", "\u3000", "\ufeff"]);
  const k = int(r, 10);
  if (k === 0) return ENC.encode(`#n:${pick(r, ["0", "2", "0.5", "-1", "-0", "NaN", "Infinity", "-Infinity", "1e300", "9007199254740.992", "1e-9", "5e-4"])}`);
  if (k === 1) return ENC.encode(`#b:${pick(r, ["0", "1", "-1", "9007199254740993", "-99999999999999999999"])}`);
  return ENC.encode(`${ws()}${chance(r, 0.1) ? pick(r, ["-", "- ", "+", "-\t"]) : ""}${num}${ws()}${unit}${ws()}`);
}

// ---------------------------------------------------------------------------
// Addresses

type HP = { host: string; port: number } | "error";

function refSplit(text: string, minPort: number): { host: string; bracketed: boolean; port: number } | "error" {
  if (text === "" || [...text].some((c) => WS.test(c))) return "error";
  let host: string, port: string, bracketed = false;
  if (text[0] === "[") {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") return "error";
    host = text.slice(1, close);
    port = text.slice(close + 2);
    bracketed = true;
  } else {
    const parts = text.split(":");
    if (parts.length !== 2) return "error";
    [host, port] = parts;
  }
  if (host === "" || port === "" || ![...port].every(isDigit) || Number(port) < minPort || Number(port) > 65535) return "error";
  return { host, bracketed, port: Number(port) };
}

const LABEL_CHARS = /^[A-Za-z0-9_-]+$/;

function refHostName(s: string): boolean {
  const labels = (s.endsWith(".") ? s.slice(0, -1) : s).split(".");
  const allNumeric = [...s].every((c) => isDigit(c) || c === ".");
  return s.length <= 253 && !allNumeric && labels.every((l) => l.length >= 1 && l.length <= 63 && LABEL_CHARS.test(l) && l[0] !== "-" && l[l.length - 1] !== "-");
}

/** A bracketed literal: canonical (the URL standard's serialization: hex groups, first longest zero run as "::"), or an error. */
const refBracketed = (host: string): string => {
  if (host.includes("%")) return "error";
  const b = parse6(host);
  return b === undefined ? "error" : format6(b, false);
};

export function referenceListen(text: string): HP {
  const s = refSplit(text, 0);
  if (s === "error") return s;
  if (s.bracketed) {
    const h = refBracketed(s.host);
    return h === "error" ? "error" : { host: h, port: s.port };
  }
  if (s.host === "*") return { host: "::", port: s.port };
  if (s.host.toLowerCase() === "localhost") return { host: "127.0.0.1", port: s.port };
  return parse4(s.host) ? { host: s.host, port: s.port } : "error";
}

export function referenceServer(text: string): HP {
  const s = refSplit(text, 1);
  if (s === "error") return s;
  if (s.bracketed) {
    const h = refBracketed(s.host);
    return h === "error" ? "error" : { host: h, port: s.port };
  }
  return parse4(s.host) || refHostName(s.host) ? { host: s.host, port: s.port } : "error";
}

/** A nameserver: an IP address, bare or with a port (1-65535, default 53), IPv6 bracketed when it has one. */
export function referenceNameserver(text: string): HP {
  if (parse4(text)) return { host: text, port: 53 };
  const v6 = text.includes("%") ? undefined : parse6(text);
  if (v6 !== undefined) return { host: format6(v6, false), port: 53 };
  if (!text.includes(":")) return "error";
  const s = refSplit(text, 1);
  if (s === "error") return s;
  if (s.bracketed) {
    const h = refBracketed(s.host);
    return h === "error" ? "error" : { host: h, port: s.port };
  }
  return parse4(s.host) ? { host: s.host, port: s.port } : "error";
}

function checkAddress(input: Uint8Array): Behaviour {
  const text = UTF8.decode(input);
  const listen = parseListen(text), server = parseServerAddress(text);
  const l = typeof listen === "string" ? "error" : { host: listen.host, port: listen.port };
  const s = typeof server === "string" ? "error" : { host: server.host, port: server.port };
  ensure(typeof listen === "string" ? listen !== "" : listen.text === text, "listen text or message");
  ensure(same(l, referenceListen(text)), () => `parseListen(${show(text)}) = ${show(listen)}, the reference ${show(referenceListen(text))}`);
  ensure(same(s, referenceServer(text)), () => `parseServerAddress(${show(text)}) = ${show(server)}, the reference ${show(referenceServer(text))}`);
  const ns = parseNameserver(text);
  ensure(same(typeof ns === "string" ? "error" : { host: ns.host, port: ns.port }, referenceNameserver(text)), () => `parseNameserver(${show(text)}) = ${show(ns)}, the reference ${show(referenceNameserver(text))}`);
  return { kind: `${l === "error" ? "-" : "listen"}/${s === "error" ? "-" : "server"}` };
}

function addressText(r: Rng): Uint8Array {
  const host = () => {
    switch (int(r, 8)) {
      case 0: return random4(r).join(".");
      case 1: return `[${spell6(r, random6(r))}]`;
      case 2: return pick(r, ["*", "localhost", "LocalHost", "[::]", "0.0.0.0"]);
      case 3: return pick(r, ["db.example", "a", "under_score.example.", "x-y.z", "-bad.example", "a..b", "1.2.3", "1.2.3.04", "256.1.1.1", "a".repeat(64), `${"a".repeat(60)}.`.repeat(5)]);
      case 4: return spell6(r, random6(r));
      case 5: return `[${spell6(r, random6(r))}%eth0]`;
      case 6: return pick(r, ["", "[", "[]", "[::1", "::1]"]);
      default: return `${spell6(r, random6(r))}${pick(r, ["", "%eth0"])}`;
    }
  };
  const port = pick(r, ["80", "8080", "0", "1", "65535", "65536", "", "080", "99999999999999999999", "-1", "a", String(int(r, 70000))]);
  return ENC.encode(chance(r, 0.15) ? host() : `${host()}:${port}${chance(r, 0.03) ? pick(r, [" ", ":1", "\t"]) : ""}`);
}

// ---------------------------------------------------------------------------
// Whole files

const ALGOS = ["roundrobin", "leastconn", "first", "random", "source"];
const DURATIONS = ['"500ms"', '"2s"', "1", "0.5", '"1m"', '"1h"', '"10s"', '"1d"', "30"];
const BAD: Record<string, string[]> = {
  duration: ['"-1s"', '"abc"', '"0"', '"25d"', "-1", '"2 weeks"', "true", "nan"],
  int: ["-1", "0", "1.5", '"3"', "99999999999999999999"],
  listen: ['["127.0.0.1"]', '["[::1]"]', '["host:80"]', '"127.0.0.1:80"', "[1]", '["1.2.3.4:65536"]'],
  servers: ['["a:0"]', '["a b:1"]', '[":80"]', "[]", '[{ address = "a:1", weight = 0 }]', '[{ address = "a:1", backup = true }]'],
  name: ['"a b"', '""', "1", '"x/y"'],
  enum: ['"nope"', "1", '"NONE"'],
};

interface Line {
  text: string;
  /** Invalid values this line's value can be replaced with. */
  bad?: string[];
  key?: string;
}

function genConfig(r: Rng): Line[] {
  const lines: Line[] = [{ text: "# plb fuzz configuration" }];
  const kv = (key: string, value: string, bad?: string[]) => lines.push({ text: `${key} = ${value}`, bad, key });
  if (chance(r, 0.5)) kv("loglevel", pick(r, ['"error"', '"warn"', '"info"', '"debug"', "0", "4"]), ['"nope"', "5", "-1", "true"]);
  if (chance(r, 0.3)) kv("timeout_shutdown", pick(r, ['"0s"', ...DURATIONS]), ['"-1s"', '"x"', '"25d"']);
  if (chance(r, 0.3)) kv("backlog", String(between(r, 1, 65535)), BAD.int);
  if (chance(r, 0.3)) kv("workers", pick(r, ["1", "2", '"auto"']), ["0", "65", '"many"']);
  if (chance(r, 0.3)) kv("server_retry", String(between(r, 1, 1000)), BAD.int);
  if (chance(r, 0.3)) kv("maxconn", String(int(r, 100000)), ["-1", "10000001"]);
  for (const t of ["timeout_connect", "timeout_client", "timeout_server", "timeout_cleanup"]) if (chance(r, 0.3)) kv(t, pick(r, DURATIONS), BAD.duration);
  if (chance(r, 0.2)) kv("pidfile", '"/run/plb.pid"', ['""', "1"]);
  if (chance(r, 0.2)) kv("shutdown_delay", pick(r, ['"0s"', ...DURATIONS]), ['"-1s"', '"x"']);
  if (chance(r, 0.2)) kv("nameservers", pick(r, ['["10.0.0.2"]', '["10.0.0.2:5353", "::1"]', '["[::1]:53"]']), ['["ns.example"]', '"10.0.0.2"', '["10.0.0.2:0"]']);
  if (chance(r, 0.2)) kv("dns_min_ttl", pick(r, ['"100ms"', '"1s"', "5"]), ['"50ms"', '"x"']);
  let port = between(r, 1024, 60000);
  if (chance(r, 0.2)) {
    lines.push({ text: "" }, { text: "[stats]" });
    kv("listen", `"127.0.0.1:${port++}"`, ['"nowhere"', '"unix:relative"', '"0.0.0.0:1"']);
    if (chance(r, 0.5)) kv("read_token", "false", ['"no"']);
    if (chance(r, 0.3)) kv("healthz_requires_servers", "true", ['"yes"', "1"]);
  }
  // Named backends (each serves one protocol), shared by services of that protocol.
  const declared = Array.from({ length: chance(r, 0.4) ? between(r, 1, 2) : 0 }, (_, b) => ({ name: `be-${b}`, protocol: pick(r, PROTOCOL_NAMES) }));
  const serverKeys = (protocol: string): void => {
    const servers = Array.from({ length: between(r, 1, 3) }, (_, i) => {
      const addr = `${pick(r, [`10.0.0.${i + 1}`, `db${i}.example`, `backend-${i}`, `[::${i + 1}]`])}:${between(r, 1, 65535)}`;
      if (i > 0 && chance(r, 0.2)) return chance(r, 0.5) ? `{ dns = "web${i}.internal:${between(r, 1, 65535)}", weight = ${between(r, 1, 256)} }` : `{ srv = "_http._tcp.web${i}.example"${chance(r, 0.3) ? ", backup = true" : ""} }`;
      return chance(r, 0.5) ? `"${addr}"` : `{ address = "${addr}", weight = ${between(r, 1, 256)}${i > 0 && chance(r, 0.3) ? ", backup = true" : ""} }`;
    });
    kv("servers", `[${servers.join(", ")}]`, BAD.servers);
    if (chance(r, 0.5)) kv("balance", `"${pick(r, protocol === "http" ? [...ALGOS, "uri"] : ALGOS)}"`, ['"fastest"', "1"]);
    if (chance(r, 0.3)) kv("client_address", `"${pick(r, protocol === "smtp" ? ["none", "proxy-v1", "proxy-v2", "xclient"] : ["none", "proxy-v1", "proxy-v2"])}"`, BAD.enum);
    if (chance(r, 0.3)) kv("timeout_connect", pick(r, DURATIONS), BAD.duration);
    if (chance(r, 0.2)) kv("slowstart", pick(r, ['"0s"', ...DURATIONS]), ['"-1s"', '"x"']);
    if (protocol === "http") {
      if (chance(r, 0.3)) kv("health_path", `"${pick(r, ["/", "/healthz", "/a?b=c"])}"`, ['"healthz"', '"/a b"', '"/#x"']);
      if (chance(r, 0.3)) kv("timeout_pool_idle", pick(r, DURATIONS), BAD.duration);
      if (chance(r, 0.2)) kv("hash_header", '"X-Tenant"', ['"X Tenant"', '""']);
    }
    if (protocol === "smtp" && chance(r, 0.4)) kv("timeout_smtp_greeting", pick(r, DURATIONS), BAD.duration);
    if (chance(r, 0.25)) {
      const own = protocol === "http" ? pick(r, ['expect = "2xx"', 'expect = [200, 204]', 'host = "api.example.com", expect = { body = "ok" }', ""]) : protocol === "tcp" ? pick(r, ['send = "PING\\r\\n", expect = "PONG"', ""]) : "";
      const common = pick(r, ['interval = "2s", timeout = "1s", rise = 2, fall = 3', 'interval = 1', 'rise = 1, fall = 1', ""]);
      kv("health", `{ ${[common, own].filter(Boolean).join(", ")} }`, ['{ interval = "0s" }', '{ rise = 0 }', '{ timeout = "5s", interval = "1s" }', '{ intervall = "2s" }', '"2s"']);
    }
  };
  const services = between(r, 1, 3);
  for (let s = 0; s < services; s++) {
    const shared = declared.length > 0 && chance(r, 0.6) ? pick(r, declared) : undefined;
    const protocol = shared?.protocol ?? pick(r, PROTOCOL_NAMES);
    lines.push({ text: "" }, { text: "[[service]]" });
    kv("name", `"svc-${s}.${pick(r, ["a", "b_c", "D"])}"`, BAD.name);
    kv("protocol", `"${protocol}"`, ['"udp"', '"HTTP"', "1"]);
    const listen = Array.from({ length: between(r, 1, 2) }, () => `"${pick(r, ["127.0.0.1", "[::1]", "localhost", "127.0.0.2"])}:${port++}"`);
    kv("listen", `[${listen.join(", ")}]`, BAD.listen);
    if (shared) kv("backend", `"${shared.name}"`, ['"nowhere"', '""', "1", '"a b"']);
    else serverKeys(protocol);
    if (protocol !== "http" && chance(r, 0.15)) {
      kv("accept_proxy", "true", ['"yes"']);
      kv("proxy_from", pick(r, ['["10.0.0.0/8"]', '["127.0.0.1/32", "::1/128"]', '["0.0.0.0/0", "::/0"]']), ['["10.0.0.0/33"]', '[]', '"10.0.0.0/8"', '["x"]']);
    }
    if (chance(r, 0.2)) kv("access_log", `{ path = "-", format = "${pick(r, protocol === "http" ? ["combined", "json", "haproxy"] : ["json", "haproxy"])}" }`, ['{ path = "" }', '{ format = "json" }', '"-"']);
    if (protocol === "http") {
      if (chance(r, 0.4)) kv("forwarded_for", `"${pick(r, ["append", "replace", "off"])}"`, BAD.enum);
      if (chance(r, 0.3)) kv("max_headers", String(between(r, 1, 10000)), ["0", "10001"]);
      if (chance(r, 0.3)) kv("max_request_line", String(between(r, 64, 1048576)), ["63", "1048577"]);
      if (chance(r, 0.2)) kv("error_pages", '{ 503 = "/etc/plb/503.html" }', ['{ 200 = "x" }', '{ 503 = "" }']);
    }
  }
  for (const b of declared) {
    lines.push({ text: "" }, { text: "[[backend]]" });
    kv("name", `"${b.name}"`, BAD.name);
    serverKeys(b.protocol);
    if (chance(r, 0.3)) kv("server_retry", String(between(r, 1, 1000)), BAD.int);
  }
  return lines;
}

const seal = (body: string, expect: string) => `${body}\n# expect ${expect} ${hashBytes(ENC.encode(`${body}\n${expect}`)).toString(16)}\n`;

function configText(r: Rng): Uint8Array {
  const lines = genConfig(r);
  const bad = lines.map((l, i) => [l, i] as const).filter(([l]) => l.bad !== undefined);
  if (bad.length > 0 && chance(r, 0.4)) {
    const [l, i] = pick(r, bad);
    lines[i] = { text: `${l.key} = ${pick(r, l.bad as string[])}` };
    return ENC.encode(seal(lines.map((x) => x.text).join("\n"), `invalid ${i + 1}`));
  }
  return ENC.encode(seal(lines.map((x) => x.text).join("\n"), "ok"));
}

/** The expectation sealed in the last line, if the text above it is as generated. */
function expectation(text: string): string | undefined {
  const m = /\n# expect (ok|invalid \d+) ([0-9a-f]+)\n$/.exec(text);
  if (m === null) return undefined;
  const body = text.slice(0, m.index);
  return hashBytes(ENC.encode(`${body}\n${m[1]}`)).toString(16) === m[2] ? m[1] : undefined;
}

/** TOML values of every type, for values replaced or keys added by `mutateConfig`. */
const ANY_VALUES = ["1979-05-27T07:32:00Z", "1979-05-27", "07:32:00", "1979-05-27T07:32:00", "[1, 2]", '[[1], ["a"]]', "{}", "{ a = 1 }", "inf", "-inf", "nan", "1e308", "-0.0",
  "0x7fffffff", "9223372036854775807", "-9223372036854775808", '"""multi\nline"""', "'lit'", "true", '""', '"\u0000"', '"\u00e9"', "[]", "[{}]", '[{ address = 1 }]',
  '[{ address = "a:1", weight = 1979-05-27 }]', '{ path = 1979-05-27 }', '{ 503 = 1 }', '{ cert = [] , key = {} }', '["127.0.0.1:1", 2]', "0", "-1", "65536", '"auto"', '"-"', '"/"'];
const KEYS = ("user group chroot_dir pidfile logfile loglevel timeout_shutdown workers backlog server_retry timeout_connect timeout_client timeout_server maxconn " +
  "timeout_cleanup name protocol listen servers balance client_address timeout_smtp_greeting forwarded_for forwarded max_body max_request_line max_header_size " +
  "max_headers timeout_http_request min_body_rate pool_max_idle timeout_pool_idle fail_on_5xx access_log health_path tls error_pages hash_header address weight backup " +
  "stats service token token_file read_token healthz_requires_servers shutdown_delay nameservers dns_min_ttl dns_max_ttl slowstart accept_proxy proxy_from " +
  "timeout_proxy_header dns srv backend starttls require_tls").split(" ");

/** TOML-aware mutations: a value replaced by one of any type, a known key added anywhere, a table header added. */
function mutateConfig(input: Uint8Array, r: Rng): Uint8Array {
  const lines = UTF8.decode(input).split("\n");
  const at = int(r, lines.length);
  const k = int(r, 4);
  const m = /^(\s*[A-Za-z0-9_"-]+\s*=\s*)(.*)$/.exec(lines[at]);
  if (k === 0 && m !== null) lines[at] = m[1] + pick(r, ANY_VALUES);
  else if (k <= 1 && m !== null && m[2].includes("{")) lines[at] = lines[at].replace(/\{/, `{ ${pick(r, KEYS)} = ${pick(r, ANY_VALUES)}, `).replace(/, \}/, " }");
  else if (k <= 2) lines.splice(at, 0, `${pick(r, KEYS)} = ${pick(r, ANY_VALUES)}`);
  else lines.splice(at, 0, pick(r, ["[[service]]", "[stats]", "[service]", "[[stats]]", "[[service.servers]]", "[x]", "[[backend]]", "[backend]", "[[backend.servers]]"]));
  return ENC.encode(lines.join("\n"));
}

const toml = (v: string) => JSON.stringify(v).replace(/\x7f/g, "\\u007f");

/** One value as TOML, by its key's schema type (durations as milliseconds). */
function tomlValue(key: string | undefined, v: unknown): string {
  if (key !== undefined && keyDef(key)?.type.kind === "duration") return `"${v as number}ms"`;
  if (typeof v === "string") return toml(v);
  if (Array.isArray(v)) return `[${v.map((x) => tomlValue(undefined, x)).join(", ")}]`;
  if (v !== null && typeof v === "object") {
    const parts = Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${/^[A-Za-z0-9_-]+$/.test(k) ? k : toml(k)} = ${tomlValue(k, x)}`);
    return `{ ${parts.join(", ")} }`;
  }
  return String(v);
}

const lines = (o: object, skip: (k: string) => boolean): string[] =>
  Object.entries(o).filter(([k, v]) => v !== undefined && !skip(k)).map(([k, v]) => `${k} = ${tomlValue(k, v)}`);

/** A loaded configuration written back as TOML (every key explicit, by the schema's types). */
export function toToml(c: Config): string {
  const out = lines(c.global, () => false);
  if (c.stats) out.push("[stats]", `listen = ${toml(c.stats.listen.text)}`, ...lines(c.stats, (k) => k === "listen"));
  for (const s of c.services) {
    const own = c.backends.find((b) => b.name === s.backend && !b.declared);
    out.push("[[service]]", ...service(s, own));
  }
  for (const b of c.backends) if (b.declared) out.push("[[backend]]", `name = ${toml(b.name)}`, ...backend(b));
  return out.join("\n") + "\n";
}

function service(s: ServiceConfig, own: BackendConfig | undefined): string[] {
  const special = new Set(["listen", "http", "smtp", "routes", ...(own ? ["backend"] : [])]);
  const out = lines(s, (k) => special.has(k) || (!s.accept_proxy && (k === "proxy_from" || k === "timeout_proxy_header")));
  out.push(`listen = [${s.listen.map((l) => toml(l.text)).join(", ")}]`);
  if (s.protocol === "http") out.push(...lines(s.http, () => false));
  if (s.protocol === "smtp") out.push(...lines(s.smtp, () => false));
  if (s.routes.length > 0) out.push(routesToToml(s.routes));
  if (own) out.push(...backend(own));
  return out;
}

/** A backend's keys ("name" aside): in its [[backend]] table, or beside a service's own servers. */
function backend(s: BackendConfig): string[] {
  const special = new Set(["name", "declared", "protocol", "servers", "discover", "http", "smtp", "health"]);
  const out = lines(s, (k) => special.has(k));
  // Entries in the order written: those from DNS sit before the configured server they were written before.
  const entries: string[] = [];
  const fromDns = (i: number) => {
    for (const d of s.discover.filter((x) => x.at === i))
      entries.push(d.kind === "dns" ? `{ dns = ${toml(`${d.name}:${d.port}`)}, weight = ${d.weight}, backup = ${d.backup} }` : `{ srv = ${toml(d.name)}, backup = ${d.backup} }`);
  };
  s.servers.forEach((x, i) => {
    fromDns(i);
    entries.push(`{ address = ${toml(x.address)}, weight = ${x.weight}, backup = ${x.backup} }`);
  });
  fromDns(s.servers.length);
  out.push(`servers = [${entries.join(", ")}]`);
  if (s.health) out.push(`health = ${healthToml(s)}`);
  if (s.protocol === "http") out.push(...lines(s.http, () => false));
  if (s.protocol === "smtp") out.push(...lines(s.smtp, () => false));
  return out;
}

/** `health` written back: its path only when health_path did not give it. */
function healthToml(s: BackendConfig): string {
  const h = s.health!;
  const parts = [`interval = "${h.interval}ms"`, `timeout = "${h.timeout}ms"`, `rise = ${h.rise}`, `fall = ${h.fall}`];
  if (h.http) {
    if (s.http.health_path === undefined) parts.push(`path = ${toml(h.http.path)}`);
    if (h.http.host !== undefined) parts.push(`host = ${toml(h.http.host)}`);
    const status = `[${[...h.http.expect.classes.map((c) => `"${c}xx"`), ...h.http.expect.codes].join(", ")}]`;
    parts.push(`expect = { status = ${status}${h.http.expect.body === undefined ? "" : `, body = ${toml(h.http.expect.body)}`} }`);
  }
  if (h.tcp?.send !== undefined) parts.push(`send = ${toml(h.tcp.send)}`);
  if (h.tcp?.expect !== undefined) parts.push(`expect = ${toml(h.tcp.expect)}`);
  return `{ ${parts.join(", ")} }`;
}

function frozen(v: unknown): boolean {
  if (v === null || typeof v !== "object") return true;
  return Object.isFrozen(v) && Object.values(v).every(frozen);
}

function checkConfig(input: Uint8Array): Behaviour {
  const text = UTF8.decode(input);
  const expect = expectation(text);
  const lineCount = text.split("\n").length;
  let config: Config;
  try {
    config = parseConfig(text, "fuzz.toml");
  } catch (e) {
    ensure(e instanceof PlbError && (e.code === "CONFIG_SYNTAX" || e.code === "CONFIG_INVALID"), () => `parseConfig threw ${e instanceof Error ? e.stack : String(e)}`);
    if (e.code === "CONFIG_SYNTAX") {
      ensure(expect === undefined, () => `a generated file is a syntax error: ${e.message}`);
      return { kind: "syntax" };
    }
    const problems = e.cause as Diagnostic[];
    ensure(Array.isArray(problems) && problems.length > 0 && e.message.split("\n").length >= problems.length, "CONFIG_INVALID without its problems");
    for (const p of problems) ensure(p.line === undefined || (Number.isInteger(p.line) && p.line >= 1 && p.line <= lineCount), () => `problem on line ${p.line} of ${lineCount}`);
    ensure(expect !== "ok", () => `a valid generated file is rejected: ${e.message}`);
    if (expect !== undefined) ensure(problems.some((p) => `invalid ${p.line}` === expect), () => `expected a problem on line ${expect.slice(8)}, got ${e.message}`);
    return { kind: "invalid", reason: problems[0].message.replace(/"[^"]*"/g, "\"…\"").slice(0, 60) };
  }
  ensure(expect === undefined || expect === "ok", () => `expected ${expect}, the file loads`);
  ensure(frozen(config), "configuration not deeply frozen");
  const written = toToml(config);
  let again: Config;
  try {
    again = parseConfig(written, "fuzz.toml");
  } catch (e) {
    throw new Error(`the configuration written back does not load: ${(e as Error).message}\n${written}`);
  }
  // As JSON: a -0 (shutdown_delay = -0.0) is written and read back as 0, which is the same setting.
  // Routes' lines are where the route was written (and a regex is compared by its source).
  const json = (c: Config) => JSON.stringify(c, (k, v) => (k === "line" ? undefined : v instanceof RegExp ? v.source : v));
  ensure(json(again) === json(config), () => `written back, the configuration changes: ${written}`);
  return { kind: "done" };
}

export const configDuration: Target = {
  name: "config-duration",
  generate: durationText,
  dict: [" ", ".", "ms", "s", "-", "#n:", "\u00a0", "e", "0"],
  binary: false,
  maxLen: 256,
  check: checkDuration,
  run: (input) => parseDuration(UTF8.decode(input)),
};

export const configAddress: Target = {
  name: "config-address",
  generate: addressText,
  dict: [":", "[", "]", "::", "%", "*", ".", "localhost", "65535", "_", "-"],
  binary: false,
  maxLen: 512,
  check: checkAddress,
  run: (input) => [parseListen(UTF8.decode(input)), parseServerAddress(UTF8.decode(input))],
};

export const configToml: Target = {
  name: "config-toml",
  generate: configText,
  mutate: mutateConfig,
  dict: ["\n", " = ", "[[service]]\n", "[stats]\n", '"', "'''", "[", "]", "{", "}", ",", "#", "1979-05-27T07:32:00Z", "inf", "nan", "0x10", "1_000", "true"],
  binary: false,
  maxLen: 1 << 14,
  check: checkConfig,
  run: (input) => {
    try {
      return parseConfig(UTF8.decode(input), "fuzz.toml");
    } catch (e) {
      return e;
    }
  },
};
