/**
 * `bun build.ts all`: every target builds with the Bun packaged here, each
 * file is the executable its target says (format, CPU, OS ABI, loader),
 * SHA256SUMS verifies with `sha256sum -c`, and the version names the commit.
 * Binaries that can run here are run elsewhere (binary.test.ts, and the
 * linux-arm64 one under qemu in arm64.test.ts).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { TARGETS } from "../build.ts";
import { exeInfo } from "./support/exe-header.ts";
import { BUN, ROOT, tempDir } from "./support/plb.ts";

const out = tempDir("plb-dist-");
let log = "";

beforeAll(() => {
  const r = Bun.spawnSync([BUN, join(ROOT, "build.ts"), "all"], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, PLB_DIST: out } });
  log = `${r.stdout}${r.stderr}`;
  if (r.exitCode !== 0) throw new Error(`bun build.ts all failed:\n${log}`);
}, 180_000);
afterAll(() => rmSync(out, { recursive: true, force: true })); // about 1 GB

const file = (t: (typeof TARGETS)[number]) => join(out, `plb-${t.name}${t.os === "windows" ? ".exe" : ""}`);

for (const t of TARGETS) {
  const kind = { elf: "an ELF", macho: "a Mach-O", pe: "a PE32+" }[t.format];
  test(`${t.name}: ${kind} executable for ${t.arch}${t.os === "freebsd" ? " (FreeBSD ABI)" : ""}${t.interpreter ? `, loaded by ${t.interpreter}` : ""}`, () => {
    const head = readFileSync(file(t)).subarray(0, 65536);
    const info = exeInfo(head);
    expect(info.format).toBe(t.format);
    expect(info.arch).toBe(t.arch);
    if (t.format === "elf") {
      expect(info.osabi).toBe(t.os === "freebsd" ? 9 : 0);
      expect(info.interpreter).toBe(t.interpreter);
    }
  });
}

test("SHA256SUMS lists every target once and sha256sum -c accepts it", () => {
  const sums = readFileSync(join(out, "SHA256SUMS"), "utf8").trim().split("\n");
  expect(sums.map((l) => l.split("  ")[1]).sort()).toEqual(TARGETS.map((t) => file(t).slice(out.length + 1)).sort());
  const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: out, stdout: "pipe", stderr: "pipe" });
  expect(check.stdout.toString().trim().split("\n")).toEqual(sums.map((l) => `${l.split("  ")[1]}: OK`));
  expect(check.exitCode).toBe(0);
});

test("the linux binary for this machine prints the version and the commit it was built from", () => {
  const commit = Bun.spawnSync(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], { stdout: "pipe" }).stdout.toString().trim();
  const host = TARGETS.find((t) => t.os === "linux" && !t.interpreter?.includes("musl") && t.arch === process.arch)!;
  const r = Bun.spawnSync([file(host), "--version"], { stdout: "pipe", stderr: "pipe" });
  expect(r.stdout.toString()).toMatch(new RegExp(`^plb \\d+\\.\\d+\\.\\d+ \\(${commit}(, modified)?\\)\\n$`));
  expect(log).toContain(`built ${file(host)}`);
});

test("exeInfo tells a header it does not know", () => {
  expect(exeInfo(new TextEncoder().encode("#!/bin/sh\necho hi\n"))).toEqual({ format: "unknown", arch: "other" });
});
