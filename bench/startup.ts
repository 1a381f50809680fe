/**
 * Per binary that runs here: size, time from exec until the first service
 * accepts a connection, and idle RSS, on plb.toml.example (its ports must
 * be free). The linux-arm64 binary runs under qemu-user (Debian's
 * qemu-user-static with libc6-arm64-cross), so its times are emulation's.
 *
 *   bun bench/startup.ts            # builds dist/plb and dist/plb-linux-arm64 first
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const CONFIG = join(ROOT, "plb.toml.example");
const ROUNDS = 5;

function build(target?: string): void {
  const r = Bun.spawnSync([process.execPath, join(ROOT, "build.ts"), ...(target ? [target] : [])], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`build failed: ${r.stderr}`);
}

async function accepts(port: number): Promise<boolean> {
  try {
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}

function rssKiB(pid: number): number {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
}

async function once(cmd: string[]): Promise<{ startMs: number; rssKiB: number }> {
  const t0 = performance.now();
  const proc = Bun.spawn([...cmd, "--config", CONFIG, "--logfile", "/dev/null", "--pidfile", `/tmp/plb-startup-${process.pid}.pid`], { stdout: "ignore", stderr: "ignore" });
  while (!(await accepts(8080))) {
    if (performance.now() - t0 > 30_000) throw new Error("not listening after 30 s");
    await Bun.sleep(1);
  }
  const startMs = performance.now() - t0;
  await Bun.sleep(1500); // start checks done, idle
  const rss = rssKiB(proc.pid);
  proc.kill("SIGTERM");
  await proc.exited;
  return { startMs, rssKiB: rss };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

build();
build("linux-arm64");
const rows: [string, string[]][] = [
  ["linux-x64 (host)", [join(ROOT, "dist", "plb")]],
  ["linux-arm64 (qemu-user)", ["/usr/bin/qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", join(ROOT, "dist", "plb-linux-arm64")]],
];
console.log("| binary | size | exec → first service listening (median of 5) | idle RSS, plb.toml.example |");
console.log("| --- | --: | --: | --: |");
for (const [name, cmd] of rows) {
  const runs = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await once(cmd));
  const size = statSync(cmd.at(-1)!).size;
  console.log(`| ${name} | ${(size / 1e6).toFixed(1)} MB | ${median(runs.map((r) => r.startMs)).toFixed(0)} ms | ${(median(runs.map((r) => r.rssKiB)) / 1024).toFixed(1)} MiB |`);
}
