/**
 * /proc readings for http mode's detail table: CPU per thread of a process,
 * busy % of each CPU, TCP segments sent, user and system time.
 */
import { readdirSync, readFileSync } from "node:fs";
import { descendants } from "./measure.ts";

/** CPU seconds per thread name of `pid` (all its threads, /proc/PID/task). */
export function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const comm = t === String(pid) ? "main" : s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")).replace(/[\s\d]+$/, "");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      out.set(comm, (out.get(comm) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch {}
  }
  return out;
}

/** Share of the CPU `pid` used during a run that was not its main (JS) thread, in %. */
export function helperShare(before: Map<string, number>, after: Map<string, number>): { helpers: number; top: string } | undefined {
  const d = new Map<string, number>();
  for (const [k, v] of after) d.set(k, v - (before.get(k) ?? 0));
  const total = [...d.values()].reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  const others = [...d].filter(([k]) => k !== "main").sort((a, b) => b[1] - a[1]);
  const helpers = others.reduce((a, [, v]) => a + v, 0);
  return {
    helpers: (helpers / total) * 100,
    top: others
      .filter(([, v]) => v > 0)
      .slice(0, 3)
      .map(([k, v]) => `${k} ${Math.round((v / total) * 100)}%`)
      .join(", "),
  };
}

/** Busy, softirq+irq and total jiffies of each CPU (/proc/stat: all but idle and iowait are busy). */
export function cpuTimes(): { busy: number; irq: number; total: number }[] {
  return readFileSync("/proc/stat", "utf8")
    .split("\n")
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const f = l.trim().split(/\s+/).slice(1).map(Number);
      const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
      return { busy: total - f[3] - f[4], irq: f[5] + f[6], total };
    });
}

/** % busy (of which irq+softirq) of each CPU between two cpuTimes() readings, e.g. "98 (31) / 90 (12)". */
export function busyPercent(a: ReturnType<typeof cpuTimes>, b: ReturnType<typeof cpuTimes>): string {
  return b
    .map((x, i) => {
      const t = Math.max(1, x.total - (a[i]?.total ?? 0));
      const p = (v: number) => Math.round((v / t) * 100);
      return `${p(x.busy - (a[i]?.busy ?? 0))} (${p(x.irq - (a[i]?.irq ?? 0))})`;
    })
    .join(" / ");
}

/** TCP segments sent on this host so far (/proc/net/snmp OutSegs; loopback: also the segments received). */
export function tcpOutSegs(): number {
  const lines = readFileSync("/proc/net/snmp", "utf8").split("\n").filter((l) => l.startsWith("Tcp:"));
  const names = lines[0].split(/\s+/);
  const values = lines[1].split(/\s+/);
  return Number(values[names.indexOf("OutSegs")]);
}

/** User and system CPU seconds of `pid` and its descendants (all threads). */
export function userSys(pid: number): [user: number, sys: number] {
  let u = 0;
  let k = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const st = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = st.slice(st.lastIndexOf(")") + 2).split(" ");
      u += Number(f[11]);
      k += Number(f[12]);
    } catch {}
  }
  return [u / 100, k / 100];
}
