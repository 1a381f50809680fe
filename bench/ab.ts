/**
 * A/B: plb at a base revision against plb as it is in the working tree,
 * same machine, same backends, each under the same CPU quota (cgroup), rounds
 * alternating. For the cost of a change on the hot path (e.g. lifecycle
 * events with nothing subscribed): http keep-alive and tcp one request per
 * connection through two nginx backends, wrk -t1 -c64.
 *
 *   bun bench/ab.ts --base REV [--cap 50] [--duration 8] [--rounds 5]
 *   bun bench/ab.ts --stats ...   the working tree without [stats] (base) and with it (the
 *                                 lifecycle events then have subscribers: metrics on the hot path)
 *   bun bench/ab.ts --access-log  the working tree without and with an access log (combined, to a file)
 *   bun bench/ab.ts --routes      the working tree without routes (base) and with 200 hosts × 5 routes each (work):
 *                                 the http requests carry a Host near the end of the table and reach its
 *                                 prefix route (issue 19: at most 3 % slower on the keep-alive row)
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cgroup, cgroupKind, launchIn, removeCgroups } from "./cgroup.ts";
import { withCpu, wrk } from "./measure.ts";
import { BUN, ensureTools, freePorts, log, ROOT, SMALL, startNginx, stop, stopAll, waitReady, writeContent } from "./peers.ts";
import { snapshotSource } from "./snapshot.ts";

const opt = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const STATS = process.argv.includes("--stats");
const ACCESS = process.argv.includes("--access-log");
const ROUTES = process.argv.includes("--routes");
const SAME_TREE = STATS || ACCESS || ROUTES;
/** With --routes: the Host every http request carries (site 150 of 200), for both sides. */
const HOST = ROUTES ? "site150.example.com" : undefined;
const BASE = SAME_TREE ? "HEAD" : opt("base", "");
const CAP = Number(opt("cap", "50"));
const DURATION = Number(opt("duration", "8"));
const ROUNDS = Number(opt("rounds", "5"));
if (!BASE) {
  console.error("usage: bun bench/ab.ts --base REV | --stats [--cap 50] [--duration 8] [--rounds 5]");
  process.exit(1);
}

ensureTools();
const dir = join(tmpdir(), `plb-bench-ab-${process.pid}`);
mkdirSync(dir, { recursive: true });
// The base revision as files (git archive: no worktree to clean up), with the working tree's node_modules.
const baseDir = join(dir, "base");
mkdirSync(baseDir);
const archive = Bun.spawnSync(["bash", "-c", `git -C ${ROOT} archive ${BASE} | tar -x -C ${baseDir} && ln -s ${join(ROOT, "node_modules")} ${join(baseDir, "node_modules")}`], { stderr: "pipe" });
if (archive.exitCode !== 0) throw new Error(`git archive ${BASE}: ${archive.stderr}`);
const rev = Bun.spawnSync(["git", "-C", ROOT, "rev-parse", "--short", BASE], { stdout: "pipe" }).stdout.toString().trim();

const www = writeContent(dir);
const [b1, b2, httpPort, tcpPort] = freePorts(4);
const backends = [startNginx(dir, www, "backend-1", b1), startNginx(dir, www, "backend-2", b2)];
await waitReady(backends[0], b1);
await waitReady(backends[1], b2);

const servers = `servers = ["127.0.0.1:${b1}", "127.0.0.1:${b2}"]`;
const [statsPort] = freePorts(1);
const configs: Record<"base" | "work", string> = { base: join(dir, "plb.toml"), work: join(dir, SAME_TREE ? "plb-b.toml" : "plb.toml") };
const services = `[[service]]\nname = "web"\nprotocol = "http"\nlisten = ["127.0.0.1:${httpPort}"]\n${servers}\npool_max_idle = 256\n[[service]]\nname = "tcp"\nlisten = ["127.0.0.1:${tcpPort}"]\n${servers}\n`;
writeFileSync(configs.base, `loglevel = "warn"\ntimeout_shutdown = 0\n${services}`);
if (STATS) writeFileSync(configs.work, `loglevel = "warn"\ntimeout_shutdown = 0\n[stats]\nlisten = "127.0.0.1:${statsPort}"\n${services}`);
if (ROUTES) {
  // 200 sites with 5 routes each, in the order an operator writes them: prefixes, an exact path, a method, a catch-all.
  const routes: string[] = [];
  for (let i = 0; i < 200; i++) {
    const host = `host = ["site${i}.example.com", "www.site${i}.example.com"]`;
    routes.push(
      `[[service.route]]\n${host}\npath = "/api/"\nbackend = "web"\nrequest_headers = { set = { "X-Site" = "${i}" } }`,
      `[[service.route]]\n${host}\npath = "/static/"\nbackend = "web"`,
      `[[service.route]]\n${host}\npath_exact = "/health"\nrespond = { status = 200, body = "ok" }`,
      `[[service.route]]\n${host}\nmethod = "POST"\nbackend = "web"`,
      `[[service.route]]\n${host}\npath = "/"\nbackend = "web"`,
    );
  }
  writeFileSync(configs.work, `loglevel = "warn"\ntimeout_shutdown = 0\n${services.replace("pool_max_idle = 256\n", `pool_max_idle = 256\n${routes.join("\n")}\n`)}`);
}
if (ACCESS) {
  const logs = (name: string) => `access_log = { path = "${join(dir, `${name}.log`)}" }`;
  writeFileSync(configs.work, `loglevel = "warn"\ntimeout_shutdown = 0\n${services.replace("pool_max_idle = 256", `pool_max_idle = 256\n${logs("web")}`).trimEnd()}\n${logs("tcp")}\n`);
}

type Side = "base" | "work";
// The working tree as it is now: every round runs the same code, even while src/ is edited.
const work = snapshotSource(dir);
const trees: Record<Side, string> = { base: SAME_TREE ? work : baseDir, work };
const results: Record<Side, { ka: number[]; conn: number[]; kaCpu: number[]; connCpu: number[] }> = {
  base: { ka: [], conn: [], kaCpu: [], connCpu: [] },
  work: { ka: [], conn: [], kaCpu: [], connCpu: [] },
};
/** CPU µs of plb's process tree per request (a cross-check of req/s that noise on the machine moves less). */
const perRequest = (r: { requests: number }, cpu: { seconds: number } | undefined) => (cpu && r.requests > 0 ? (cpu.seconds * 1e6) / r.requests : NaN);
for (let round = 1; round <= ROUNDS; round++) {
  for (const side of (round % 2 ? ["base", "work"] : ["work", "base"]) as Side[]) {
    const cg = cgroup(`ab-${side}`, CAP);
    const peer = launchIn(cg, `plb-${side}`, [BUN, join(trees[side], "src/cli.ts"), "--config", configs[side], "--logfile", "-", "--pidfile", join(dir, `${side}.pid`)], join(dir, `${side}.log`), trees[side]);
    await waitReady(peer, httpPort);
    await wrk(`http://127.0.0.1:${httpPort}/${SMALL}`, 1, { host: HOST });
    const [ka, kaCpu] = await withCpu(peer.pid, () => wrk(`http://127.0.0.1:${httpPort}/${SMALL}`, DURATION, { host: HOST }));
    const [conn, connCpu] = await withCpu(peer.pid, () => wrk(`http://127.0.0.1:${tcpPort}/${SMALL}`, DURATION, { close: true }));
    await stop(peer);
    const r = results[side];
    r.ka.push(ka.rps);
    r.conn.push(conn.rps);
    r.kaCpu.push(perRequest(ka, kaCpu));
    r.connCpu.push(perRequest(conn, connCpu));
    log(`round ${round} ${side}: http keep-alive ${Math.round(ka.rps)} req/s (${r.kaCpu.at(-1)!.toFixed(1)} µs CPU each), tcp per connection ${Math.round(conn.rps)} req/s (${r.connCpu.at(-1)!.toFixed(1)} µs)`);
  }
}
await stopAll();
removeCgroups();
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const row = (name: string, b: number[], w: number[], bc: number[], wc: number[]) =>
  `| ${name} | ${Math.round(median(b))} (${Math.round(Math.min(...b))}–${Math.round(Math.max(...b))}) | ${Math.round(median(w))} (${Math.round(Math.min(...w))}–${Math.round(Math.max(...w))}) | ${(median(w) / median(b)).toFixed(3)} | ${median(bc).toFixed(1)} | ${median(wc).toFixed(1)} | ${(median(bc) / median(wc)).toFixed(3)} |`;
console.log(
  [
    `${ROUTES ? "the working tree without routes (base) vs with 200 hosts × 5 routes (work, requests for site150)" : STATS ? "the working tree without [stats] (base) vs with it (work)" : ACCESS ? "the working tree without access logs (base) vs with them (work)" : `plb ${rev} (base) vs the working tree`}, each capped to ${CAP} % of a CPU (${cgroupKind()}), wrk -t1 -c64 ${DURATION} s, median of ${ROUNDS} (range)`,
    "",
    "| row | base req/s | working tree req/s | work / base | base CPU µs/req | work CPU µs/req | base / work CPU |",
    "|---|--:|--:|--:|--:|--:|--:|",
    row("http keep-alive", results.base.ka, results.work.ka, results.base.kaCpu, results.work.kaCpu),
    row("tcp one request per connection", results.base.conn, results.work.conn, results.base.connCpu, results.work.connCpu),
  ].join("\n"),
);
