/**
 * Reproduction of a Bun cost plb works around (src/access-log/writer.ts):
 * node:fs `write()` with a callback runs on Bun's thread pool ("Bun Pool"),
 * and that thread spends several times the CPU of the write itself per
 * call. For an access log (one 64 KiB batch every ~40 ms at 18k req/s) this
 * was 0.7-1 µs of CPU per request under a 50 % CPU quota (5-8 % of plb's
 * rate); plb now writes batches to a regular file with one write(2) from the
 * event loop, falling back to the pool only while a disk is slow.
 *
 *   bun bench/repro/bun-async-write-cost.ts
 *
 * A busy event loop (work in slices, as a loaded balancer's is) writes a
 * 64 KiB buffer to a file in /tmp 100 times a second for 8 s, first with
 * fs.write (async), then with fs.writeSync; prints the CPU each thread used
 * per write (/proc/self/task, 10 ms ticks) and writeSync's wall time.
 * Bun 1.4.5, Linux, this VM, uncapped: ~0.13 ms of "Bun Pool" CPU per
 * async write (two pool threads woken), against writeSync's 0.02-0.07 ms
 * on the main thread; in plb under a 50 % quota the pool took ~0.5 ms per
 * write (0.7-1 µs per request, /proc/PID/task of plb during wrk).
 */
import { openSync, readdirSync, readFileSync, rmSync, write, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of readdirSync("/proc/self/task")) {
    const s = readFileSync(`/proc/self/task/${t}/stat`, "utf8");
    const name = t === String(process.pid) ? "main" : s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) * 10);
  }
  return out;
}

const path = join(tmpdir(), `bun-async-write-${process.pid}.log`);
const fd = openSync(path, "a");
const buf = Buffer.alloc(64 << 10, 65);

async function run(mode: "async" | "sync"): Promise<void> {
  const before = threadCpu();
  const start = performance.now();
  let writes = 0;
  let syncMs = 0;
  let next = start;
  await new Promise<void>((done) => {
    const slice = () => {
      const now = performance.now();
      if (now - start > 8000) return done();
      let x = 0;
      for (let i = 0; i < 20000; i++) x += i; // the loop's other work
      if (x < 0) console.log(x);
      if (now >= next) {
        next += 10;
        writes++;
        if (mode === "async") write(fd, buf, 0, buf.length, null, () => {});
        else {
          const t = performance.now();
          writeSync(fd, buf);
          syncMs += performance.now() - t;
        }
      }
      setImmediate(slice);
    };
    slice();
  });
  await Bun.sleep(200);
  const after = threadCpu();
  const per = [...after].map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / writes] as const).filter(([k, v]) => v > 0 && k !== "main");
  console.log(
    `${mode}: ${writes} writes of 64 KiB; CPU per write off the main thread: ${per.map(([k, v]) => `${k} ${v.toFixed(3)} ms`).join(", ") || "none"}${mode === "sync" ? `; writeSync took ${(syncMs / writes).toFixed(3)} ms each` : ""}`,
  );
}

await run("async");
await run("sync");
rmSync(path);
