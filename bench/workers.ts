/**
 * Worker scaling under a CPU quota. This machine has two cores, so scaling
 * is measured by quota rather than by cores: each balancer's whole process
 * tree (every thread and child) runs in its own cgroup, capped to 25 % of
 * one CPU with one worker/thread and to 50 % with two, so that the balancer
 * and not the load side is the bottleneck. wrk and the two nginx backends
 * stay uncapped. Rows: plb `workers = 1`/`2` (http), HAProxy `nbthread
 * 1`/`2` (mode http, http-reuse always) and nginx `worker_processes 1`/`2`
 * (upstream keepalive 64); keep-alive and one request per connection;
 * scaling factor = rate at 50 % with two / rate at 25 % with one (ideal
 * 2.0). Rounds alternate between balancers; medians of `--rounds`.
 *
 *   bun bench/workers.ts [--duration 8] [--rounds 3]
 *
 * cgroup v1 (`/sys/fs/cgroup/cpu`, cpu.cfs_quota_us) or cgroup2 (cpu.max).
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wrk } from "./measure.ts";
import { cgroup, cgroupKind, launchIn, removeCgroups } from "./cgroup.ts";
import { plbHttpConfig } from "./http.ts";
import {
  ensureTools,
  freePorts,
  type Launcher,
  log,
  type Peer,
  plbCommand,
  SMALL,
  startHaproxy,
  startNginx,
  startNginxProxy,
  startPlbWith,
  stop,
  stopAll,
  waitReady,
  writeContent,
} from "./peers.ts";
import { int, median, spread } from "./table.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const DURATION = arg("duration", 8);
const ROUNDS = arg("rounds", 3);

// ---------------------------------------------------------------- balancers

type Kind = "plb" | "haproxy" | "nginx";

function startBalancer(kind: Kind, n: number, dir: string, port: number, servers: number[], cg: string): Peer {
  const start: Launcher = (name, cmd, log, cwd) => launchIn(cg, name, cmd, log, cwd);
  if (kind === "plb") return startPlbWith(dir, `plb-${n}`, plbHttpConfig(port, servers, `workers = ${n}`), { cmd: plbCommand(false), start });
  if (kind === "haproxy") return startHaproxy(dir, [{ name: "bench", port, servers }], { http: true, threads: n, start });
  return startNginxProxy(dir, port, servers, { workers: n, start });
}

// ---------------------------------------------------------------- run

ensureTools();
const dir = join(tmpdir(), `plb-bench-workers-${process.pid}`);
mkdirSync(dir, { recursive: true });
const www = writeContent(dir, false);
const [b1, b2, port] = freePorts(3);
const backends = [startNginx(dir, www, "backend-1", b1), startNginx(dir, www, "backend-2", b2)];
await waitReady(backends[0], b1);
await waitReady(backends[1], b2);

const kinds: Kind[] = ["plb", "haproxy", "nginx"];
const setups = [
  { n: 1, percent: 25 },
  { n: 2, percent: 50 },
];
type Key = `${Kind}-${number}`;
const ka = new Map<Key, number[]>();
const close = new Map<Key, number[]>();
process.on("SIGINT", async () => {
  await stopAll();
  process.exit(130);
});

for (let round = 1; round <= ROUNDS; round++) {
  for (const kind of kinds) {
    for (const { n, percent } of setups) {
      const key: Key = `${kind}-${n}`;
      const cg = cgroup(key, percent);
      const peer = startBalancer(kind, n, dir, port, [b1, b2], cg);
      await waitReady(peer, port);
      await wrk(`http://127.0.0.1:${port}/${SMALL}`, 1); // warm up (JIT, pools)
      const k = await wrk(`http://127.0.0.1:${port}/${SMALL}`, DURATION);
      const c = await wrk(`http://127.0.0.1:${port}/${SMALL}`, DURATION, { close: true });
      await stop(peer);
      ka.set(key, [...(ka.get(key) ?? []), k.rps]);
      close.set(key, [...(close.get(key) ?? []), c.rps]);
      log(`round ${round}: ${key} at ${percent}%: keep-alive ${Math.round(k.rps)} req/s, per connection ${Math.round(c.rps)} req/s${k.errors + c.errors ? ` (${k.errors + c.errors} errors)` : ""}`);
    }
  }
}
await stopAll();
removeCgroups();
rmSync(dir, { recursive: true, force: true });

const lines = [
  `workers under a CPU quota (${cgroupKind()}), wrk -t1 -c64 ${DURATION} s, median of ${ROUNDS} (range)`,
  "",
  "| balancer | 1 at 25 % keep-alive | 2 at 50 % keep-alive | scaling | 1 at 25 % per connection | 2 at 50 % per connection | scaling |",
  "|---|--:|--:|--:|--:|--:|--:|",
];
const label: Record<Kind, string> = { plb: "plb workers", haproxy: "HAProxy nbthread", nginx: "nginx worker_processes" };
for (const kind of kinds) {
  const k1 = ka.get(`${kind}-1`)!;
  const k2 = ka.get(`${kind}-2`)!;
  const c1 = close.get(`${kind}-1`)!;
  const c2 = close.get(`${kind}-2`)!;
  lines.push(
    `| ${label[kind]} | ${int(median(k1))} (${spread(k1)}) | ${int(median(k2))} (${spread(k2)}) | ${(median(k2) / median(k1)).toFixed(2)} | ${int(median(c1))} (${spread(c1)}) | ${int(median(c2))} (${spread(c2)}) | ${(median(c2) / median(c1)).toFixed(2)} |`,
  );
}
console.log(lines.join("\n"));
mkdirSync(join(import.meta.dir, "results"), { recursive: true });
writeFileSync(join(import.meta.dir, "results", "latest-workers.md"), `${lines.join("\n")}\n`);
