/**
 * Build standalone executables with `bun build --compile`.
 *
 *   bun build.ts              the host binary → dist/plb
 *   bun build.ts linux-arm64  one named target → dist/plb-linux-arm64
 *   bun build.ts all          every target below
 *
 * The version comes from package.json (src/command.ts imports it, so the
 * compiled binary embeds it). Adding a platform is one entry in TARGETS.
 *
 * Two entry points: src/cli.ts installs the signal handlers and then
 * imports src/command.ts (everything else), a chunk of its own, so that a
 * signal in the first milliseconds after exec finds a handler; bytecode
 * (--bytecode, ESM) shortens the start further (handlers in place ~12 ms
 * after exec, ~30 ms without).
 */
import { $ } from "bun";
import { join } from "node:path";
import pkg from "./package.json" with { type: "json" };

interface Target {
  /** Name on the command line and in the output file. */
  readonly name: string;
  /** Bun's --target value. */
  readonly bun: string;
}

const TARGETS: readonly Target[] = [
  { name: "linux-x64", bun: "bun-linux-x64" },
  { name: "linux-arm64", bun: "bun-linux-arm64" },
];

const root = import.meta.dir;
const entries = [join(root, "src", "cli.ts"), join(root, "src", "command.ts")];

async function build(target: Target | undefined): Promise<string> {
  const out = join(root, "dist", target ? `plb-${target.name}` : "plb");
  const targetArgs = target ? [`--target=${target.bun}`] : [];
  await $`${process.execPath} build --compile --minify --bytecode --format=esm --sourcemap=none ${targetArgs} ${entries} --outfile ${out}`.cwd(root);
  return out;
}

const wanted = process.argv[2];
const targets: (Target | undefined)[] =
  wanted === undefined ? [undefined] : wanted === "all" ? [...TARGETS] : [TARGETS.find((t) => t.name === wanted)];
if (targets.includes(undefined) && wanted !== undefined) {
  console.error(`unknown target "${wanted}"; known: ${TARGETS.map((t) => t.name).join(", ")}, all`);
  process.exit(1);
}
for (const t of targets) {
  const out = await build(t);
  console.log(`built ${out} (plb ${pkg.version}${t ? `, ${t.name}` : ""})`);
}
