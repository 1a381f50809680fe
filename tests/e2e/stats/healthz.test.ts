/**
 * GET and HEAD /healthz on the stats listener, asked with curl: 200 while
 * serving (no token needed, also with read_token), 503 from the moment a
 * stop begins while connections drain (with workers too), and with
 * healthz_requires_servers 503 while a service has no server up.
 */
import { afterEach, expect, test } from "bun:test";
import { httpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlbFile, writeConfig } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";
import { until } from "../../support/until.ts";

const TOKEN = "tok-0123456789abcdef";
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** curl's answer: status, body (GET) or headers (HEAD), exit code. */
async function curl(url: string, head = false): Promise<{ status: number; text: string; code: number }> {
  const args = head ? ["-sI"] : ["-s"];
  const p = Bun.spawn(["curl", ...args, "-m", "5", "-w", "\n%{http_code}", url], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  const at = out.lastIndexOf("\n");
  return { status: Number(out.slice(at + 1)), text: out.slice(0, at), code };
}

/** A plb with one http service over `servers` and [stats] with `stats` lines. */
async function setUp(opts: { stats?: string; globals?: string; slowMs?: number } = {}) {
  const backend = await httpBackend("a", (req, res) => {
    const reply = () => res.end("a");
    if (req.url === "/slow") setTimeout(reply, opts.slowMs ?? 1500);
    else reply();
  });
  cleanup.push(() => backend.close());
  const [statsPort, webPort] = await freePorts(2);
  const conf = (stats = opts.stats ?? "") => `${opts.globals ?? ""}
timeout_shutdown = "10s"
[stats]
listen = "127.0.0.1:${statsPort}"
token = "${TOKEN}"
${stats}
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${webPort}"]
servers = ["127.0.0.1:${backend.port}"]
`;
  const file = writeConfig(conf());
  const plb = await startPlbFile(file);
  cleanup.push(() => plb.stop());
  if (opts.globals?.includes("workers")) await plb.waitForLog(/workers running/);
  const healthz = `http://127.0.0.1:${statsPort}/healthz`;
  return { plb, file, conf, backend, statsPort, webPort, healthz };
}

test("GET and HEAD /healthz answer 200 while serving, without a token even when read_token asks every GET for one", async () => {
  const { healthz, statsPort } = await setUp({ stats: "read_token = true" });
  expect(await curl(healthz)).toEqual({ status: 200, text: "ok\n", code: 0 });
  const head = await curl(healthz, true);
  expect(head.status).toBe(200);
  expect(head.text).toMatch(/^cache-control: no-store\r$/im);
  expect(head.text).toMatch(/^content-type: text\/plain/im);
  // The rest still needs the token.
  expect((await curl(`http://127.0.0.1:${statsPort}/metrics`)).status).toBe(401);
  expect((await curl(`http://127.0.0.1:${statsPort}/nothing`)).status).toBe(401);
});

/** Stop `plb` while a slow request is in flight: /healthz during the drain, and the request's outcome. */
async function stopDuringRequest(env: Awaited<ReturnType<typeof setUp>>) {
  const { plb, webPort, healthz } = env;
  expect((await curl(healthz)).status).toBe(200);
  const slow = curl(`http://127.0.0.1:${webPort}/slow`);
  await until(() => env.backend.seen.some((s) => s.url === "/slow"), "the slow request at the backend");
  plb.proc.kill("SIGTERM");
  await plb.waitForLog(/SIGTERM: stopping/);
  const during = await curl(healthz);
  const headDuring = await curl(healthz, true);
  // A new client right after the stop began: served only with a shutdown_delay.
  const newClient = await curl(`http://127.0.0.1:${webPort}/`);
  const stillRunning = plb.proc.exitCode === null;
  const answered = await slow;
  const code = await plb.exited;
  return { during, headDuring, newClient, stillRunning, answered, code };
}

test("from the moment a stop begins /healthz answers 503 while the open connections drain, then plb exits", async () => {
  const env = await setUp();
  const r = await stopDuringRequest(env);
  expect(r.during).toEqual({ status: 503, text: "stopping\n", code: 0 });
  expect(r.headDuring.status).toBe(503);
  expect(r.stillRunning).toBe(true);
  expect(r.newClient.code).toBe(7); // refused: no shutdown_delay, plb stopped accepting at once
  // The request in flight finished normally: the drain let it.
  expect(r.answered).toEqual({ status: 200, text: "a", code: 0 });
  expect(r.code).toBe(0);
  expect(env.plb.log()).toMatch(/\[stats\] stats: stopping: \/healthz answers 503 from now on/);
});

test("with workers = 2 the master's /healthz answers 503 from the start of the stop too, and the workers keep accepting for shutdown_delay", async () => {
  const env = await setUp({ globals: 'workers = 2\nshutdown_delay = "1s"', slowMs: 2000 });
  const r = await stopDuringRequest(env);
  expect(r.during).toEqual({ status: 503, text: "stopping\n", code: 0 });
  expect(r.newClient).toEqual({ status: 200, text: "a", code: 0 });
  expect(r.stillRunning).toBe(true);
  expect(r.answered.status).toBe(200);
  expect(r.code).toBe(0);
}, 30_000);

test("healthz_requires_servers: 503 naming the service while it has no server that can take a client, 200 once one can; a reload turns it off", async () => {
  const env = await setUp({ stats: "healthz_requires_servers = true" });
  const { healthz, statsPort, backend } = env;
  const admin = (action: string, body?: unknown) =>
    fetch(`http://127.0.0.1:${statsPort}/servers/web/127.0.0.1:${backend.port}/${action}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${TOKEN}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  expect((await curl(healthz)).status).toBe(200);
  expect((await admin("maint")).status).toBe(200);
  expect(await curl(healthz)).toEqual({ status: 503, text: 'no server up: "web"\n', code: 0 });
  expect((await curl(healthz, true)).status).toBe(503);
  expect((await admin("ready")).status).toBe(200);
  expect(await curl(healthz)).toEqual({ status: 200, text: "ok\n", code: 0 });
  // Weight 0 takes no client either.
  expect((await admin("weight", { weight: 0 })).status).toBe(200);
  expect((await curl(healthz)).status).toBe(503);
  expect(await reloadWith(env.plb, env.file, env.conf("healthz_requires_servers = false"))).toMatch(/reload: /);
  expect(await curl(healthz)).toEqual({ status: 200, text: "ok\n", code: 0 });
});

test("with read_token, a 503 for lack of servers counts the services instead of naming them", async () => {
  const env = await setUp({ stats: "healthz_requires_servers = true\nread_token = true" });
  const res = await fetch(`http://127.0.0.1:${env.statsPort}/servers/web/127.0.0.1:${env.backend.port}/maint`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(await curl(env.healthz)).toEqual({ status: 503, text: "no server up: 1 service(s)\n", code: 0 });
});

test("shutdown_delay: after SIGTERM plb still accepts new clients for that long while /healthz answers 503, then stops accepting and exits", async () => {
  const env = await setUp({ globals: 'shutdown_delay = "1500ms"' });
  const t0 = Date.now();
  env.plb.proc.kill("SIGTERM");
  await env.plb.waitForLog(/still accepting for 1500 ms \(shutdown_delay\)/);
  expect(await curl(env.healthz)).toEqual({ status: 503, text: "stopping\n", code: 0 });
  // A new client during the delay is served as usual.
  expect(await curl(`http://127.0.0.1:${env.webPort}/`)).toEqual({ status: 200, text: "a", code: 0 });
  expect(env.plb.proc.exitCode).toBeNull();
  expect(await env.plb.exited).toBe(0);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
  // Gone: nothing accepts any more.
  expect((await curl(`http://127.0.0.1:${env.webPort}/`)).code).toBe(7);
});
