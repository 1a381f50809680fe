/**
 * The `tls` value of a service (and smtp's `starttls`, which takes the same
 * value): checked and turned into a ListenTlsConfig. Pure: files are only
 * named here; src/tls/store.ts reads them when the service is prepared.
 *
 *   tls = { cert = "a.pem", key = "a.key" }                         one pair
 *   tls = { certs = [{ cert = "a.pem", key = "a.key" }, { … }] }     a pair per name (SNI), the first the default
 *   tls = { dir = "/etc/plb/certs" }                                 every pair found in the directory
 *   tls = { acme = ["a.example", "b.example"] }                    certificates from the [acme] CA (or acme = true:
 *                                                                  every exact host of the service's routes);
 *                                                                  may be combined with one of the forms above
 * plus strict_sni (false), min_version ("1.2" | "1.3"), ciphers (TLS 1.2),
 * client_ca (PEM file) and client_verify ("required" | "optional").
 * Messages start with the key as written: `tls.certs[1].key must be …`.
 */
import { createSecureContext } from "node:tls";
import { describeValue } from "../config/describe.ts";
import { suggestion } from "../config/diagnostics.ts";
import type { CertKeyFiles, ListenTlsConfig } from "../config/types.ts";

export type TlsChecked = { readonly ok: true; readonly value: ListenTlsConfig } | { readonly ok: false; readonly error: string };

export const TLS_KEYS = ["cert", "key", "certs", "dir", "acme", "strict_sni", "min_version", "ciphers", "client_ca", "client_verify"] as const;
const VERIFY = ["required", "optional"] as const;

const isTable = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
const fail = (error: string): TlsChecked => ({ ok: false, error });

function file(k: string, v: unknown, what = "the path of a PEM file"): string | undefined {
  return typeof v === "string" && v !== "" ? undefined : `${k} must be ${what}, got ${describeValue(v)}`;
}

/** Why `ciphers` cannot be used (BoringSSL's own words), or undefined. */
function badCiphers(list: string): string | undefined {
  try {
    createSecureContext({ ciphers: list, minVersion: "TLSv1.2" });
    return undefined;
  } catch (err) {
    const m = /:([A-Z0-9_]+)$/.exec(String((err as Error).message));
    return m ? m[1].toLowerCase().replace(/_/g, " ") : String((err as Error).message);
  }
}

/** Check the value of key `k` (`tls` or `starttls`). */
export function checkListenTls(k: string, v: unknown): TlsChecked {
  if (!isTable(v)) return fail(`${k} must be a table { cert = "…", key = "…" } (or { certs = [ … ] } or { dir = "…" }), got ${describeValue(v)}`);
  for (const x of Object.keys(v)) {
    if (!(TLS_KEYS as readonly string[]).includes(x)) return fail(`${k} has unknown key ${JSON.stringify(x)}${suggestion(x, TLS_KEYS)} (expected ${TLS_KEYS.join(", ")})`);
  }
  const has = (x: string) => Object.hasOwn(v, x);
  const forms = [has("cert") || has("key") ? "cert/key" : "", has("certs") ? "certs" : "", has("dir") ? "dir" : ""].filter(Boolean);
  if (forms.length === 0 && !has("acme")) return fail(`${k} needs its certificates: cert and key, certs = [{ cert, key }, …], dir, or acme`);
  if (forms.length > 1) return fail(`${k}: give one of cert/key, certs and dir, not ${forms.join(" and ")}`);

  let acme: ListenTlsConfig["acme"];
  if (has("acme")) {
    if (k !== "tls") return fail(`${k}.acme: certificates from ACME are for a service's tls, not ${k}`);
    const checked = checkAcmeNames(`${k}.acme`, v.acme);
    if (typeof checked === "string") return fail(checked);
    acme = checked;
  }

  let source: ListenTlsConfig["source"];
  if (forms.length === 0) {
    source = { kind: "acme" };
  } else if (has("dir")) {
    const bad = file(`${k}.dir`, v.dir, "a directory path");
    if (bad) return fail(bad);
    source = { kind: "dir", dir: v.dir as string };
  } else if (has("certs")) {
    if (!Array.isArray(v.certs)) return fail(`${k}.certs must be an array of { cert = "…", key = "…" }, got ${describeValue(v.certs)}`);
    if (v.certs.length === 0) return fail(`${k}.certs must not be empty`);
    const pairs: CertKeyFiles[] = [];
    for (const [i, item] of v.certs.entries()) {
      const at = `${k}.certs[${i}]`;
      if (!isTable(item)) return fail(`${at} must be a table { cert = "…", key = "…" }, got ${describeValue(item)}`);
      const extra = Object.keys(item).find((x) => x !== "cert" && x !== "key");
      if (extra !== undefined) return fail(`${at} has unknown key ${JSON.stringify(extra)} (expected cert and key)`);
      const bad = file(`${at}.cert`, item.cert) ?? file(`${at}.key`, item.key);
      if (bad) return fail(bad);
      pairs.push({ cert: item.cert as string, key: item.key as string });
    }
    source = { kind: "pairs", pairs, form: "certs" };
  } else {
    const bad = file(`${k}.cert`, v.cert) ?? file(`${k}.key`, v.key);
    if (bad) return fail(bad);
    source = { kind: "pairs", pairs: [{ cert: v.cert as string, key: v.key as string }], form: "cert" };
  }

  const strict = v.strict_sni ?? false;
  if (typeof strict !== "boolean") return fail(`${k}.strict_sni must be true or false, got ${describeValue(strict)}`);

  let min: ListenTlsConfig["min_version"] = "1.2";
  if (has("min_version")) {
    const m = v.min_version;
    if (m === "1.2" || m === 1.2) min = "1.2";
    else if (m === "1.3" || m === 1.3) min = "1.3";
    else return fail(`${k}.min_version must be "1.2" or "1.3", got ${describeValue(m)}`);
  }

  let ciphers: string | undefined;
  if (has("ciphers")) {
    const bad = file(`${k}.ciphers`, v.ciphers, 'an OpenSSL cipher list ("ECDHE-ECDSA-AES128-GCM-SHA256:…")');
    if (bad) return fail(bad);
    if (min === "1.3") return fail(`${k}.ciphers chooses TLS 1.2 suites, and min_version = "1.3" allows no TLS 1.2 (Bun cannot restrict TLS 1.3 suites): remove one of them`);
    const why = badCiphers(v.ciphers as string);
    if (why) return fail(`${k}.ciphers cannot be used: ${why} (${JSON.stringify(v.ciphers)})`);
    ciphers = v.ciphers as string;
  }

  let client_ca: string | undefined;
  if (has("client_ca")) {
    const bad = file(`${k}.client_ca`, v.client_ca, "the path of a PEM file of CA certificates");
    if (bad) return fail(bad);
    client_ca = v.client_ca as string;
  }
  let client_verify: ListenTlsConfig["client_verify"];
  if (has("client_verify")) {
    if (!(VERIFY as readonly unknown[]).includes(v.client_verify)) return fail(`${k}.client_verify must be "required" or "optional", got ${describeValue(v.client_verify)}`);
    if (client_ca === undefined) return fail(`${k}.client_verify needs client_ca (the CAs client certificates are checked against)`);
    client_verify = v.client_verify as ListenTlsConfig["client_verify"];
  } else if (client_ca !== undefined) {
    client_verify = "required";
  }
  return { ok: true, value: { source, acme, strict_sni: strict, min_version: min, ciphers, client_ca, client_verify } };
}

/**
 * `acme = [names]` or `acme = true` (the service's route hosts, resolved by
 * config/service.ts). Names are DNS names a CA can validate over HTTP-01 or
 * TLS-ALPN-01: no IP addresses, no wildcards (they need DNS-01).
 */
function checkAcmeNames(k: string, v: unknown): readonly string[] | true | string {
  if (v === true) return true;
  if (!Array.isArray(v)) return `${k} must be a list of host names (["example.com", "www.example.com"]) or true (every exact host of the service's routes), got ${describeValue(v)}`;
  if (v.length === 0) return `${k} must name at least one host`;
  const out: string[] = [];
  for (const [i, n] of v.entries()) {
    const why = acmeNameProblem(n);
    if (why !== undefined) return `${k}[${i}]: ${why}`;
    const name = (n as string).toLowerCase().replace(/\.$/, "");
    if (out.includes(name)) return `${k}[${i}]: ${JSON.stringify(n)} is listed twice`;
    out.push(name);
  }
  return out;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Why `n` cannot be a name in an ACME order (undefined: it can). */
export function acmeNameProblem(n: unknown): string | undefined {
  if (typeof n !== "string" || n === "") return `must be a host name, got ${describeValue(n)}`;
  const name = n.toLowerCase().replace(/\.$/, "");
  if (name.startsWith("*.")) return `${JSON.stringify(n)} is a wildcard: a CA validates wildcards only over DNS-01, which plb does not do (list the names)`;
  if (/^[0-9.]+$/.test(name) || name.includes(":") || name.startsWith("[")) return `${JSON.stringify(n)} is an IP address: ACME certificates here are for DNS names`;
  const labels = name.split(".");
  if (name.length > 253 || labels.length < 2 || !labels.every((l) => LABEL.test(l))) return `${JSON.stringify(n)} is not a DNS name a CA can issue for (labels of letters, digits and hyphens, at least two labels)`;
  return undefined;
}
