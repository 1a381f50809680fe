import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { backend, request } from "../../support/backends.ts";
import { BUN, CLI, tempDir, writeConfig } from "../../support/plb.ts";
import { freePort } from "../../support/ports.ts";

const started: number[] = [];
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
});

async function run(args: string[]) {
  const p = Bun.spawn([BUN, CLI, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  return { code, out, err };
}

test("--daemonize returns only once the balancer serves, in a new session, and a second start refuses the live pid file", async () => {
  const a = backend({ name: "A" });
  const listen = await freePort();
  const dir = tempDir();
  const pidfile = join(dir, "plb.pid");
  const logfile = join(dir, "plb.log");
  const config = writeConfig(`
[[service]]
name = "d"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${a.port}"]
`);
  try {
    const r = await run(["--daemonize", "--config", config, "--pidfile", pidfile, "--logfile", logfile]);
    expect(r.code).toBe(0);
    const pid = Number(readFileSync(pidfile, "utf8"));
    started.push(pid);
    expect(r.out).toContain(`pid ${pid}`);
    // serving the moment the parent returned
    expect((await request(listen)).trim()).toBe("A");
    // a new session led by the daemon, no controlling terminal
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    expect(Number(stat[3])).toBe(pid); // session id
    expect(readFileSync(logfile, "utf8")).toContain("ready");
    // a second start with the same pid file is refused
    const again = await run(["--daemonize", "--config", config, "--pidfile", pidfile, "--logfile", logfile]);
    expect(again.code).not.toBe(0);
    expect(again.err).toMatch(/pid file .* belongs to running plb process/);
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 500; i++) { // up to 10 s for the exit
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await Bun.sleep(20);
    }
    expect(() => readFileSync(pidfile)).toThrow();
  } finally {
    a.stop();
  }
});

test("--daemonize reports the daemon's own start error (port taken) and exits non-zero", async () => {
  const port = await freePort();
  const taken = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
  try {
    const config = writeConfig(`
[[service]]
name = "d"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:1"]
`);
    const r = await run(["--daemonize", "--config", config, "--pidfile", join(tempDir(), "p.pid")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`cannot listen on 127.0.0.1:${port}: address already in use`);
  } finally {
    taken.stop(true);
  }
});
