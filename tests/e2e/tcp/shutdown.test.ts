import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb, tempDir } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

/**
 * plb in front of an echo server with `timeout_shutdown`, and one client
 * connection through it held open; `run` gets them and everything is
 * stopped afterwards.
 */
async function withHeldConnection(
  timeoutShutdown: string,
  extraArgs: string[],
  run: (ctx: Awaited<ReturnType<typeof setup>>) => Promise<void>,
) {
  const ctx = await setup(timeoutShutdown, extraArgs);
  try {
    await run(ctx);
  } finally {
    await ctx.plb.stop();
    ctx.echo.stop();
  }
}

async function setup(timeoutShutdown: string, extraArgs: string[]) {
  const echo = backend("echo");
  const listen = await freePort();
  const plb = await startPlb(
    `
timeout_shutdown = "${timeoutShutdown}"
[[service]]
name = "e"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${echo.port}"]
`,
    extraArgs,
  );
  let received = "";
  let closed = false;
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port: listen,
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
  // relayed to the server (so counted as open by plb) once an echo has come back
  sock.write("ping\n");
  await until(() => received === "ping\n", "the echo through plb");
  received = "";
  return { echo, listen, plb, sock, received: () => received, closed: () => closed };
}

test("SIGTERM stops accepting, lets open connections finish within timeout_shutdown, removes the pid file, exits 0", async () => {
  const pidfile = join(tempDir(), "plb.pid");
  await withHeldConnection("3s", ["--pidfile", pidfile], async ({ plb, listen, sock, received }) => {
    expect(Number(await Bun.file(pidfile).text())).toBe(plb.pid);
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
    await until(() => received().includes("still here"), "the echo of a held connection while draining");
    expect(received()).toBe("still here\n");
    sock.shutdown();
    expect(await plb.exited).toBe(0);
    expect(existsSync(pidfile)).toBe(false);
  });
});

test("connections still open at timeout_shutdown are closed and plb exits 0", async () => {
  await withHeldConnection("500ms", [], async ({ plb, closed }) => {
    const t0 = Date.now();
    plb.proc.kill("SIGTERM");
    expect(await plb.exited).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    await until(closed, "the held connection's close");
    expect(closed()).toBe(true);
    expect(plb.log()).toContain("closing 1 connection(s) still open");
  });
});

test("a second SIGTERM exits at once", async () => {
  await withHeldConnection("30s", [], async ({ plb }) => {
    plb.proc.kill("SIGTERM");
    await plb.waitForLog(/stopping: waiting/);
    const t0 = Date.now();
    plb.proc.kill("SIGTERM");
    await plb.exited;
    expect(Date.now() - t0).toBeLessThan(10_000); // not the 30 s of timeout_shutdown
  });
});
