import { expect, test } from "bun:test";
import { backend, request } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

/**
 * Send-Q of the sockets process `pid` listens on at `port` as `ss` shows it: the backlog. (Another
 * process on a shared machine may listen on the same port at another address.)
 */
function listenBacklog(port: number, pid: number): number[] {
  const out = Bun.spawnSync(["ss", "-ltnpH", `sport = :${port}`]).stdout.toString();
  return out
    .trim()
    .split("\n")
    .filter((l) => l.includes(`pid=${pid},`))
    .map((l) => Number(l.trim().split(/\s+/)[2]));
}

test("the configured backlog is what listen(2) gets (Bun alone always asks 512)", async () => {
  const a = backend({ name: "A" });
  const p4 = await freePort();
  const p6 = await freePort("::1");
  const plb = await startPlb(`
backlog = 37
[[service]]
name = "b"
listen = ["127.0.0.1:${p4}", "[::1]:${p6}"]
servers = ["127.0.0.1:${a.port}"]
`);
  try {
    expect(listenBacklog(p4, plb.pid)).toEqual([37]);
    expect(listenBacklog(p6, plb.pid)).toEqual([37]);
    expect((await request(p4)).trim()).toBe("A");
  } finally {
    await plb.stop();
    a.stop();
  }
});

test('"*:port" listens dual-stack: IPv4 and IPv6 clients are both served', async () => {
  const a = backend({ name: "A" });
  const port = await freePort();
  const plb = await startPlb(`
[[service]]
name = "any"
listen = ["*:${port}"]
servers = ["127.0.0.1:${a.port}"]
`);
  try {
    expect((await request(port, "", "127.0.0.1")).trim()).toBe("A");
    expect((await request(port, "", "::1")).trim()).toBe("A");
  } finally {
    await plb.stop();
    a.stop();
  }
});

test("idle connections are closed after timeout_client / timeout_server; active ones are not", async () => {
  const echo = backend("echo");
  const port = await freePort();
  const plb = await startPlb(`
timeout_shutdown = 0
timeout_client = "600ms"
timeout_server = "600ms"
[[service]]
name = "idle"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${echo.port}"]
`);
  try {
    const open = (chatty: boolean) =>
      new Promise<number>((resolve) => {
        const t0 = Date.now();
        let timer: ReturnType<typeof setInterval> | undefined;
        Bun.connect({
          hostname: "127.0.0.1",
          port,
          socket: {
            open(s) {
              if (chatty) timer = setInterval(() => s.write("x"), 100);
            },
            data() {},
            close() {
              clearInterval(timer);
              resolve(Date.now() - t0);
            },
            error() {},
          },
        });
      });
    const idle = open(false);
    const chatty = open(true);
    const idleFor = await idle;
    expect(idleFor).toBeGreaterThanOrEqual(550);
    expect(idleFor).toBeLessThan(3000); // 600 ms, a sweep (150 ms) and a busy machine's slack; not the 60 s default
    const still = await Promise.race([chatty.then(() => "closed"), Bun.sleep(800).then(() => "open")]);
    expect(still).toBe("open");
  } finally {
    await plb.stop();
    echo.stop();
  }
});
