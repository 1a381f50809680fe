import { beforeAll, expect, test } from "bun:test";
import { chmodSync, readlinkSync } from "node:fs";
import pkg from "../../../package.json" with { type: "json" };
import { backend, request } from "../../support/backends.ts";
import { BINARY, builtBinary } from "../../support/binary.ts";
import { earlySignal } from "../../support/early-signal.ts";
import { freePort } from "../../support/ports.ts";
import { ROOT, startPlb, tempDir } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

beforeAll(() => void builtBinary(), 60_000);

test("bun run build writes a standalone dist/plb that prints the package version and the embedded commit (no git needed)", () => {
  const commit = Bun.spawnSync(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], { stdout: "pipe" }).stdout.toString().trim();
  const r = Bun.spawnSync([BINARY, "--version"], { stdout: "pipe", env: { PATH: "/nonexistent" } });
  expect(r.exitCode).toBe(0);
  expect(r.stdout.toString().trim()).toMatch(new RegExp(`^plb ${pkg.version.replace(/\./g, "\\.")} \\(${commit}(, modified)?\\)$`));
});

// The signal goes as soon as the kernel shows the binary's handler (9-21 ms after
// exec at idle, before it listens at ~47 ms; more on a loaded machine, where a
// fixed 30 ms could come before Bun's runtime had run a line: signals.test.ts).
test("the compiled binary survives a SIGHUP as soon as it catches it (handlers before anything is loaded) and starts", async () => {
  const port = await freePort();
  const run = await earlySignal(`[[service]]\nname = "sig"\nlisten = ["127.0.0.1:${port}"]\nservers = ["127.0.0.1:9"]\n`, "SIGHUP", "caught", BINARY);
  try {
    console.log(`SIGHUP sent ${run.sentAtMs.toFixed(0)} ms after the spawn`);
    expect(run.signalCode).toBeNull();
    expect(run.log).toMatch(/ready \(pid/);
    await until(() => /SIGHUP: reloading [\s\S]*reload: no changes/.test(run.log), "SIGHUP to be handled", 10_000);
  } finally {
    await run.stop();
  }
});

test.skipIf(process.getuid?.() !== 0)("the compiled binary started as root chroots, drops to nobody and relays", async () => {
  const root = tempDir("plb-chroot-bin-");
  chmodSync(root, 0o755);
  const a = backend({ name: "A" });
  const port = await freePort();
  const plb = await startPlb(
    `
user = "nobody"
chroot_dir = "${root}"
[[service]]
name = "bin"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}"]
`,
    [],
    { binary: BINARY },
  );
  try {
    expect(readlinkSync(`/proc/${plb.pid}/root`)).toBe(root);
    expect((await request(port, "x")).trim()).toBe("A");
    expect(await plb.stop()).toBe(0);
  } finally {
    await plb.stop();
    a.stop();
  }
});
