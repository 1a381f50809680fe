import { afterAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { backend, backendProcess, request } from "../../support/backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

/** Run `n` requests, `parallel` at a time; returns every reply. */
async function load(port: number, n: number, parallel: number, onProgress?: (done: number) => Promise<void> | void) {
  const replies: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      replies.push((await request(port).catch((e: Error) => `ERROR ${e.message}`)).trim());
      await onProgress?.(replies.length);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return replies;
}

describe("transparent fail-over", () => {
  const procs: Subprocess[] = [];
  let plb: PlbProcess | undefined;
  afterAll(async () => {
    await plb?.stop();
    for (const p of procs) p.kill("SIGKILL");
  });

  test("clients see zero failures while one of three servers dies, and it rejoins at the next probe (timeout_cleanup)", async () => {
    const [pa, pb, pc, listen] = await freePorts(4);
    procs.push(await backendProcess("A", pa), await backendProcess("B", pb), await backendProcess("C", pc));
    plb = await startPlb(`
timeout_cleanup = "1s"
[[service]]
name = "web"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${pa}", "127.0.0.1:${pb}", "127.0.0.1:${pc}"]
`);
    // B dies gracefully (stops accepting) in the middle of the run.
    let killed = false;
    const replies = await load(listen, 600, 8, (done) => {
      if (done >= 150 && !killed) {
        killed = true;
        procs[1].kill("SIGTERM");
      }
    });
    expect(replies.filter((r) => !/^[ABC]$/.test(r))).toEqual([]);
    const late = replies.slice(-200);
    expect(late.filter((r) => r === "B")).toEqual([]);
    expect(new Set(late)).toEqual(new Set(["A", "C"]));
    await plb.waitForLog(new RegExp(`server 127.0.0.1:${pb} of "web" is down after 3 consecutive failures`));

    // C is killed abruptly (SIGKILL) between requests: still no failure.
    procs[2].kill("SIGKILL");
    await procs[2].exited;
    const after = await load(listen, 100, 4);
    expect(after.filter((r) => r !== "A")).toEqual([]);

    // B comes back on the same port and rejoins at the next probe, timeout_cleanup (1 s) later
    // at most; the bound leaves a busy machine its margin, and is still far below a probe
    // interval that ignored the setting (the default is 10 s).
    await procs[1].exited;
    const t0 = Date.now();
    procs.push(await backendProcess("B", pb));
    await plb.waitForLog(new RegExp(`server 127.0.0.1:${pb} of "web" is up again`), 15_000);
    expect(Date.now() - t0).toBeLessThan(5000);
    const back = await load(listen, 20, 1);
    expect(back).toContain("B");
  }, 60_000);
});

describe("server_retry", () => {
  test("N-1 failures keep a server up, N take it down, and a success in between resets the count", async () => {
    const [pd, listen] = await freePorts(2);
    const a = backend({ name: "A" });
    let d = backend({ name: "D" }, pd);
    const plb = await startPlb(`
server_retry = 3
timeout_cleanup = 60
[[service]]
name = "count"
balance = "first"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${pd}", "127.0.0.1:${a.port}"]
`);
    try {
      const down = new RegExp(`127.0.0.1:${pd} of "count" is down`);
      expect((await request(listen)).trim()).toBe("D");
      d.stop();
      // two failures: fail-over to A, D stays in the pool
      expect((await request(listen)).trim()).toBe("A");
      expect((await request(listen)).trim()).toBe("A");
      await plb.waitForLog(/failure 2\/3/);
      expect(plb.log()).not.toMatch(down);
      // a success resets the count
      d = backend({ name: "D" }, pd);
      expect((await request(listen)).trim()).toBe("D");
      d.stop();
      expect((await request(listen)).trim()).toBe("A");
      expect((await request(listen)).trim()).toBe("A");
      expect(plb.log()).not.toMatch(down);
      // the third consecutive failure takes it down
      expect((await request(listen)).trim()).toBe("A");
      await plb.waitForLog(new RegExp(`127.0.0.1:${pd} of "count" is down after 3 consecutive failures: `));
    } finally {
      await plb.stop();
      a.stop();
      d.stop();
    }
  });
});

test("bytes a client sends while plb is still connecting reach the server that answers, after a fail-over", async () => {
  const [dead, listen] = await freePorts(2);
  const echo = backend("echo");
  const dying = backend({ name: "X" }, dead);
  const plb = await startPlb(`
[[service]]
name = "early"
balance = "first"
listen = ["127.0.0.1:${listen}"]
servers = ["127.0.0.1:${dead}", "127.0.0.1:${echo.port}"]
`);
  try {
    await until(() => dying.accepted() > 0, "the start check", 15_000);
    dying.stop(); // refused from now on, still up in plb's eyes
    const big = "y".repeat(200_000); // over the 64 KiB that pauses the client
    expect(await request(listen, "hello\n")).toBe("hello\n");
    expect(await request(listen, big)).toBe(big);
  } finally {
    await plb.stop();
    echo.stop();
  }
});
