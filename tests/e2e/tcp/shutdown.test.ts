import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb, tempDir } from "../../support/plb.ts";

/** Open a connection through plb and keep it open; resolves when connected. */
function hold(port: number) {
  let received = "";
  let closed = false;
  const p = Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      data(_s, b) {
        received += b.toString();
      },
      end(s) {
        s.end();
      },
      close() {
        closed = true;
      },
      error() {},
    },
  });
  return { p, received: () => received, closed: () => closed };
}

test("SIGTERM stops accepting, lets open connections finish within timeout_shutdown, removes the pid file, exits 0", async () => {
  const echo = backend("echo");
  const listen = await freePort();
  const pidfile = join(tempDir(), "plb.pid");
  const plb = await startPlb(
    `
timeout_shutdown = "3s"
[[service]]
name = "e"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${echo.port}"]
`,
    ["--pidfile", pidfile],
  );
  try {
    expect(Number(await Bun.file(pidfile).text())).toBe(plb.pid);
    const c = hold(listen);
    const sock = await c.p;
    await Bun.sleep(100);
    plb.proc.kill("SIGTERM");
    await plb.waitForLog(/stopping: waiting up to 3000 ms for 1 connection/);
    // new connections are refused while draining
    const refused = await Bun.connect({ hostname: "127.0.0.1", port: listen, socket: { data() {} } }).then(
      (s) => (s.end(), false),
      () => true,
    );
    expect(refused).toBe(true);
    // the open one still works
    sock.write("still here\n");
    for (let i = 0; i < 50 && !c.received().includes("still here"); i++) await Bun.sleep(20);
    expect(c.received()).toBe("still here\n");
    sock.shutdown();
    expect(await plb.exited).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  } finally {
    await plb.stop();
    echo.stop();
  }
});

test("connections still open at timeout_shutdown are closed and plb exits 0", async () => {
  const echo = backend("echo");
  const listen = await freePort();
  const plb = await startPlb(`
timeout_shutdown = "500ms"
[[service]]
name = "e"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${echo.port}"]
`);
  try {
    const c = hold(listen);
    await c.p;
    await Bun.sleep(100);
    const t0 = Date.now();
    plb.proc.kill("SIGTERM");
    expect(await plb.exited).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    for (let i = 0; i < 50 && !c.closed(); i++) await Bun.sleep(20);
    expect(c.closed()).toBe(true);
    expect(plb.log()).toContain("closing 1 connection(s) still open");
  } finally {
    await plb.stop();
    echo.stop();
  }
});

test("a second SIGTERM exits at once", async () => {
  const echo = backend("echo");
  const listen = await freePort();
  const plb = await startPlb(`
timeout_shutdown = "30s"
[[service]]
name = "e"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${echo.port}"]
`);
  try {
    const c = hold(listen);
    await c.p;
    await Bun.sleep(100);
    plb.proc.kill("SIGTERM");
    await plb.waitForLog(/stopping: waiting/);
    const t0 = Date.now();
    plb.proc.kill("SIGTERM");
    await plb.exited;
    expect(Date.now() - t0).toBeLessThan(2000);
  } finally {
    await plb.stop();
    echo.stop();
  }
});
