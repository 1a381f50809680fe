/**
 * workers = N with active checks (health): only the master checks, and a
 * transition its checks decide reaches every worker (the state push), both
 * ways. Real processes, real sockets.
 */
import { afterEach, expect, test } from "bun:test";
import { httpBackend } from "../../support/http-backends.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

test("the master's checks take a sick server out of every worker and bring it back; workers do not check", async () => {
  let sick = false;
  const a = await httpBackend("a");
  const b = await httpBackend("b", ((req: { url?: string }, res: { statusCode: number; end(s: string): void }) => {
    if (req.url === "/healthz" && sick) res.statusCode = 503;
    res.end("b");
  }) as never);
  cleanup.push(() => a.close(), () => b.close());
  const port = await freePort();
  const plb = await startPlb(`
workers = 2
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]
health = { path = "/healthz", interval = "300ms", timeout = "250ms", rise = 2, fall = 2 }
`);
  cleanup.push(() => plb.stop());
  await plb.waitForLog(/workers running \(pids /);
  const bName = `127\\.0\\.0\\.1:${b.port}`;
  await until(() => b.seen.filter((s) => s.url === "/healthz").length >= 2, "two passed checks of b", 5000);
  sick = true;
  const down = await plb.waitForLog(new RegExp(`\\[master\\] \\[state\\] server ${bName} of "web" is down after 2 failed checks: GET /healthz → 503`), 10_000);
  const t0 = Date.parse(down.slice(0, 24));
  for (const w of ["w0", "w1"]) {
    const seen = await plb.waitForLog(new RegExp(`\\[${w}\\] \\[state\\] server ${bName} of "web" takes no new connections`), 5000);
    expect(Date.parse(seen.slice(0, 24)) - t0).toBeLessThan(1000);
  }
  // New connections (each may land on either worker) meet only a.
  const before = b.seen.filter((s) => s.url !== "/healthz").length;
  for (let i = 0; i < 10; i++) expect(await (await fetch(`http://127.0.0.1:${port}/x`, { keepalive: false })).text()).toBe("a");
  expect(b.seen.filter((s) => s.url !== "/healthz").length).toBe(before);
  sick = false;
  await plb.waitForLog(new RegExp(`\\[master\\] \\[state\\] server ${bName} of "web" is up again: after 2 passed checks`), 10_000);
  for (const w of ["w0", "w1"]) await plb.waitForLog(new RegExp(`\\[${w}\\] \\[state\\] server ${bName} of "web" up: `), 5000);
  const seen = new Set<string>();
  for (let i = 0; i < 10 && seen.size < 2; i++) seen.add(await (await fetch(`http://127.0.0.1:${port}/x`, { keepalive: false })).text());
  expect([...seen].sort()).toEqual(["a", "b"]);
  // Only the master checks.
  expect(plb.log()).not.toMatch(/\[w\d\] \[scheduler\]/);
  expect(plb.log()).toMatch(/\[master\] \[scheduler\] probe of/);
});
