import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import pkg from "../../../package.json" with { type: "json" };
import { BUN, CLI, ROOT, writeConfig } from "../../support/plb.ts";
import { freePort } from "../../support/ports.ts";

function run(args: string[]) {
  const r = Bun.spawnSync([BUN, CLI, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

describe("command line", () => {
  test("--version prints the package version and the commit of the checkout (run from source)", () => {
    const r = run(["--version"]);
    expect(r.code).toBe(0);
    const commit = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { stdout: "pipe", stderr: "ignore" }).stdout.toString().trim();
    const dirty = Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { stdout: "pipe", stderr: "ignore" }).stdout.toString().trim() !== "";
    expect(r.out.trim()).toBe(commit ? `plb ${pkg.version} (${commit}${dirty ? ", modified" : ""})` : `plb ${pkg.version}`);
  });

  test("--help lists every switch", () => {
    const r = run(["--help"]);
    expect(r.code).toBe(0);
    for (const s of ["--config", "--daemonize", "--loglevel", "--logfile", "--pidfile", "--check", "--help", "--version"]) {
      expect(r.out).toContain(s);
    }
  });

  test("--check accepts the example configuration with a one-line summary", () => {
    const r = run(["--check", "--config", join(ROOT, "plb.toml.example")]);
    expect(r.code).toBe(0);
    expect(r.out.trim().split("\n")).toHaveLength(1);
    expect(r.out).toMatch(/configuration OK: \d+ service\(s\)/);
  });

  test("--check rejects a bad configuration with exit 1 and names key and line", () => {
    const file = writeConfig(`sever_retry = 3\n[[service]]\nname = "a"\nlisten = ["127.0.0.1:99999"]\nservers = ["127.0.0.1:80"]\n`);
    const r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}:1`);
    expect(r.err).toContain(`did you mean "server_retry"`);
    expect(r.err).toContain(`${file}:4`);
    expect(r.err).toContain("99999");
  });

  test("a missing configuration file is exit 1 with the path", () => {
    const r = run(["--config", "/nonexistent/plb.toml"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("/nonexistent/plb.toml");
  });

  test("an unknown switch is exit 1", () => {
    const r = run(["--bogus"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("--bogus");
  });

  test("a bad --loglevel is exit 1", () => {
    const file = writeConfig(`[[service]]\nname = "a"\nlisten = ["127.0.0.1:1"]\nservers = ["127.0.0.1:80"]\n`);
    const r = run(["--config", file, "--loglevel", "loud"]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("loud");
  });

  test("a port already taken is exit 2 with a one-line reason", async () => {
    const port = await freePort();
    const taken = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    try {
      const file = writeConfig(`[[service]]\nname = "a"\nlisten = ["127.0.0.1:${port}"]\nservers = ["127.0.0.1:80"]\n`);
      const r = run(["--config", file, "--logfile", "-"]);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`cannot listen on 127.0.0.1:${port}: address already in use`);
    } finally {
      taken.stop(true);
    }
  });
});
