/**
 * CPU quotas for benchmarks: a balancer's whole process tree (every thread
 * and child) in its own cgroup capped to a share of one CPU, so that the
 * balancer and not the load side is the bottleneck. cgroup v1
 * (`/sys/fs/cgroup/cpu`, cpu.cfs_quota_us) or cgroup2 (cpu.max).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { launch, type Peer } from "./peers.ts";

const PERIOD_US = 100_000;
const V1 = "/sys/fs/cgroup/cpu";
const V2 = "/sys/fs/cgroup";
const v1 = existsSync(join(V1, "cpu.cfs_quota_us"));
const made = new Set<string>();

export function cgroupKind(): string {
  return v1 ? "cgroup v1 cpu.cfs_quota_us" : "cgroup2 cpu.max";
}

/**
 * A cgroup capped to `percent` of one CPU; returns its directory. `shares`
 * (cgroup v1 cpu.shares, 1024 = one nice-0 task; cgroup2 cpu.weight scaled
 * to it): its weight against other work on a busy machine, so that it still
 * gets its quota when many other processes want the CPU.
 */
export function cgroup(name: string, percent: number, shares?: number): string {
  const dir = join(v1 ? V1 : V2, `plb-bench-${name}`);
  mkdirSync(dir, { recursive: true });
  const quota = Math.round((PERIOD_US * percent) / 100);
  if (v1) {
    writeFileSync(join(dir, "cpu.cfs_period_us"), String(PERIOD_US));
    writeFileSync(join(dir, "cpu.cfs_quota_us"), String(quota));
    if (shares !== undefined) writeFileSync(join(dir, "cpu.shares"), String(shares));
  } else {
    writeFileSync(join(dir, "cpu.max"), `${quota} ${PERIOD_US}`);
    if (shares !== undefined) writeFileSync(join(dir, "cpu.weight"), String(Math.min(10000, Math.max(1, Math.round((shares * 100) / 1024)))));
  }
  made.add(dir);
  return dir;
}

/** Start `cmd` inside cgroup `dir` (it and everything it starts), free to use every CPU up to the quota. */
export function launchIn(dir: string, name: string, cmd: string[], logFile: string, cwd?: string): Peer {
  return launch(name, ["bash", "-c", `echo $$ > ${join(dir, "cgroup.procs")} && exec "$@"`, name, ...cmd], "0-1", logFile, cwd);
}

/**
 * The quota's enforcement periods so far in cgroup `dir` (cpu.stat, v1 and
 * v2 alike): how many had a runnable task, and in how many the quota ran
 * out. A balancer held at its cap is throttled in nearly every period.
 */
export function throttling(dir: string): { periods: number; throttled: number } {
  const s = readFileSync(join(dir, "cpu.stat"), "utf8");
  const n = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, "m").exec(s)?.[1] ?? NaN);
  return { periods: n("nr_periods"), throttled: n("nr_throttled") };
}

/** Remove the cgroups made (once their processes are gone). */
export function removeCgroups(): void {
  for (const dir of made) {
    try {
      rmdirSync(dir);
    } catch {}
  }
  made.clear();
}
