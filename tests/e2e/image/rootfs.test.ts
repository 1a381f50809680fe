/**
 * The FROM scratch image's file tree (build/rootfs.ts), tested without a
 * Docker engine: run under `unshare --mount` + `chroot` with /proc and /dev
 * mounted as a container runtime does, started as root with user and
 * chroot_dir set, serving http and smtp to real servers outside the tree.
 * And without /proc: one clear line, exit 1, not Bun's crash report.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { librariesOf, REAL_BINARY, ROOTFS_SPECS, writeRootfs } from "../../../build/rootfs.ts";
import { builtBinary } from "../../support/binary.ts";
import { exeInfo } from "../../support/exe-header.ts";
import { fakeSmtp } from "../../support/fake-smtp.ts";
import { httpBackend } from "../../support/http-backends.ts";
import { BUN, ROOT, tempDir } from "../../support/plb.ts";
import { freePorts } from "../../support/ports.ts";

const isRoot = process.getuid?.() === 0;
const tree = tempDir("plb-rootfs-");
let files: string[] = [];
const cleanups: (() => unknown)[] = [];

beforeAll(() => {
  chmodSync(tree, 0o755);
  files = writeRootfs(tree, { ...ROOTFS_SPECS.x64, binary: builtBinary() });
}, 120_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  rmSync(tree, { recursive: true, force: true });
});

async function run(cmd: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

test("the tree holds plb, the libraries its ELF header names (and theirs), users, /var/empty, /tmp, /run; x64 under 110 MiB", () => {
  const needs = librariesOf(builtBinary(), ROOTFS_SPECS.x64.libDirs);
  for (const [name] of needs.libs) expect(files).toContain(join("lib/x86_64-linux-gnu", name));
  expect(files).toContain(needs.interpreter![0].slice(1));
  expect(files).toEqual(expect.arrayContaining(["plb", REAL_BINARY.slice(1), "etc/passwd", "etc/group", "etc/plb/plb.toml"]));
  expect(readFileSync(join(tree, "etc/passwd"), "utf8")).toMatch(/^plb:x:65532:65532:/m);
  expect(statSync(join(tree, "var/empty")).isDirectory()).toBe(true);
  expect(statSync(join(tree, "tmp")).mode & 0o7777).toBe(0o1777);
  expect(readlinkSync(join(tree, "var/run"))).toBe("../run");
  const bytes = files.reduce((n, f) => n + statSync(join(tree, f)).size, 0);
  console.log(`image tree (x64): ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB (${(bytes / 2 ** 20).toFixed(1)} MiB)`);
  expect(bytes).toBeLessThan(110 * 2 ** 20);
});

test("the arm64 tree is aarch64 throughout (entry point, plb, loader, libraries)", () => {
  const arm = tempDir("plb-rootfs-arm64-");
  cleanups.push(() => rmSync(arm, { recursive: true, force: true }));
  // the arm64 binary is built by the arm64 test; here any aarch64 ELF shows the libraries are found and copied
  const r = Bun.spawnSync([BUN, join(ROOT, "build.ts"), "linux-arm64"], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, PLB_DIST: arm } });
  expect(r.exitCode).toBe(0);
  const armFiles = writeRootfs(join(arm, "tree"), { ...ROOTFS_SPECS.arm64, binary: join(arm, "plb-linux-arm64") });
  const elves = armFiles.filter((f) => f === "plb" || f.startsWith("usr/") || f.startsWith("lib"));
  expect(elves.length).toBeGreaterThanOrEqual(5);
  for (const f of elves) expect(exeInfo(readFileSync(join(arm, "tree", f)).subarray(0, 65536)).arch, f).toBe("arm64");
}, 120_000);

test("without /proc the entry point says so in one line and exits 1", async () => {
  const r = await run(["chroot", tree, "/plb", "--version"]);
  expect(r.code).toBe(1);
  expect(r.out).toBe("");
  expect(r.err).toBe("plb: /proc is not mounted: plb reads itself through /proc/self/exe (mount it: mount -t proc proc /proc; container runtimes do)\n");
});

test("the image's own configuration passes --check inside the tree", async () => {
  const r = await run(["unshare", "--mount", "--fork", "--", "bash", "-c", 'mount -t proc proc "$1/proc" && exec chroot "$1" /plb --check --config /etc/plb/plb.toml', "x", tree]);
  expect(r.err).toBe("");
  expect(r.out).toMatch(/configuration OK: 1 service\(s\)/);
  expect(r.code).toBe(0);
});

test.skipIf(!isRoot)("as a container runtime runs it: root in the tree, drops to plb inside /var/empty, serves http and smtp to servers outside", async () => {
  const a = await httpBackend("A");
  const b = await httpBackend("B");
  const mx = fakeSmtp("mx-image", "ok");
  cleanups.push(() => a.close(), () => b.close(), () => mx.stop());
  const [web, mail] = await freePorts(2);
  writeFileSync(
    join(tree, "etc/plb/test.toml"),
    `user = "plb"\nchroot_dir = "/var/empty"\npidfile = "/run/plb.pid"\n` +
      `[[service]]\nname = "web"\nprotocol = "http"\nlisten = ["127.0.0.1:${web}"]\nservers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]\n` +
      `[[service]]\nname = "mail"\nprotocol = "smtp"\nlisten = ["127.0.0.1:${mail}"]\nservers = ["127.0.0.1:${mx.port}"]\n`,
  );
  const script = 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && exec chroot "$1" /plb --config /etc/plb/test.toml --logfile -';
  const proc = Bun.spawn(["unshare", "--mount", "--fork", "--", "bash", "-c", script, "x", tree], { stdout: "ignore", stderr: "pipe" });
  let log = "";
  void (async () => {
    for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
  })();
  cleanups.push(() => proc.kill("SIGKILL"));
  const deadline = Date.now() + 15_000;
  while (!/ready \(pid/.test(log) && proc.exitCode === null && Date.now() < deadline) await Bun.sleep(50);
  expect(log).toMatch(/running as plb \(65532:65532\), chroot \/var\/empty/);
  const pid = Number(readFileSync(join(tree, "run/plb.pid"), "utf8"));
  expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
  expect(readlinkSync(`/proc/${pid}/root`)).toBe(join(tree, "var/empty"));

  const bodies: string[] = [];
  for (let i = 0; i < 4; i++) bodies.push((await run(["curl", "-s", "-m", "5", `http://127.0.0.1:${web}/`])).out);
  expect(bodies.sort()).toEqual(["A", "A", "B", "B"]);
  const py = `import smtplib; s = smtplib.SMTP("127.0.0.1", ${mail}, timeout=5); print(s.sendmail("a@example.org", ["b@example.org"], "Subject: image\\r\\n\\r\\nthrough the image")); s.quit()`;
  expect((await run(["python3", "-c", py])).out.trim()).toBe("{}");
  expect(mx.messages.some((m) => m.includes("through the image"))).toBe(true);

  process.kill(pid, "SIGTERM");
  expect(await proc.exited).toBe(0);
  expect(log).toMatch(/stopped/);
  expect(existsSync(join(tree, "run/plb.pid"))).toBe(false); // removed by the plb user, through the kept /run
}, 60_000);
