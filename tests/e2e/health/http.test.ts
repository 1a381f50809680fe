/**
 * Active http checks (health = { … }) with real node:http servers: a server
 * that still accepts connections but answers 500 on its health path leaves
 * within interval × fall, no client request meets it after that, and it
 * comes back within interval × rise; the last check shows in /status.json.
 */
import { afterEach, expect, test } from "bun:test";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const INTERVAL = 300;
const RISE = 2;
const FALL = 3;
/** What a busy two-core machine adds: a late timer, a slow log pipe. */
const MARGIN = 1500;

interface ServerStatus {
  name: string;
  state: string;
  last_check: { ok: boolean; detail: string; code: number | null; reason: string | null; duration_seconds: number; at: string } | null;
  check_failures: number;
}

async function serverStatus(statsPort: number, name: string): Promise<ServerStatus> {
  const j = (await (await fetch(`http://127.0.0.1:${statsPort}/status.json`)).json()) as { backends: { servers: ServerStatus[] }[] };
  return j.backends[0].servers.find((s) => s.name === name)!;
}

test("a server sick on its health path (still accepting) leaves within interval × fall, meets no request after, and is back within interval × rise", async () => {
  let sick = false;
  const handler = (name: string) => (req: { url?: string; headers: Record<string, unknown> }, res: { statusCode: number; end(s: string): void }) => {
    if (req.url === "/healthz") {
      res.statusCode = name === "B" && sick ? 500 : 200;
      res.end(res.statusCode === 200 ? "ok" : "sick");
    } else res.end(name);
  };
  const a = await httpBackend("A", handler("A") as never);
  const b = await httpBackend("B", handler("B") as never);
  cleanup.push(() => a.close(), () => b.close());
  const [port, statsPort] = await freePorts(2);
  const plb = await startPlb(`
[stats]
listen = "127.0.0.1:${statsPort}"
[[service]]
name = "api"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]
health = { path = "/healthz", interval = "${INTERVAL}ms", timeout = "250ms", rise = ${RISE}, fall = ${FALL}, expect = "2xx", host = "api.example.com" }
`);
  cleanup.push(() => plb.stop());
  const bName = `127.0.0.1:${b.port}`;
  const answers = async (n: number) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await (await fetch(`http://127.0.0.1:${port}/x`)).text());
    return out;
  };
  // Checks of up servers run: B gets GET /healthz with the configured Host, every interval.
  const t0 = Date.now();
  while (b.seen.filter((s) => s.url === "/healthz").length < 3) {
    if (Date.now() - t0 > 3 * INTERVAL * 1.1 + MARGIN) throw new Error("B was not checked three times");
    await Bun.sleep(20);
  }
  expect(b.seen.find((s) => s.url === "/healthz")?.headers.host).toBe("api.example.com");
  expect((await answers(4)).sort()).toEqual(["A", "A", "B", "B"]);
  const okCheck = await serverStatus(statsPort, bName);
  expect(okCheck.last_check).toMatchObject({ ok: true, detail: "GET /healthz → 200", code: 200, reason: null });
  expect(okCheck.last_check!.duration_seconds).toBeGreaterThan(0);

  sick = true;
  const sickAt = Date.now();
  await plb.waitForLog(new RegExp(`server ${bName} of "api" is down after ${FALL} failed checks: GET /healthz → 500`), FALL * INTERVAL * 1.1 + MARGIN + 5000);
  const tookDown = Date.now() - sickAt;
  expect(tookDown).toBeLessThan(FALL * INTERVAL * 1.1 + 250 + MARGIN);
  // From now on no client request reaches B, although it still accepts and answers "B" on /x.
  const seenBefore = b.seen.filter((s) => s.url !== "/healthz").length;
  expect(await answers(10)).toEqual(Array(10).fill("A"));
  expect(b.seen.filter((s) => s.url !== "/healthz").length).toBe(seenBefore);
  const down = await serverStatus(statsPort, bName);
  expect(down.state).toBe("down");
  expect(down.last_check).toMatchObject({ ok: false, detail: "GET /healthz → 500", code: 500, reason: "status" });
  expect(down.check_failures).toBeGreaterThanOrEqual(FALL);

  sick = false;
  const healedAt = Date.now();
  await plb.waitForLog(new RegExp(`server ${bName} of "api" is up again: after ${RISE} passed checks: GET /healthz → 200`), RISE * INTERVAL * 1.1 + MARGIN + 5000);
  expect(Date.now() - healedAt).toBeLessThan(RISE * INTERVAL * 1.1 + 250 + MARGIN);
  expect((await answers(4)).sort()).toEqual(["A", "A", "B", "B"]);
});

test("expect = { body = … }: a 200 without the text fails the check with reason body", async () => {
  let body = "status: ready";
  const b = await httpBackend("B", ((req: { url?: string }, res: { end(s: string): void }) => res.end(req.url === "/ready" ? body : "B")) as never);
  const a = await httpBackend("A");
  cleanup.push(() => a.close(), () => b.close());
  const [port, statsPort] = await freePorts(2);
  const plb = await startPlb(`
[stats]
listen = "127.0.0.1:${statsPort}"
[[service]]
name = "api"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]
health = { path = "/ready", interval = "200ms", rise = 1, fall = 1, expect = { status = 200, body = "ready" } }
`);
  cleanup.push(() => plb.stop());
  const bName = `127.0.0.1:${b.port}`;
  // Checked (and passing) before the body changes: waited for, not slept (a busy machine runs the first check late).
  const t0 = Date.now();
  while (b.seen.filter((s) => s.url === "/ready").length < 2 && Date.now() - t0 < 10_000) await Bun.sleep(20);
  expect(b.seen.filter((s) => s.url === "/ready").length).toBeGreaterThanOrEqual(2);
  expect(plb.log()).not.toContain(`${bName} of "api" is down`);
  body = "status: starting";
  await plb.waitForLog(new RegExp(`server ${bName} of "api" is down after 1 failed check: GET /ready → 200, no "ready" in the body`));
  const s = await serverStatus(statsPort, bName);
  expect(s.last_check).toMatchObject({ ok: false, code: 200, reason: "body" });
  const metrics = await (await fetch(`http://127.0.0.1:${statsPort}/metrics`)).text();
  expect(metrics).toMatch(new RegExp(`plb_server_check_failures_total\\{backend="api",server="${bName}",reason="body"\\} [1-9]`));
  expect(metrics).toMatch(new RegExp(`plb_server_check_failures_total\\{backend="api",server="${bName}",reason="status"\\} 0`));
  const duration = new RegExp(`plb_server_check_duration_seconds\\{backend="api",server="${bName}"\\} (\\S+)`).exec(metrics);
  expect(Number(duration?.[1])).toBeGreaterThan(0);
});
