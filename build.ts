/**
 * Build standalone executables with `bun build --compile`.
 *
 *   bun build.ts              the host binary → dist/plb
 *   bun build.ts linux-arm64  one named target → dist/plb-linux-arm64
 *   bun build.ts all          every target below, and dist/SHA256SUMS
 *   bun build.ts image-root   the FROM scratch image trees: dist/rootfs-linux-x64/
 *                             and dist/rootfs-linux-arm64/ (see build/rootfs.ts)
 *
 * (`npm run build -- all` is the same.) The version comes from
 * package.json, the commit from git (`plb --version` → `plb 0.4.0
 * (abc1234)`, or `(abc1234, modified)` from a tree with uncommitted
 * changes); both are embedded. Adding a platform is one entry in TARGETS.
 *
 * Two entry points, split into chunks (--splitting): src/cli.ts installs
 * the signal handlers and then imports src/command.ts (everything else), so
 * the first chunk is a few hundred bytes and a signal in the first
 * milliseconds after exec finds a handler (in place ~6 ms after exec; one
 * bundle took ~30 ms). --bytecode would start ~15 ms faster but adds ~3 MB,
 * too much for the image (≤ 110 MB).
 */
import { $ } from "bun";
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import pkg from "./package.json" with { type: "json" };
import { ROOTFS_SPECS, writeRootfs } from "./build/rootfs.ts";
import { commitOf } from "./src/version.ts";

export interface Target {
  /** Name on the command line and in the output file. */
  readonly name: string;
  /** Bun's --target value. */
  readonly bun: string;
  /** What the executable file is: checked by tests/build.test.ts. */
  readonly format: "elf" | "macho" | "pe";
  readonly arch: "x64" | "arm64";
  readonly os: "linux" | "darwin" | "windows" | "freebsd";
  /** ELF: the program interpreter (the dynamic loader) it needs. */
  readonly interpreter?: string;
}

export const TARGETS: readonly Target[] = [
  { name: "linux-x64", bun: "bun-linux-x64", format: "elf", arch: "x64", os: "linux", interpreter: "/lib64/ld-linux-x86-64.so.2" },
  { name: "linux-arm64", bun: "bun-linux-arm64", format: "elf", arch: "arm64", os: "linux", interpreter: "/lib/ld-linux-aarch64.so.1" },
  { name: "linux-x64-musl", bun: "bun-linux-x64-musl", format: "elf", arch: "x64", os: "linux", interpreter: "/lib/ld-musl-x86_64.so.1" },
  { name: "linux-arm64-musl", bun: "bun-linux-arm64-musl", format: "elf", arch: "arm64", os: "linux", interpreter: "/lib/ld-musl-aarch64.so.1" },
  { name: "darwin-x64", bun: "bun-darwin-x64", format: "macho", arch: "x64", os: "darwin" },
  { name: "darwin-arm64", bun: "bun-darwin-arm64", format: "macho", arch: "arm64", os: "darwin" },
  { name: "windows-x64", bun: "bun-windows-x64", format: "pe", arch: "x64", os: "windows" },
  { name: "freebsd-x64", bun: "bun-freebsd-x64", format: "elf", arch: "x64", os: "freebsd", interpreter: "/libexec/ld-elf.so.1" },
  { name: "freebsd-arm64", bun: "bun-freebsd-arm64", format: "elf", arch: "arm64", os: "freebsd", interpreter: "/libexec/ld-elf.so.1" },
];

const root = import.meta.dir;
/** Where binaries go: dist/, or $PLB_DIST (tests build there). */
const dist = process.env.PLB_DIST || join(root, "dist");
const entries = [join(root, "src", "cli.ts"), join(root, "src", "command.ts")];

/** The output file of a target (undefined: the host binary). */
export function outputFile(target: Target | undefined): string {
  if (!target) return join(dist, "plb");
  return join(dist, `plb-${target.name}${target.os === "windows" ? ".exe" : ""}`);
}

async function build(target: Target | undefined, commit: string): Promise<string> {
  const out = outputFile(target);
  const targetArgs = target ? [`--target=${target.bun}`] : [];
  const define = `PLB_COMMIT=${JSON.stringify(commit)}`;
  await $`${process.execPath} build --compile --minify --splitting --format=esm --sourcemap=none --define ${define} ${targetArgs} ${entries} --outfile ${out}`
    .cwd(root)
    .quiet();
  return out;
}

/** `sha256sum -c` lines for `files`. */
async function sha256sums(files: string[]): Promise<string> {
  const lines: string[] = [];
  for (const file of files) {
    const hash = new Bun.CryptoHasher("sha256");
    for await (const chunk of Bun.file(file).stream()) hash.update(chunk);
    lines.push(`${hash.digest("hex")}  ${basename(file)}`);
  }
  return lines.map((l) => `${l}\n`).join("");
}

/** Bytes in a tree. */
function treeSize(dir: string, files: string[]): number {
  return files.reduce((n, f) => n + Bun.file(join(dir, f)).size, 0);
}

async function imageRoot(commit: string): Promise<void> {
  for (const cpu of ["x64", "arm64"] as const) {
    const target = TARGETS.find((t) => t.name === `linux-${cpu}`)!;
    const binary = await build(target, commit);
    const dir = join(dist, `rootfs-linux-${cpu}`);
    const files = writeRootfs(dir, { ...ROOTFS_SPECS[cpu], binary });
    console.log(`wrote ${dir} (${files.length} files, ${(treeSize(dir, files) / 1e6).toFixed(1)} MB): ${files.join(" ")}`);
  }
}

if (import.meta.main) {
  const wanted = process.argv[2];
  if (wanted === "image-root") {
    mkdirSync(dist, { recursive: true });
    await imageRoot(commitOf(root) ?? "unknown commit");
    process.exit(0);
  }
  const targets: (Target | undefined)[] =
    wanted === undefined ? [undefined] : wanted === "all" ? [...TARGETS] : [TARGETS.find((t) => t.name === wanted)];
  if (targets.includes(undefined) && wanted !== undefined) {
    console.error(`unknown target "${wanted}"; known: ${TARGETS.map((t) => t.name).join(", ")}, all`);
    process.exit(1);
  }
  mkdirSync(dist, { recursive: true });
  const commit = commitOf(root) ?? "unknown commit";
  const built: string[] = [];
  for (const t of targets) {
    const out = await build(t, commit);
    built.push(out);
    console.log(`built ${out} (plb ${pkg.version}, ${commit}${t ? `, ${t.name}` : ""}, ${(Bun.file(out).size / 1e6).toFixed(1)} MB)`);
  }
  if (wanted === "all") {
    writeFileSync(join(dist, "SHA256SUMS"), await sha256sums(built));
    console.log(`wrote ${join(dist, "SHA256SUMS")} (check with: cd dist && sha256sum -c SHA256SUMS)`);
  }
}
