import { expect, test } from "bun:test";
import { backend, request } from "../../support/backends.ts";
import { blackhole, blackholeAfterStartCheck } from "../../support/blackhole.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

async function hangs(port: number): Promise<boolean> {
  const r = await Promise.race([request(port, "", "127.0.0.1", 800).then(() => "answered", () => "failed"), Bun.sleep(600).then(() => "hung")]);
  return r === "hung";
}

test("a connect that never completes is given up after timeout_connect and the client is served by the next server", async () => {
  const [hp, listen] = await freePorts(2);
  const a = backend({ name: "A" });
  const h = backend({ name: "H" }, hp);
  // timeout_connect is far above what a request to A takes on a busy machine, so that
  // "waited for the timeout" and "did not try the hole" stay apart
  const plb = await startPlb(`
timeout_connect = "2s"
server_retry = 2
timeout_cleanup = 60
[[service]]
name = "t"
balance = "first"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${hp}", "127.0.0.1:${a.port}"]
`);
  // let plb's start check see the server up before it turns into a black hole
  const hole = await blackholeAfterStartCheck(h);
  try {
    expect(await hangs(hp)).toBe(true); // else this test proves nothing
    const t0 = Date.now();
    expect((await request(listen, "", "127.0.0.1", 30_000)).trim()).toBe("A");
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1950);
    expect(took).toBeLessThan(15_000); // without a timeout of its own a SYN to a full backlog waits ~2 min
    await plb.waitForLog(/failure 1\/2: connect timeout after 2s/);
    expect((await request(listen, "", "127.0.0.1", 30_000)).trim()).toBe("A");
    await plb.waitForLog(new RegExp(`127.0.0.1:${hp} of "t" is down after 2 consecutive failures: connect timeout after 2s`));
    // once down, the hole is not tried: no 2 s wait
    const t1 = Date.now();
    expect((await request(listen)).trim()).toBe("A");
    expect(Date.now() - t1).toBeLessThan(1500);
  } finally {
    await plb.stop();
    a.stop();
    hole.close();
  }
});

test("a server that hangs at start is down at start with the connect timeout as cause", async () => {
  const hole = await blackhole();
  const a = backend({ name: "A" });
  const [listen] = await freePorts(1);
  const plb = await startPlb(`
timeout_connect = "300ms"
[[service]]
name = "s"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${hole.port}", "127.0.0.1:${a.port}"]
`);
  try {
    await plb.waitForLog(new RegExp(`127.0.0.1:${hole.port} of "s" is down at start: connect timeout after 300ms`));
    expect((await request(listen)).trim()).toBe("A");
  } finally {
    await plb.stop();
    a.stop();
    hole.close();
  }
});
