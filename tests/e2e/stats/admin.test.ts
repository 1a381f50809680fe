/**
 * The admin API on the stats listener: drain, maint, ready and weight with
 * a Bearer token, kept across reloads, seen by every worker.
 */
import { afterEach, expect, test } from "bun:test";
import { httpBackend, type HttpBackend } from "../../support/http-backends.ts";
import { freePorts } from "../../support/ports.ts";
import { startPlbFile, writeConfig, type PlbProcess } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";

const TOKEN = "tok-0123456789abcdef";
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function setUp(globals = "", token = true) {
  const [a, b] = await Promise.all([httpBackend("a"), httpBackend("b")]);
  cleanup.push(() => a.close(), () => b.close());
  const [statsPort, webPort] = await freePorts(2);
  const conf = (timeout = "60s") => `${globals}
timeout_cleanup = "300ms"
[stats]
listen = "127.0.0.1:${statsPort}"
${token ? `token = "${TOKEN}"` : ""}
[[service]]
name = "web"
protocol = "http"
timeout_client = "${timeout}"
listen = ["127.0.0.1:${webPort}"]
servers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]
`;
  const file = writeConfig(conf());
  const plb = await startPlbFile(file);
  cleanup.push(() => plb.stop());
  if (globals.includes("workers")) await plb.waitForLog(/workers running/);
  return { plb, file, conf, a, b, statsPort, webPort };
}

/** `token`: null sends no Authorization at all. */
function post(statsPort: number, path: string, body?: unknown, token: string | null = TOKEN) {
  return fetch(`http://127.0.0.1:${statsPort}${path}`, {
    method: "POST",
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

async function answers(webPort: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await (await fetch(`http://127.0.0.1:${webPort}/`, { keepalive: false })).text());
  return out;
}

async function serverState(statsPort: number, port: number): Promise<{ state: string; admin: string; weight: number }> {
  const st = (await (await fetch(`http://127.0.0.1:${statsPort}/status.json`)).json()) as { backends: { servers: { name: string; state: string; admin: string; weight: number }[] }[] };
  return st.backends[0].servers.find((s) => s.name === `127.0.0.1:${port}`)!;
}

test("drain, maint, ready and weight: each changes where requests go, shows in status.json, is logged with the caller, and a drain outlives a reload", async () => {
  const { plb, file, conf, a, b, statsPort, webPort } = await setUp();
  const drained = await post(statsPort, `/servers/web/127.0.0.1:${b.port}/drain`);
  expect(drained.status).toBe(200);
  expect(await drained.json()).toMatchObject({ backend: "web", admin: "drain", up: false });
  expect(new Set(await answers(webPort, 6))).toEqual(new Set(["a"]));
  expect(await serverState(statsPort, b.port)).toMatchObject({ state: "drain", admin: "drain" });
  expect(plb.log()).toMatch(new RegExp(`\\[stats\\] admin: drain server 127\\.0\\.0\\.1:${b.port} of "web" by 127\\.0\\.0\\.1`));

  // A reload keeps the operator's state.
  expect(await reloadWith(plb, file, conf("61s"))).toContain("reload: 1 setting changed");
  expect(await serverState(statsPort, b.port)).toMatchObject({ state: "drain", admin: "drain" });
  expect(new Set(await answers(webPort, 6))).toEqual(new Set(["a"]));

  expect((await post(statsPort, `/servers/web/127.0.0.1:${b.port}/ready`)).status).toBe(200);
  expect(new Set(await answers(webPort, 6))).toEqual(new Set(["a", "b"]));

  expect((await post(statsPort, `/servers/web/127.0.0.1:${a.port}/maint`)).status).toBe(200);
  expect(await serverState(statsPort, a.port)).toMatchObject({ state: "maint" });
  expect(new Set(await answers(webPort, 6))).toEqual(new Set(["b"]));
  expect((await post(statsPort, `/servers/web/127.0.0.1:${a.port}/ready`)).status).toBe(200);

  // weight 0: no new requests; 3: three of every four.
  expect((await post(statsPort, `/servers/web/127.0.0.1:${a.port}/weight`, { weight: 0 })).status).toBe(200);
  expect(new Set(await answers(webPort, 6))).toEqual(new Set(["b"]));
  expect((await post(statsPort, `/servers/web/127.0.0.1:${a.port}/weight`, { weight: 3 })).status).toBe(200);
  const got = await answers(webPort, 40);
  expect(got.filter((x) => x === "a").length).toBe(30);
  expect((await serverState(statsPort, a.port)).weight).toBe(3);
  expect((await post(statsPort, `/servers/web/127.0.0.1:${a.port}/weight`, { weight: "heavy" })).status).toBe(400);
  void (a satisfies HttpBackend);
});

test("every POST needs the token: 401 without, 403 with a wrong one; 404 for an unknown server or action", async () => {
  const { statsPort, b } = await setUp();
  expect((await post(statsPort, `/servers/web/127.0.0.1:${b.port}/drain`, undefined, null)).status).toBe(401);
  expect((await post(statsPort, `/servers/web/127.0.0.1:${b.port}/drain`, undefined, "wrong-token-wrong-token")).status).toBe(403);
  expect((await post(statsPort, `/servers/web/127.0.0.1:1/drain`)).status).toBe(404);
  expect((await post(statsPort, `/servers/web/127.0.0.1:${b.port}/explode`)).status).toBe(404);
  expect((await serverState(statsPort, b.port)).admin).toBe("ready"); // none of them changed anything
});

test("no token configured: the admin API refuses every POST (403)", async () => {
  const { statsPort, b } = await setUp("", false);
  const r = await post(statsPort, `/servers/web/127.0.0.1:${b.port}/drain`);
  expect(r.status).toBe(403);
  expect(((await r.json()) as { error: string }).error).toContain("needs a token");
});

test("with workers = 2 a drain at the master reaches both workers at once", async () => {
  const { plb, statsPort, webPort, b } = await setUp("workers = 2");
  expect((await post(statsPort, `/servers/web/127.0.0.1:${b.port}/drain`)).status).toBe(200);
  for (const w of ["w0", "w1"]) await plb.waitForLog(new RegExp(`\\[${w}\\] \\[state\\] server 127\\.0\\.0\\.1:${b.port} of "web" takes no new connections`), 15_000); // pushed by the master (nothing else would tell them)
  expect(new Set(await answers(webPort, 20))).toEqual(new Set(["a"]));
});

test("plb status prints the services and servers with their state; plb drain / ready BACKEND SERVER call the API with the token from the file", async () => {
  const { file, b, webPort } = await setUp();
  const cli = (args: string[]) => Bun.spawnSync([process.execPath, `${import.meta.dir}/../../../src/cli.ts`, ...args, "--config", file], { stdout: "pipe", stderr: "pipe" });
  await answers(webPort, 4);
  const st = cli(["status"]);
  expect(st.exitCode).toBe(0);
  const out = st.stdout.toString();
  expect(out).toMatch(/^plb \d+\.\d+\.\d+, up \d+ s\n/);
  expect(out).toMatch(new RegExp(`^web \\(http, 127\\.0\\.0\\.1:${webPort}\\)\\s+2/2 up\\s+\\d+\\s+4\\s`, "m"));
  expect(out).toMatch(new RegExp(`^  127\\.0\\.0\\.1:${b.port}\\s+up\\s+0\\s+2\\s`, "m"));
  const drain = cli(["drain", "web", `127.0.0.1:${b.port}`]);
  expect([drain.exitCode, drain.stdout.toString().trim()]).toEqual([0, `127.0.0.1:${b.port} of "web": drain, no new connections`]);
  expect(cli(["status"]).stdout.toString()).toMatch(new RegExp(`^  127\\.0\\.0\\.1:${b.port}\\s+drain\\s`, "m"));
  const unknown = cli(["drain", "web", "127.0.0.1:1"]);
  expect(unknown.exitCode).toBe(1);
  expect(unknown.stderr.toString()).toContain("no server");
  expect(cli(["ready", "web", `127.0.0.1:${b.port}`]).exitCode).toBe(0);
  expect(new Set(await answers(webPort, 6))).toEqual(new Set(["a", "b"]));
});

test("a reload reads the token file again: the old token is refused from then on, the new one accepted", async () => {
  const { writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tempDir } = await import("../../support/plb.ts");
  const a = await httpBackend("a");
  cleanup.push(() => a.close());
  const [statsPort, webPort] = await freePorts(2);
  const tokenFile = join(tempDir(), "stats.token");
  writeFileSync(tokenFile, "first-token-0123456789\n");
  const toml = `
[stats]
listen = "127.0.0.1:${statsPort}"
token_file = "${tokenFile}"
[[service]]
name = "web"
protocol = "http"
listen = ["127.0.0.1:${webPort}"]
servers = ["127.0.0.1:${a.port}"]
`;
  const file = writeConfig(toml);
  const plb = await startPlbFile(file);
  cleanup.push(() => plb.stop());
  const path = `/servers/web/127.0.0.1:${a.port}/ready`;
  expect((await post(statsPort, path, undefined, "first-token-0123456789")).status).toBe(200);
  writeFileSync(tokenFile, "second-token-0123456789\n");
  expect(await reloadWith(plb, file, undefined)).toContain("reload: no changes");
  expect((await post(statsPort, path, undefined, "first-token-0123456789")).status).toBe(403);
  expect((await post(statsPort, path, undefined, "second-token-0123456789")).status).toBe(200);
});
