/**
 * Other load on the machine: a probe of the CPU used by processes this bench
 * did not start, a wait for a quiet machine, and a run repeated when it was
 * disturbed (http and smtp modes).
 */
import { readdirSync, readFileSync } from "node:fs";
import { descendants } from "./measure.ts";
import { log } from "./peers.ts";

/** Runs repeated when other processes used more than QUIET_LIMIT % of a core meanwhile. */
export const ATTEMPTS = 3;
export const QUIET_LIMIT = 10;

/**
 * user+nice+system+irq+softirq jiffies of all CPUs. Tick accounting charges
 * irq/softirq ticks to the task that was running too, so this compares with
 * the processes' utime+stime (steal and idle left out).
 */
function machineProcessJiffies(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2] + f[5] + f[6];
}

/** The fields of /proc/PID/stat after the command name (state first), as numbers. */
function statFields(pid: number | string): number[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2).split(" ").map(Number);
  } catch {
    return undefined;
  }
}

/**
 * CPU jiffies of this bench process (with its reaped children: wrk,
 * smtp-source) and all its live descendants, plus those of kernel threads
 * (kthreadd and its children: ksoftirqd, kworkers), which mostly carry this
 * bench's own network work.
 */
function ownJiffies(): number {
  const me = statFields(process.pid);
  let j = me ? me[11] + me[12] + me[13] + me[14] : 0; // utime stime cutime cstime
  for (const d of descendants(process.pid)) {
    const f = statFields(d);
    if (f) j += f[11] + f[12];
  }
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(e);
    if (f && (e === "2" || f[1] === 2)) j += f[11] + f[12];
  }
  return j;
}

/** A probe of CPU used by processes this bench did not start (kernel threads left out), in % of one core. */
export class Foreign {
  private readonly m0 = machineProcessJiffies();
  private readonly o0 = ownJiffies();
  private readonly t0 = performance.now();
  percent(): number {
    const j = machineProcessJiffies() - this.m0 - (ownJiffies() - this.o0);
    return Math.max(0, j / 100 / ((performance.now() - this.t0) / 1000)) * 100;
  }
}

/**
 * Wait (up to `maxMs`) until other processes on the machine use less than
 * `limit` % of a core over a 1 s sample: a shared box (tests running beside
 * the bench) would otherwise skew the numbers. Returns the last sample.
 */
export async function quiet(limit = QUIET_LIMIT, maxMs = 90_000): Promise<number> {
  const deadline = Date.now() + maxMs;
  let warned = false;
  for (;;) {
    const f = new Foreign();
    await Bun.sleep(1000);
    const p = f.percent();
    if (p < limit || Date.now() > deadline) {
      if (p >= limit) log(`other processes still use ${Math.round(p)}% of a core; measuring anyway`);
      return p;
    }
    if (!warned) log(`other processes use ${Math.round(p)}% of a core; waiting (up to ${maxMs / 1000}s) for a quiet machine`);
    warned = true;
  }
}

/**
 * Run a measurement on a quiet machine: wait for quiet(), run, and if other
 * processes still used more than QUIET_LIMIT % of a core meanwhile, run it
 * again (ATTEMPTS in all), keeping the least disturbed. Returns that result
 * and the share of a core (%) other processes used during it. `o`: how long
 * each wait for a quiet machine may last, and how many attempts in all.
 */
export async function leastDisturbed<T>(
  what: string,
  run: () => Promise<T>,
  { maxWaitMs = 90_000, attempts = ATTEMPTS }: { maxWaitMs?: number; attempts?: number } = {},
): Promise<{ result: T; foreign: number }> {
  let best: { result: T; foreign: number } | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    await quiet(QUIET_LIMIT, maxWaitMs);
    const f = new Foreign();
    const result = await run();
    const foreign = f.percent();
    if (best === undefined || foreign < best.foreign) best = { result, foreign };
    if (foreign < QUIET_LIMIT) break;
    log(`${what}: other processes used ${Math.round(foreign)}% of a core meanwhile; ${attempt < attempts ? "running it again" : `keeping the least disturbed of ${attempts}`}`);
    await Bun.sleep(1000);
  }
  return best!;
}
