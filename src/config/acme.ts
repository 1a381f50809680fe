/**
 * The `[acme]` table: the CA plb gets certificates from, and where it keeps them.
 *
 *   [acme]
 *   directory = "https://acme-v02.api.letsencrypt.org/directory"   # default
 *   email = "ops@example.com"            # optional: the CA's expiry and policy mail
 *   storage = "/var/lib/plb/acme"        # default; account key, certificates, keys
 *   directory_ca = "/etc/plb/pebble.pem" # extra CA trusted for the directory itself (tests, private CAs)
 *   challenge = "http-01"                # or "tls-alpn-01"; absent: whichever plb can answer
 *   key_type = "ecdsa"                   # ECDSA P-256 (default) or "rsa" (RSA 2048)
 *
 * Only the values are checked here; the storage directory (exists or can
 * be created, writable) and the directory_ca file are checked when plb
 * starts and by --check (acme/storage.ts checkStorage).
 */
import { describeValue } from "./describe.ts";
import type { Diagnostic } from "./diagnostics.ts";
import { suggestion } from "./diagnostics.ts";
import type { SourceIndex } from "./locate.ts";
import type { AcmeConfig, ListenTlsConfig } from "./types.ts";
import type { RouteConfig } from "../routes/types.ts";
import { acmeNameProblem } from "../tls/settings.ts";

export const ACME_KEYS = ["directory", "email", "storage", "directory_ca", "challenge", "key_type"];
export const LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory";
export const LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";
export const DEFAULT_ACME_STORAGE = "/var/lib/plb/acme";
const CHALLENGES = ["http-01", "tls-alpn-01"];
const KEY_TYPES = ["ecdsa", "rsa"];

/** The checked `[acme]` table, or undefined (absent, or invalid: problems reported). */
export function checkAcme(raw: unknown, source: SourceIndex, report: (d: Diagnostic) => void): AcmeConfig | undefined {
  if (raw === undefined) return undefined;
  const line = (sub?: string) => source.line({ key: "acme", sub });
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    report({ path: "acme", line: line(), message: `acme must be a table ([acme] with email = "ops@example.com"), got ${describeValue(raw)}` });
    return undefined;
  }
  const t = raw as Record<string, unknown>;
  const problems: Diagnostic[] = [];
  const bad = (sub: string, message: string) => problems.push({ path: `acme.${sub}`, line: line(sub), message: `acme.${message}` });
  for (const k of Object.keys(t)) if (!ACME_KEYS.includes(k)) bad(k, `${k}: unknown key${suggestion(k, ACME_KEYS)} (acme keys: ${ACME_KEYS.join(", ")})`);
  for (const k of ACME_KEYS) {
    if (t[k] !== undefined && (typeof t[k] !== "string" || t[k] === "")) bad(k, `${k} must be a non-empty string, got ${describeValue(t[k])}`);
  }
  const str = (k: string) => (typeof t[k] === "string" && t[k] !== "" ? (t[k] as string) : undefined);
  const directory = str("directory");
  if (directory !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(directory);
    } catch {
      bad("directory", `directory: ${JSON.stringify(directory)} is not a URL (Let's Encrypt: "${LETS_ENCRYPT}")`);
    }
    if (url && url.protocol !== "https:") bad("directory", `directory: ${JSON.stringify(directory)} must be an https:// URL (ACME requires HTTPS)`);
  }
  const email = str("email");
  if (email !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) bad("email", `email: ${JSON.stringify(email)} is not a mail address`);
  for (const [k, allowed] of [["challenge", CHALLENGES], ["key_type", KEY_TYPES]] as const) {
    const v = str(k);
    if (v !== undefined && !allowed.includes(v)) bad(k, `${k}: ${JSON.stringify(v)} is not one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}${suggestion(v, [...allowed])}`);
  }
  for (const p of problems) report(p);
  if (problems.length > 0) return undefined;
  return {
    directory: directory ?? LETS_ENCRYPT,
    email,
    storage: str("storage") ?? DEFAULT_ACME_STORAGE,
    directory_ca: str("directory_ca"),
    challenge: str("challenge") as AcmeConfig["challenge"],
    key_type: (str("key_type") as AcmeConfig["key_type"]) ?? "ecdsa",
  };
}

/** `tls.acme = true`: every exact host of the service's routes that a CA can validate (wildcards and IP literals are not). */
export function acmeFromRoutes(tls: ListenTlsConfig, routes: readonly RouteConfig[], report: (message: string) => void): ListenTlsConfig {
  const names: string[] = [];
  for (const r of routes) for (const h of r.hosts ?? []) if (acmeNameProblem(h) === undefined && !names.includes(h)) names.push(h);
  if (names.length === 0) {
    report("tls.acme = true takes the exact host names of the service's routes (route.host), and it has none: list the names, acme = [\"example.com\"]");
    return tls;
  }
  return { ...tls, acme: names };
}
