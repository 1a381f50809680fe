/**
 * TLS terminators for bench/tls.ts and bench/testssl.ts: test certificates
 * (a local CA, an ECDSA P-256 and an RSA 2048 server certificate), and plb,
 * HAProxy and nginx each terminating TLS on http listeners and answering
 * every request themselves with the same 200 "ok": plb's route `respond`,
 * HAProxy's `http-request return`, nginx's `return 200`. Each gets a
 * certificate and key and otherwise its Debian default TLS settings (the
 * lines Debian 12 ships in /etc/haproxy/haproxy.cfg and /etc/nginx/nginx.conf),
 * as an operator who only adds a certificate would run it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Launcher, nginxHead, nginxKeepalive, type Peer, startPlbWith } from "./peers.ts";

export type Terminator = "plb" | "haproxy" | "nginx";
export const TERMINATORS: readonly Terminator[] = ["plb", "haproxy", "nginx"];
export const LABEL: Record<Terminator, string> = { plb: "plb", haproxy: "HAProxy", nginx: "nginx" };

export type KeyType = "ecdsa" | "rsa";
export const KEY_LABEL: Record<KeyType, string> = { ecdsa: "ECDSA P-256", rsa: "RSA 2048" };

/** The body every terminator answers with (status 200, text/plain). */
export const BODY = "ok";

/**
 * The TLS lines of Debian 12's /etc/haproxy/haproxy.cfg (global section): Mozilla
 * "intermediate" as of HAProxy 2.0.3, TLS 1.2 at least, no session tickets.
 */
export const DEBIAN_HAPROXY_TLS = [
  "ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384",
  "ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
  "ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
];

/** The TLS lines of Debian 12's /etc/nginx/nginx.conf (http block); the ciphers stay nginx's default, HIGH:!aNULL:!MD5. */
export const DEBIAN_NGINX_TLS = ["ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;", "ssl_prefer_server_ciphers on;"];

// ---------------------------------------------------------------- certificates

export interface CertFiles {
  /** The local CA's certificate (for testssl --add-ca). */
  readonly ca: string;
  readonly cert: Record<KeyType, string>;
  readonly key: Record<KeyType, string>;
  /** Certificate then key in one file (HAProxy's `crt`). */
  readonly combined: Record<KeyType, string>;
}

function openssl(args: string[]): void {
  const r = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.slice(0, 2).join(" ")} failed:\n${r.stderr}`);
}

/**
 * A local CA (ECDSA P-256) and two server certificates it signed, for
 * localhost and 127.0.0.1, valid 90 days (under testssl's 398-day limit),
 * with a CRL URI (never fetched: testssl rates a certificate without CRL or
 * OCSP URI HIGH, a finding about the CA rather than the server), written in `dir`.
 */
export function makeCertificates(dir: string): CertFiles {
  const f = (n: string) => join(dir, n);
  const newKey: Record<KeyType | "ca", string[]> = {
    ca: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    ecdsa: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    rsa: ["-newkey", "rsa:2048"],
  };
  openssl(["req", "-x509", ...newKey.ca, "-nodes", "-keyout", f("ca.key"), "-out", f("ca.pem"), "-days", "90", "-subj", "/CN=plb bench CA"]);
  writeFileSync(
    f("server.ext"),
    "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\ncrlDistributionPoints = URI:http://127.0.0.1/plb-bench-ca.crl\n",
  );
  const out = { ca: f("ca.pem"), cert: {}, key: {}, combined: {} } as { ca: string; cert: Record<KeyType, string>; key: Record<KeyType, string>; combined: Record<KeyType, string> };
  for (const k of ["ecdsa", "rsa"] as const) {
    openssl(["req", ...newKey[k], "-nodes", "-keyout", f(`${k}.key`), "-out", f(`${k}.csr`), "-subj", "/CN=localhost"]);
    openssl(["x509", "-req", "-in", f(`${k}.csr`), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial", "-days", "90", "-sha256", "-extfile", f("server.ext"), "-out", f(`${k}.pem`)]);
    writeFileSync(f(`${k}.combined.pem`), readFileSync(f(`${k}.pem`), "utf8") + readFileSync(f(`${k}.key`), "utf8"));
    out.cert[k] = f(`${k}.pem`);
    out.key[k] = f(`${k}.key`);
    out.combined[k] = f(`${k}.combined.pem`);
  }
  return out;
}

// ---------------------------------------------------------------- the terminators

/** One TLS listener: its port and which certificate it serves. */
export interface TlsListener {
  readonly port: number;
  readonly keyType: KeyType;
}

export function plbTlsConfig(listeners: readonly TlsListener[], certs: CertFiles): string {
  return `loglevel = "warn"
timeout_shutdown = 0
${listeners
  .map(
    (l) => `
[[service]]
name = "tls-${l.keyType}-${l.port}"
protocol = "http"
listen = ["127.0.0.1:${l.port}"]
tls = { cert = "${certs.cert[l.keyType]}", key = "${certs.key[l.keyType]}" }

[[service.route]]
respond = { status = 200, body = "${BODY}", content_type = "text/plain" }
`,
  )
  .join("")}`;
}

export function haproxyTlsConfig(listeners: readonly TlsListener[], certs: CertFiles): string {
  return `global
  nbthread 1
  maxconn 8000
${DEBIAN_HAPROXY_TLS.map((l) => `  ${l}\n`).join("")}
defaults
  mode http
  maxconn 8000
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-request 30s
${listeners
  .map(
    (l) => `
frontend tls-${l.keyType}-${l.port}
  bind 127.0.0.1:${l.port} ssl crt ${certs.combined[l.keyType]}
  http-request return status 200 content-type text/plain string "${BODY}"
`,
  )
  .join("")}`;
}

export function nginxTlsConfig(dir: string, listeners: readonly TlsListener[], certs: CertFiles): string {
  const t = (s: string) => join(dir, `nginx-tls-${s}`);
  return `${nginxHead(t)}${nginxKeepalive(t)}${DEBIAN_NGINX_TLS.map((l) => `  ${l}\n`).join("")}  default_type text/plain;
${listeners
  .map(
    (l) => `  server {
    listen 127.0.0.1:${l.port} ssl backlog=4096;
    ssl_certificate ${certs.cert[l.keyType]};
    ssl_certificate_key ${certs.key[l.keyType]};
    location / { return 200 "${BODY}"; }
  }
`,
  )
  .join("")}}
`;
}

function checked(cmd: string[], what: string): void {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${what} failed:\n${r.stdout}${r.stderr}`);
}

export interface StartTls {
  dir: string;
  certs: CertFiles;
  listeners: readonly TlsListener[];
  start: Launcher;
  /** plb's command (plbCommand()) and working directory. */
  plb: { cmd: string[]; cwd: string };
}

/** Start terminator `t` with `listeners`, its configuration checked first (`plb --check`, `haproxy -c`, `nginx -t`). */
export function startTerminator(t: Terminator, o: StartTls): Peer {
  const { dir, certs, listeners, start } = o;
  if (t === "plb") return startPlbWith(dir, "plb-tls", plbTlsConfig(listeners, certs), { cmd: o.plb.cmd, cwd: o.plb.cwd, start });
  if (t === "haproxy") {
    const conf = join(dir, "haproxy-tls.cfg");
    writeFileSync(conf, haproxyTlsConfig(listeners, certs));
    checked(["haproxy", "-c", "-f", conf], "haproxy -c");
    return start("haproxy-tls", ["haproxy", "-db", "-f", conf], join(dir, "haproxy-tls.log"));
  }
  const conf = join(dir, "nginx-tls.conf");
  writeFileSync(conf, nginxTlsConfig(dir, listeners, certs));
  checked(["nginx", "-t", "-p", dir, "-c", conf], "nginx -t");
  return start("nginx-tls", ["nginx", "-p", dir, "-c", conf], join(dir, "nginx-tls-stderr.log"));
}

/** What one handshake negotiated, from `openssl s_client -brief`, and whether the answer was the 200. */
export interface Negotiated {
  protocol?: string;
  cipher?: string;
  group?: string;
  answered: boolean;
}

/** One request through `openssl s_client` pinned to TLS `version` ("1.2" | "1.3"). */
export function probe(port: number, version: "1.2" | "1.3"): Negotiated {
  const r = Bun.spawnSync(
    ["timeout", "10", "openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", `-tls${version.replace(".", "_")}`, "-brief", "-ign_eof"],
    { stdin: Buffer.from("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"), stdout: "pipe", stderr: "pipe" },
  );
  const err = r.stderr.toString();
  const field = (name: string) => new RegExp(`^${name}: (.+)$`, "m").exec(err)?.[1].trim();
  return {
    protocol: field("Protocol version"),
    cipher: field("Ciphersuite"),
    group: field("(?:Server|Peer) Temp Key")?.split(",")[0],
    answered: /^HTTP\/1\.[01] 200 /m.test(r.stdout.toString()),
  };
}
