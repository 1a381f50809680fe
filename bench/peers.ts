/**
 * The processes a bench run starts: nginx backends, HAProxy, nginx as a
 * proxy, plb. Writes their configs, starts them pinned to a core (or with
 * another Launcher: in a capped cgroup) with a raised fd limit, waits until
 * they accept, and stops every one of them (and their children) at the end.
 */
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BALANCER_CPU, descendants, killClients, LOAD_CPU } from "./measure.ts";

export const ROOT = join(import.meta.dir, "..");

/** A progress line on stderr. */
export const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
export const BUN = existsSync(join(ROOT, "node_modules/.bin/bun")) ? join(ROOT, "node_modules/.bin/bun") : process.execPath;

export interface Peer {
  readonly name: string;
  readonly proc: Subprocess;
  readonly pid: number;
  readonly log: string;
}

const running: Peer[] = [];

// ---------------------------------------------------------------- tools

const TOOLS: [cmd: string, pkg: string][] = [
  ["haproxy", "haproxy"],
  ["nginx", "nginx"],
  ["wrk", "wrk"],
  ["curl", "curl"],
  ["taskset", "util-linux"],
];

function has(cmd: string): boolean {
  return Bun.spawnSync(["bash", "-c", `command -v ${cmd}`], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

function apt(args: string[]): boolean {
  const r = Bun.spawnSync(["apt-get", ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    stdout: "ignore",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) process.stderr.write(r.stderr.toString().split("\n").slice(-4).join("\n"));
  return r.exitCode === 0;
}

/** Install haproxy, nginx, wrk (and curl, taskset) when missing. */
export function ensureTools(): void {
  const missing = [...new Set(TOOLS.filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg))];
  if (missing.length === 0) return;
  console.error(`bench: installing ${missing.join(" ")}`);
  if (!apt(["install", "-y", ...missing])) {
    apt(["update"]);
    if (!apt(["install", "-y", ...missing])) throw new Error(`apt-get install ${missing.join(" ")} failed`);
  }
  const still = TOOLS.filter(([cmd]) => !has(cmd)).map(([cmd]) => cmd);
  if (still.length) throw new Error(`still missing after install: ${still.join(", ")}`);
}

export function versions(): string {
  const out = (cmd: string[]) => {
    const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
    return (r.stdout.toString() + r.stderr.toString()).split("\n")[0].trim();
  };
  return [out(["haproxy", "-v"]), out(["nginx", "-v"]), out(["wrk", "--version"]), `bun ${Bun.version}`].join("; ");
}

// ---------------------------------------------------------------- processes

/**
 * Start `cmd` pinned to `cpu` with the fd limit raised as far as allowed
 * (65536, or the hard limit). stdout and stderr go to `log`.
 */
export function launch(name: string, cmd: string[], cpu: string, log: string, cwd = ROOT): Peer {
  const fd = openSync(log, "a");
  const script = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec taskset -c "$0" "$@"';
  const proc = Bun.spawn(["bash", "-c", script, cpu, ...cmd], { cwd, stdin: "ignore", stdout: fd, stderr: fd });
  closeSync(fd);
  const peer = { name, proc, pid: proc.pid, log };
  running.push(peer);
  return peer;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, wait up to 3 s, then SIGKILL the process and whatever it started. */
export async function stop(peer: Peer): Promise<void> {
  const i = running.indexOf(peer);
  if (i >= 0) running.splice(i, 1);
  const kids = descendants(peer.pid);
  if (peer.proc.exitCode === null && peer.proc.signalCode === null) {
    peer.proc.kill("SIGTERM");
    const done = await Promise.race([peer.proc.exited.then(() => true), Bun.sleep(3000).then(() => false)]);
    if (!done) peer.proc.kill("SIGKILL");
    await peer.proc.exited;
  }
  for (const k of kids) {
    for (let t = 0; t < 20 && alive(k); t++) await Bun.sleep(50);
    if (alive(k)) process.kill(k, "SIGKILL");
  }
}

export async function stopAll(): Promise<void> {
  for (const p of [...running].reverse()) await stop(p).catch(() => {});
}

/** Synchronous last resort (signal handlers): SIGKILL everything started. */
export function killAllNow(): void {
  killClients();
  for (const p of running) {
    // The parent first: an nginx master that sees its worker die starts a new one, left orphaned.
    for (const pid of [p.pid, ...descendants(p.pid)]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
}

/** Resolve once `port` accepts a connection; throw if the peer exits or after `ms`. */
export async function waitReady(peer: Peer, port: number, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (peer.proc.exitCode !== null || peer.proc.signalCode !== null) break;
    const ok = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, open(s) { s.end(); } } }).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await Bun.sleep(100);
  }
  const tail = existsSync(peer.log) ? readFileSync(peer.log, "utf8").split("\n").slice(-15).join("\n") : "";
  throw new Error(`${peer.name} did not start listening on 127.0.0.1:${port}\n${tail}`);
}

/** Distinct free loopback ports (bind port 0 and release). */
export function freePorts(n: number): number[] {
  const out: number[] = [];
  while (out.length < n) {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    if (!out.includes(l.port)) out.push(l.port);
    l.stop(true);
  }
  return out;
}

// ---------------------------------------------------------------- content

export const SMALL = "small.txt";
export const BIG = "big.bin";
export const BIG_BYTES = 200 * 1000 * 1000;

/** The document root: a 100-byte file and (unless `big` is false) a 200 MB file. */
export function writeContent(dir: string, big = true): string {
  const www = join(dir, "www");
  Bun.spawnSync(["mkdir", "-p", www]);
  writeFileSync(join(www, SMALL), `${"x".repeat(99)}\n`);
  if (!big) return www;
  const block = new Uint8Array(1000 * 1000);
  crypto.getRandomValues(block.subarray(0, 65536));
  for (let o = 65536; o < block.length; o += 65536) block.copyWithin(o, 0, 65536);
  const fd = openSync(join(www, BIG), "w");
  for (let i = 0; i < BIG_BYTES / block.length; i++) writeFileSync(fd, block);
  closeSync(fd);
  return www;
}

// ---------------------------------------------------------------- nginx

/**
 * The start of an nginx configuration (`workers` worker processes, files
 * named by `t`) up to and with "http {" and "access_log off;";
 * nginxKeepalive: long keep-alive and temporary paths, inside http { }.
 * Shared by the backends and the nginx proxy.
 */
export function nginxHead(t: (s: string) => string, workers = 1): string {
  return `daemon off;
master_process on;
worker_processes ${workers};
user root;
pid ${t("pid")};
error_log ${t("error.log")} warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
  access_log off;
`;
}

export function nginxKeepalive(t: (s: string) => string): string {
  return `  keepalive_timeout 600s;
  keepalive_requests 10000000;
  client_header_timeout 600s;
  client_body_temp_path ${t("body")};
  proxy_temp_path ${t("proxy")};
  fastcgi_temp_path ${t("fastcgi")};
  uwsgi_temp_path ${t("uwsgi")};
  scgi_temp_path ${t("scgi")};
`;
}

export function startNginx(dir: string, www: string, name: string, port: number): Peer {
  const conf = join(dir, `${name}.conf`);
  const t = (s: string) => join(dir, `${name}-${s}`);
  writeFileSync(
    conf,
    `${nginxHead(t)}  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  open_file_cache max=16;
${nginxKeepalive(t)}  server {
    listen 127.0.0.1:${port} backlog=4096;
    root ${www};
    location / { }
  }
}
`,
  );
  return launch(name, ["nginx", "-p", dir, "-c", conf], LOAD_CPU, t("stderr.log"));
}

// ---------------------------------------------------------------- balancers

/** Starts a balancer's process: pinned to BALANCER_CPU (onBalancerCpu), or e.g. in a capped cgroup (cgroup.ts). */
export type Launcher = (name: string, cmd: string[], log: string, cwd?: string) => Peer;
export const onBalancerCpu: Launcher = (name, cmd, log, cwd) => launch(name, cmd, BALANCER_CPU, log, cwd);

/** One balanced service: a listen port and its servers (all on 127.0.0.1). */
export interface Route {
  readonly name: string;
  readonly port: number;
  readonly servers: readonly number[];
}

export interface HaproxyOptions {
  /** mode http with keep-alive on both sides and server connections reused; else mode tcp. */
  http?: boolean;
  /** nbthread (1). */
  threads?: number;
  start?: Launcher;
}

/**
 * The same forwarding fields plb adds by default (forwarded_for = "append",
 * X-Forwarded-Proto, X-Forwarded-Host): every balancer does the same job, as
 * an operator would set it up (HAProxy's \`option forwardfor\`, nginx's
 * \`$proxy_add_x_forwarded_for\`; nginx also passes the client's Host on, as plb does).
 */
const HAPROXY_FORWARDING = "  option forwardfor\n  http-request set-header X-Forwarded-Proto http\n  http-request set-header X-Forwarded-Host %[req.hdr(host)]\n";
const NGINX_FORWARDING = [
  "proxy_set_header Host $http_host;",
  "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
  "proxy_set_header X-Forwarded-Proto $scheme;",
  "proxy_set_header X-Forwarded-Host $http_host;",
]
  .map((l) => `      ${l}\n`)
  .join("");

/** The HAProxy configuration: roundrobin over each route's servers, `nbthread`, mode http or tcp. */
export function haproxyConfig(routes: readonly Route[], { http = false, threads = 1 }: HaproxyOptions = {}): string {
  const fronts = routes
    .map(
      (r) => `
frontend ${r.name}
  bind 127.0.0.1:${r.port}
${http ? HAPROXY_FORWARDING : ""}  default_backend ${r.name}_servers

backend ${r.name}_servers
  balance roundrobin
${r.servers.map((p, i) => `  server s${i + 1} 127.0.0.1:${p}`).join("\n")}
`,
    )
    .join("");
  return `global
  nbthread ${threads}
  maxconn 8000

defaults
  mode ${http ? "http\n  option http-keep-alive\n  http-reuse always" : "tcp"}
  maxconn 8000
  timeout connect 5s
  timeout client 600s
  timeout server 600s
${http ? "  timeout http-request 600s\n  timeout http-keep-alive 600s\n" : ""}${fronts}`;
}

/** HAProxy on haproxyConfig(routes, o), checked with `haproxy -c` first, in the foreground (-db). */
export function startHaproxy(dir: string, routes: readonly Route[], o: HaproxyOptions = {}): Peer {
  const name = o.http ? "haproxy-http" : "haproxy";
  const conf = join(dir, `${name}.cfg`);
  writeFileSync(conf, haproxyConfig(routes, o));
  const check = Bun.spawnSync(["haproxy", "-c", "-f", conf], { stdout: "pipe", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`haproxy -c failed:\n${check.stdout}${check.stderr}`);
  return (o.start ?? onBalancerCpu)("haproxy", ["haproxy", "-db", "-f", conf], join(dir, `${name}.log`));
}

/**
 * nginx as a reverse proxy on `port`: `workers` worker processes (1),
 * upstream keepalive 64, HTTP/1.1 to the servers, plb's forwarding fields;
 * checked with `nginx -t`.
 */
export function startNginxProxy(dir: string, port: number, servers: readonly number[], { workers = 1, start = onBalancerCpu }: { workers?: number; start?: Launcher } = {}): Peer {
  const conf = join(dir, "nginx-proxy.conf");
  const t = (s: string) => join(dir, `nginx-proxy-${s}`);
  writeFileSync(
    conf,
    `${nginxHead(t, workers)}${nginxKeepalive(t)}  upstream bench_servers {
${servers.map((p) => `    server 127.0.0.1:${p};`).join("\n")}
    keepalive 64;
    keepalive_requests 10000000;
    keepalive_timeout 600s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://bench_servers;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
${NGINX_FORWARDING}    }
  }
}
`,
  );
  const check = Bun.spawnSync(["nginx", "-t", "-p", dir, "-c", conf], { stdout: "pipe", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`nginx -t failed:\n${check.stdout}${check.stderr}`);
  return start("nginx-proxy", ["nginx", "-p", dir, "-c", conf], t("stderr.log"));
}

/** plb's command line: dist/plb, or bun on `src`/src/cli.ts (`src`: ROOT or a snapshot of it). */
export function plbCommand(binary: boolean, src = ROOT): string[] {
  return binary ? [join(ROOT, "dist/plb")] : [BUN, join(src, "src/cli.ts")];
}

export function buildBinary(): void {
  const r = Bun.spawnSync([BUN, "build.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`bun build.ts failed:\n${r.stdout}${r.stderr}`);
}

/** The tcp-mode plb configuration: one protocol = "tcp" service per route. */
export function plbConfig(routes: readonly Route[]): string {
  return `loglevel = "warn"\n${routes
    .map(
      (r) => `
[[service]]
name = "${r.name}"
protocol = "tcp"
listen = ["127.0.0.1:${r.port}"]
servers = [${r.servers.map((p) => `"127.0.0.1:${p}"`).join(", ")}]
`,
    )
    .join("")}`;
}

export interface PlbStart {
  /** The command checking the configuration (plbCommand()). */
  cmd: string[];
  /** The command running it (default: cmd; e.g. bun under a profiler). */
  run?: string[];
  /** plb's working directory: the tree it runs from (ROOT). */
  cwd?: string;
  start?: Launcher;
}

/**
 * plb on `config`, written to DIR/NAME.toml and checked with `plb --check`
 * first; logs to NAME.log, pid file in `dir` (as root plb would otherwise
 * write /var/run/plb.pid).
 */
export function startPlbWith(dir: string, name: string, config: string, { cmd, run = cmd, cwd = ROOT, start = onBalancerCpu }: PlbStart): Peer {
  const conf = join(dir, `${name}.toml`);
  writeFileSync(conf, config);
  const check = Bun.spawnSync([...cmd, "--check", "--config", conf], { cwd, stdout: "pipe", stderr: "pipe" });
  if (check.exitCode !== 0) throw new Error(`plb --check failed (exit ${check.exitCode}):\n${check.stdout}${check.stderr}`);
  return start(name, [...run, "--config", conf, "--logfile", "-", "--pidfile", join(dir, `${name}.pid`)], join(dir, `${name}.log`), cwd);
}

export function startPlb(dir: string, routes: readonly Route[], binary: boolean): Peer {
  return startPlbWith(dir, "plb", plbConfig(routes), { cmd: plbCommand(binary) });
}
