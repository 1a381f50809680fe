/**
 * HTTP/2 front ends for bench/h2.ts and bench/conformance.ts: plb, HAProxy
 * 2.6 and nginx 1.22 each taking HTTP/2 from clients, over TLS (ALPN
 * h2,http/1.1) or as h2c (prior knowledge), and forwarding each request
 * over HTTP/1.1 to the same backends, reused connections, the forwarding
 * fields plb adds by default (X-Forwarded-For, -Proto, -Host) added by all
 * three. Certificates: tls-peers.ts's local CA and ECDSA P-256 certificate,
 * and each peer's Debian default TLS settings otherwise.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { grpcCalls } from "../tests/support/grpc.ts";
import { DEBIAN_PYTHON, h2Client, nghttp } from "../tests/support/h2-peers.ts";
import { launch, type Launcher, nginxHead, nginxKeepalive, type Peer, startPlbWith, waitReady } from "./peers.ts";
import { BODY, type CertFiles, DEBIAN_HAPROXY_TLS, DEBIAN_NGINX_TLS } from "./tls-peers.ts";

export type Front = "plb" | "haproxy" | "nginx";
export const FRONTS: readonly Front[] = ["plb", "haproxy", "nginx"];
export const LABEL: Record<Front, string> = { plb: "plb", haproxy: "HAProxy", nginx: "nginx" };

/** TLS with ALPN h2,http/1.1, or h2c by prior knowledge (no TLS, no Upgrade). */
export type Transport = "tls" | "h2c";
export const TRANSPORTS: readonly Transport[] = ["tls", "h2c"];

/**
 * Idle server connections each front may keep (plb pool_max_idle, per
 * server; nginx upstream keepalive, per worker; HAProxy keeps them all by
 * default): above the concurrency of the load (h2load -c 64 -m 10: 640
 * requests at once, each on its own HTTP/1.1 server connection), so that no
 * front closes and reopens server connections under load.
 */
export const IDLE_SERVER_CONNECTIONS = 1024;

export interface H2Front {
  readonly transport: Transport;
  readonly port: number;
  /** HTTP/1.1 servers on 127.0.0.1, round robin; none: the front answers every request itself (200, BODY). */
  readonly servers: readonly number[];
  readonly certs: CertFiles;
  /** The servers are gRPC servers (h2c): HTTP/2 to them (plb `server_protocol = "h2"`, HAProxy `proto h2`, nginx `grpc_pass`). */
  readonly grpc?: boolean;
}

/**
 * plb: an http service with `tls = { cert, key }` (ALPN offers h2 once plb
 * speaks it) or `h2c = "only"` (prior-knowledge HTTP/2 without TLS, h2 alone on the port as HAProxy's `proto h2`).
 */
export function plbH2Config(f: H2Front): string {
  const listener = f.transport === "tls" ? `tls = { cert = "${f.certs.cert.ecdsa}", key = "${f.certs.key.ecdsa}" }` : 'h2c = "only"';
  const answer = f.servers.length
    ? `servers = [${f.servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]\n${f.grpc ? 'server_protocol = "h2"' : `pool_max_idle = ${IDLE_SERVER_CONNECTIONS}`}\n`
    : `\n[[service.route]]\nrespond = { status = 200, body = "${BODY}", content_type = "text/plain" }\n`;
  return `loglevel = "warn"
timeout_shutdown = 0

[[service]]
name = "h2-${f.transport}"
protocol = "http"
listen = ["127.0.0.1:${f.port}"]
${listener}
${answer}`;
}

/** HAProxy: mode http, nbthread 1, `alpn h2,http/1.1` on the TLS bind or `proto h2`, server connections reused (`proto h2` on gRPC servers). */
export function haproxyH2Config(f: H2Front): string {
  const bind = f.transport === "tls" ? `ssl crt ${f.certs.combined.ecdsa} alpn h2,http/1.1` : "proto h2";
  return `global
  nbthread 1
  maxconn 8000
${DEBIAN_HAPROXY_TLS.map((l) => `  ${l}\n`).join("")}
defaults
  mode http
  option http-keep-alive
  http-reuse always
  maxconn 8000
  timeout connect 5s
  timeout client 600s
  timeout server 600s
  timeout http-request 600s
  timeout http-keep-alive 600s

frontend h2-${f.transport}
  bind 127.0.0.1:${f.port} ${bind}
  option forwardfor
  http-request set-header X-Forwarded-Proto ${f.transport === "tls" ? "https" : "http"}
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
${
  f.servers.length
    ? `  default_backend servers\n\nbackend servers\n  balance roundrobin\n${f.servers.map((p, i) => `  server s${i + 1} 127.0.0.1:${p}${f.grpc ? " proto h2" : ""}\n`).join("")}`
    : `  http-request return status 200 content-type text/plain string "${BODY}"\n`
}`;
}

/** nginx: one worker, `listen … ssl http2` or `listen … http2`, upstream keepalive, HTTP/1.1 to the servers (gRPC ones: `grpc_pass grpc://`). */
export function nginxH2Config(dir: string, f: H2Front): string {
  const t = (s: string) => join(dir, `nginx-h2-${f.transport}${f.grpc ? "-grpc" : ""}-${s}`);
  const tls = f.transport === "tls";
  const upstream = `  upstream servers {
${f.servers.map((p) => `    server 127.0.0.1:${p};`).join("\n")}
    keepalive ${IDLE_SERVER_CONNECTIONS};
    keepalive_requests 10000000;
    keepalive_timeout 600s;
  }
`;
  const forward = f.grpc
    ? `      grpc_pass grpc://servers;
      grpc_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      grpc_set_header X-Forwarded-Proto $scheme;
      grpc_set_header X-Forwarded-Host $http_host;
`
    : `      proxy_pass http://servers;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
`;
  return `${nginxHead(t)}${nginxKeepalive(t)}${tls ? DEBIAN_NGINX_TLS.map((l) => `  ${l}\n`).join("") : ""}  default_type text/plain;
${f.servers.length ? upstream : ""}  server {
    listen 127.0.0.1:${f.port}${tls ? " ssl" : ""} http2 backlog=4096;
${tls ? `    ssl_certificate ${f.certs.cert.ecdsa};\n    ssl_certificate_key ${f.certs.key.ecdsa};\n` : ""}    location / {
${f.servers.length ? forward : `      return 200 "${BODY}";\n`}    }
  }
}
`;
}

function checked(cmd: string[], what: string): void {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${what} failed:\n${r.stdout}${r.stderr}`);
}

export interface StartH2 {
  dir: string;
  start: Launcher;
  /** plb's command (plbCommand()) and working directory. */
  plb: { cmd: string[]; cwd: string };
}

/** Start front `b` for `f`, its configuration checked first (`plb --check`, `haproxy -c`, `nginx -t`: a refusal throws). */
export function startH2Front(b: Front, f: H2Front, o: StartH2): Peer {
  const name = `${b}-h2-${f.transport}${f.grpc ? "-grpc" : ""}`;
  if (b === "plb") return startPlbWith(o.dir, name, plbH2Config(f), { cmd: o.plb.cmd, cwd: o.plb.cwd, start: o.start });
  const conf = join(o.dir, `${name}.${b === "haproxy" ? "cfg" : "conf"}`);
  if (b === "haproxy") {
    writeFileSync(conf, haproxyH2Config(f));
    checked(["haproxy", "-c", "-f", conf], "haproxy -c");
    return o.start(name, ["haproxy", "-db", "-f", conf], join(o.dir, `${name}.log`));
  }
  writeFileSync(conf, nginxH2Config(o.dir, f));
  checked(["nginx", "-t", "-p", o.dir, "-c", conf], "nginx -t");
  return o.start(name, ["nginx", "-p", o.dir, "-c", conf], join(o.dir, `${name}-stderr.log`));
}

/**
 * Why a front did not start, from what startH2Front or waitReady threw: "no
 * h2: …" when plb --check refuses `h2c` (plb before it speaks h2), else
 * "did not start: …".
 */
export function startRefusal(err: unknown): string {
  const lines = (err as Error).message.split("\n").filter((l) => l.trim());
  const h2c = lines.find((l) => /unknown key "h2c"/.test(l));
  if (h2c) return `no h2: plb --check refuses h2c (${h2c.replace(/^.*?: (service)/, "$1").trim()})`;
  return `did not start: ${lines.slice(0, 3).join(" / ")}`;
}

/**
 * Does the front answer `path` over HTTP/2 (h2_client.py: ALPN h2 over TLS,
 * or prior knowledge)? undefined when it does, else why not ("no h2: …").
 */
export async function h2Refusal(port: number, transport: Transport, path: string): Promise<string | undefined> {
  try {
    const r = await h2Client({ port, tls: transport === "tls", sni: "localhost", timeout_ms: 5000, steps: [{ op: "request", path }, { op: "wait", until: "end", ms: 4000 }] });
    const s = r.summary.streams["1"];
    if (transport === "tls" && r.summary.alpn !== "h2") return `no h2: ALPN chose ${r.summary.alpn ?? "nothing"}`;
    if (s?.status === 200 && s.ended) return undefined;
    const why = r.events.find((e) => e.event === "error")?.message ?? (r.summary.goaway ? `GOAWAY ${r.summary.goaway.error}` : s?.status ? `status ${s.status}` : "no response");
    return `no h2: ${why}`;
  } catch (err) {
    return `no h2: ${(err as Error).message.split("\n")[0]}`;
  }
}

// ---------------------------------------------------------------- gRPC

/** The unary method of tests/support/grpc_peer.py: answers "NAME:" + the request. */
export const GRPC_METHOD = "/test.Echo/Unary";
/** The request h2load sends: one gRPC message frame (not compressed, length 0: an empty message). */
export const GRPC_REQUEST = new Uint8Array(5);
/** The response's DATA payload: a 5-byte frame header and "srv:" (the servers' default name). */
export const GRPC_RESPONSE_BYTES = 5 + "srv:".length;
export const GRPC_HEADERS = ["content-type: application/grpc", "te: trailers"];

/** python3-grpcio servers (tests/support/grpc_peer.py, generic handlers, identity serializers), h2c on 127.0.0.1, each its own process, on `cpus`. */
export async function startGrpcServers(dir: string, ports: readonly number[], cpus: string): Promise<Peer[]> {
  const peer = join(import.meta.dir, "../tests/support/grpc_peer.py");
  const started = ports.map((p, i) => launch(`grpc-server-${i + 1}`, [DEBIAN_PYTHON, peer, "server", String(p)], cpus, join(dir, `grpc-server-${i + 1}.log`)));
  for (const [i, p] of started.entries()) await waitReady(p, ports[i]);
  return started;
}

/**
 * Does the front pass gRPC unary calls? A grpcio client's three calls, each
 * OK with the server's answer; undefined when so, else why not ("no h2: …").
 */
export async function grpcRefusal(port: number, transport: Transport, ca: string): Promise<string | undefined> {
  try {
    const calls = [1, 2, 3].map((i) => ({ kind: "unary" as const, method: GRPC_METHOD, request: `probe ${i}`, timeout: 5 }));
    const out = await grpcCalls(`127.0.0.1:${port}`, calls, transport === "tls" ? { ca } : {}, 20_000);
    const bad = out.find((r, i) => r.code !== "OK" || r.messages?.[0] !== `srv:probe ${i + 1}`);
    return bad ? `no h2: a grpcio call ended ${bad.code} ${bad.details ?? ""} ${JSON.stringify(bad.messages ?? [])}`.trim() : undefined;
  } catch (err) {
    return `no h2: ${(err as Error).message.split("\n")[0]}`;
  }
}

/** nghttp sends the h2load request `n` times on one connection: how many answers carried `grpc-status: 0` and the server's message. */
export async function grpcStatusZero(url: string, n: number): Promise<{ ok: number; out: string }> {
  const r = await nghttp(url, { headers: GRPC_HEADERS, body: "\0".repeat(GRPC_REQUEST.length), multiply: n, timeoutSeconds: 10 });
  const zero = r.stdout.split("\n").filter((l) => /\] recv \(stream_id=\d+\) grpc-status: 0$/.test(l)).length;
  return { ok: r.dataLength === n * GRPC_RESPONSE_BYTES ? zero : 0, out: r.stdout.slice(-600) };
}
