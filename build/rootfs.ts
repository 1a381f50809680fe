/**
 * The file tree of the FROM scratch image for one Linux CPU
 * (dist/rootfs-linux-<cpu>/): /plb, a tiny static entry point
 * (build/proc-check.c: one clear line instead of Bun's crash report when
 * /proc is not mounted) that runs the plb binary, /usr/lib/plb/plb;
 * exactly the shared libraries it needs (its ELF interpreter and DT_NEEDED libraries, and theirs, found
 * in the build machine's glibc for that CPU), /etc/passwd and /etc/group
 * with a `plb` user (65532) and nobody, an empty /var/empty for chroot_dir,
 * /tmp, /run (plb's, for the pid file; /var/run links to it), and
 * build/image.toml as /etc/plb/plb.toml. The Dockerfile
 * is then `COPY dist/rootfs-linux-<cpu>/ /`, and the tree can be tested
 * without a Docker engine (chroot).
 */
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { elfNeeds } from "./elf.ts";

export interface RootfsSpec {
  readonly cpu: "x64" | "arm64";
  /** The linux binary for that CPU (glibc). */
  readonly binary: string;
  /** Where the build machine keeps that CPU's glibc. */
  readonly libDirs: readonly string[];
  /** Where the libraries go in the image (the loader's default search path). */
  readonly imageLibDir: string;
  /** C compilers that build the entry point for that CPU, first found wins. */
  readonly cc: readonly string[];
}

/** Debian's own glibc for x86-64, and libc6-arm64-cross for aarch64. */
export const ROOTFS_SPECS: Record<"x64" | "arm64", Omit<RootfsSpec, "binary">> = {
  x64: {
    cpu: "x64",
    libDirs: ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64"],
    imageLibDir: "/lib/x86_64-linux-gnu",
    cc: process.arch === "x64" ? ["gcc", "x86_64-linux-gnu-gcc"] : ["x86_64-linux-gnu-gcc"],
  },
  arm64: {
    cpu: "arm64",
    libDirs: ["/usr/aarch64-linux-gnu/lib", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"],
    imageLibDir: "/lib/aarch64-linux-gnu",
    cc: process.arch === "arm64" ? ["gcc", "aarch64-linux-gnu-gcc"] : ["aarch64-linux-gnu-gcc"],
  },
};

/** Where the real binary lives in the image; /plb is the entry point in front of it. */
export const REAL_BINARY = "/usr/lib/plb/plb";

/** Build the static entry point (build/proc-check.c) for `spec`'s CPU. */
export function buildEntryPoint(spec: RootfsSpec): Uint8Array {
  const cc = spec.cc.find((c) => Bun.which(c));
  if (!cc) throw new Error(`no C compiler for ${spec.cpu} (${spec.cc.join(" or ")}; Debian: gcc, gcc-aarch64-linux-gnu)`);
  const out = join(mkdtempSync(join(tmpdir(), "plb-entry-")), "plb");
  const flags = ["-Os", "-static", "-nostdlib", "-fno-stack-protector", "-fno-pie", "-no-pie", "-fno-asynchronous-unwind-tables", "-Wl,--build-id=none", "-s"];
  const r = Bun.spawnSync([cc, ...flags, "-o", out, join(import.meta.dir, "proc-check.c")], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cc} build/proc-check.c failed:\n${r.stderr}`);
  const bytes = readFileSync(out);
  rmSync(dirname(out), { recursive: true, force: true });
  return bytes;
};

export const PLB_UID = 65532;

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin\nplb:x:${PLB_UID}:${PLB_UID}:plb:/var/empty:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n`;
const GROUP = `root:x:0:\nplb:x:${PLB_UID}:\nnogroup:x:65534:\n`;

function find(name: string, dirs: readonly string[]): string {
  for (const d of dirs) {
    const p = join(d, name);
    if (existsSync(p)) return realpathSync(p);
  }
  throw new Error(`${name} not found in ${dirs.join(", ")} (for arm64 install libc6-arm64-cross)`);
}

/** Every library `binary` needs, transitively: [soname, file on this machine]. */
export function librariesOf(binary: string, dirs: readonly string[]): { interpreter: [string, string] | undefined; libs: [string, string][] } {
  const top = elfNeeds(readFileSync(binary));
  const interpreter: [string, string] | undefined = top.interpreter ? [top.interpreter, find(basename(top.interpreter), dirs)] : undefined;
  const libs = new Map<string, string>();
  const queue = [...top.needed];
  while (queue.length > 0) {
    const name = queue.shift()!;
    if (libs.has(name) || (top.interpreter && basename(top.interpreter) === name)) continue;
    const file = find(name, dirs);
    libs.set(name, file);
    queue.push(...elfNeeds(readFileSync(file)).needed);
  }
  return { interpreter, libs: [...libs] };
}

/** Writes the tree to `dir` (replacing it); returns the files written, relative. */
export function writeRootfs(dir: string, spec: RootfsSpec, config = join(import.meta.dir, "image.toml")): string[] {
  rmSync(dir, { recursive: true, force: true });
  const files: string[] = [];
  const put = (rel: string, from: string | Uint8Array, mode = 0o644) => {
    const to = join(dir, rel);
    mkdirSync(dirname(to), { recursive: true });
    if (typeof from === "string") copyFileSync(from, to);
    else writeFileSync(to, from);
    chmodSync(to, mode);
    files.push(rel);
  };
  put("plb", buildEntryPoint(spec), 0o755);
  put(REAL_BINARY.slice(1), spec.binary, 0o755);
  const { interpreter, libs } = librariesOf(spec.binary, spec.libDirs);
  if (interpreter) put(interpreter[0].slice(1), interpreter[1], 0o755);
  for (const [name, file] of libs) put(join(spec.imageLibDir, name).slice(1), file, 0o755);
  put("etc/passwd", new TextEncoder().encode(PASSWD));
  put("etc/group", new TextEncoder().encode(GROUP));
  put("etc/plb/plb.toml", config);
  for (const d of ["var/empty", "tmp", "run", "proc", "dev"]) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, "var/empty"), 0o755);
  chmodSync(join(dir, "tmp"), 0o1777);
  // The pid file's directory: plb removes its pid file there after the drop.
  // (Docker's COPY makes everything root's: the Dockerfile copies run/ again with --chown.)
  chmodSync(join(dir, "run"), 0o755);
  try {
    chownSync(join(dir, "run"), PLB_UID, PLB_UID);
  } catch {
    // not root: the tree's own owner then; the image gets it right anyway
  }
  symlinkSync("../run", join(dir, "var/run"));
  return files;
}
