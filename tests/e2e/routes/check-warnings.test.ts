/**
 * Unreachable routes through the real CLI: `plb --check` prints the
 * warning with both lines and still succeeds; a start and a SIGHUP reload
 * log it; a route mistake fails --check with its line.
 */
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { BUN, CLI, startPlbFile, writeConfig } from "../../support/plb.ts";
import { freePort } from "../../support/ports.ts";
import { reloadWith } from "../../support/reload.ts";
import { withBackends } from "../../support/routes.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const config = (port: number, routes: string) =>
  withBackends(`[[service]]
name = "edge"
protocol = "http"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:9"]

${routes}`);

const SHADOWED = `[[service.route]]
host = "*.example.com"
backend = "web"

[[service.route]]
host = "api.example.com"
path = "/v1/"
backend = "api"
`;

function check(file: string) {
  const r = Bun.spawnSync([BUN, CLI, "--check", "--config", file], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

test("--check prints an unreachable route with both lines and exits 0; a route mistake exits 1 with its line", async () => {
  const file = writeConfig(config(await freePort(), SHADOWED));
  const ok = check(file);
  expect(ok.code).toBe(0);
  expect(ok.err).toBe(`plb: warning: ${file}:11: service "edge": route at line 11 can never match: the route at line 7 matches every request it would (the first matching route wins)\n`);
  expect(ok.out).toContain("configuration OK");
  writeFileSync(file, config(await freePort(), `[[service.route]]\npath = "/v1/"\nstrip_prefix = "/v1/"\nbackend = "api"\n`));
  const bad = check(file);
  expect(bad.code).toBe(1);
  expect(bad.err).toBe(`plb: ${file}:9: service "edge": route[0].strip_prefix: must not end with "/" (write "/v1": strip_prefix works on whole path segments)\n`);
});

test("a start logs the warning, and so does a reload that brings one", async () => {
  const port = await freePort();
  const file = writeConfig(config(port, `[[service.route]]\nhost = "a.example.com"\nbackend = "a"\n`));
  const plb = await startPlbFile(file);
  cleanup.push(() => plb.stop());
  expect(plb.log()).not.toContain("can never match");
  expect(await reloadWith(plb, file, config(port, SHADOWED))).toMatch(/\[reload\] reload: /);
  expect(plb.log()).toMatch(/\[warn\] \[reload\] .*plb\.toml:11: service "edge": route at line 11 can never match: the route at line 7/);
  const again = await startPlbFile(writeConfig(config(await freePort(), SHADOWED)));
  cleanup.push(() => again.stop());
  expect(again.log()).toMatch(/\[warn\] \[config\] .*plb\.toml:11: service "edge": route at line 11 can never match/);
});
