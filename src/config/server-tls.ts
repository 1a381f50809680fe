/**
 * The value of `server_tls` (TLS from plb to a backend's servers), checked
 * without reading any file (tls/client.ts reads and checks the files at
 * start, `--check` and reload). Pure.
 *
 *   server_tls = true                  verified against the system's roots, SNI the server's host name
 *   server_tls = false                 plain text (as if unset)
 *   server_tls = { verify = true, ca = "ca.pem", server_name = "app.internal", cert = "client.pem", key = "client.key" }
 */
import { isIP } from "node:net";
import { describeValue } from "./describe.ts";
import { suggestion } from "./diagnostics.ts";
import type { ServerTlsConfig } from "./types.ts";

export const SERVER_TLS_KEYS = ["verify", "ca", "server_name", "cert", "key"] as const;

type Checked = { readonly ok: true; readonly value: ServerTlsConfig | undefined } | { readonly ok: false; readonly error: string };

/** A DNS name as SNI carries it (RFC 6066: a host name, never an IP literal). */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** `k` (the key's name, for messages) set to `v`. */
export function checkServerTls(k: string, v: unknown): Checked {
  const fail = (error: string): Checked => ({ ok: false, error });
  if (v === true) return { ok: true, value: { verify: true, ca: undefined, server_name: undefined, cert: undefined, key: undefined } };
  if (v === false) return { ok: true, value: undefined };
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    return fail(`${k} must be true or a table { verify = true, ca = "ca.pem", server_name = "…", cert = "…", key = "…" }, got ${describeValue(v)}`);
  }
  const t = v as Record<string, unknown>;
  for (const x of Object.keys(t)) {
    if (!(SERVER_TLS_KEYS as readonly string[]).includes(x)) return fail(`${k} has unknown key ${JSON.stringify(x)}${suggestion(x, SERVER_TLS_KEYS)} (expected ${SERVER_TLS_KEYS.join(", ")})`);
  }
  if (t.verify !== undefined && typeof t.verify !== "boolean") return fail(`${k}.verify must be true or false, got ${describeValue(t.verify)}`);
  for (const part of ["ca", "cert", "key"] as const) {
    if (t[part] !== undefined && (typeof t[part] !== "string" || t[part] === "")) return fail(`${k}.${part} must be the path of a PEM file, got ${describeValue(t[part])}`);
  }
  const name = t.server_name;
  if (name !== undefined) {
    if (typeof name !== "string") return fail(`${k}.server_name must be a string, got ${describeValue(name)}`);
    if (isIP(name.replace(/^\[|\]$/g, "")) !== 0) return fail(`${k}.server_name must be a host name (SNI cannot carry an IP address), got ${JSON.stringify(name)}; leave it out to verify the server's certificate against its IP address`);
    if (!HOST_NAME.test(name)) return fail(`${k}.server_name must be a host name such as "app.internal", got ${JSON.stringify(name)}`);
  }
  if ((t.cert === undefined) !== (t.key === undefined)) {
    const [has, lacks] = t.cert === undefined ? ["key", "cert"] : ["cert", "key"];
    return fail(`${k}.${has} needs ${k}.${lacks} too: a client certificate and its private key go together`);
  }
  const verify = t.verify !== false;
  if (!verify && t.ca !== undefined) return fail(`${k}.ca has no effect with ${k}.verify = false (remove one of them)`);
  return {
    ok: true,
    value: { verify, ca: t.ca as string | undefined, server_name: name?.replace(/\.$/, "").toLowerCase(), cert: t.cert as string | undefined, key: t.key as string | undefined },
  };
}
