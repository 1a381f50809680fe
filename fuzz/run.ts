/**
 * Fuzz every pure parser: `npm run fuzz -- [--iterations N] [--seed S]
 * [--parser NAME]... [--reasons]`, or replay one input: `--parser NAME
 * --input HEX`. Prints, per parser: inputs, result kinds, distinct error
 * reasons, time, inputs/s, the largest heap growth per input byte seen; then
 * each failure with its seed and a minimized input. Exit status 1 on a
 * failure. See fuzz/driver.ts for the loop and fuzz/formats/ for the
 * generators and oracles.
 */
import { type Failure, fuzz, type Stats } from "./driver.ts";
import { TARGETS, targetNamed } from "./targets.ts";

function args(argv: string[]): { iterations: number; seed: number; parsers: string[]; input?: string; reasons: boolean } {
  const out = { iterations: 10_000, seed: (Math.random() * 2 ** 32) >>> 0, parsers: [] as string[], input: undefined as string | undefined, reasons: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--iterations" || a === "-n") out.iterations = Number(value().replaceAll("_", ""));
    else if (a === "--seed") out.seed = Number(value()) >>> 0;
    else if (a === "--parser" || a === "-p") out.parsers.push(...value().split(","));
    else if (a === "--input") out.input = value();
    else if (a === "--reasons") out.reasons = true;
    else throw new Error(`unknown argument ${a} (--iterations N, --seed S, --parser NAME, --input HEX, --reasons)`);
  }
  if (!Number.isInteger(out.iterations) || out.iterations < 1) throw new Error("--iterations must be a positive integer");
  for (const p of out.parsers) if (!targetNamed(p)) throw new Error(`unknown parser ${p} (one of ${TARGETS.map((t) => t.name).join(", ")})`);
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const latin1 = (b: Uint8Array) => JSON.stringify(Buffer.from(b).toString("latin1"));

function failure(f: Failure, out: (line: string) => void): void {
  out(`\nFAILURE ${f.target} (seed ${f.seed}, input ${f.iteration}): ${f.message}`);
  out(`  input (${f.input.length} bytes): ${latin1(f.input).slice(0, 400)}`);
  out(`  minimized (${f.minimized.length} bytes): ${latin1(f.minimized).slice(0, 2000)}`);
  out(`  replay: bun fuzz/run.ts --parser ${f.target} --input ${hex(f.minimized)}`);
}

function row(s: Stats): string {
  const kinds = Object.entries(s.kinds).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n.toLocaleString("en")}`).join(", ");
  const secs = s.ms / 1000;
  return `| ${s.target} | ${s.inputs.toLocaleString("en")} | ${kinds} | ${s.reasons.size} | ${secs.toFixed(1)} s | ${Math.round(s.inputs / secs).toLocaleString("en")} | ${s.allocPerByte.toFixed(1)} B (${s.allocChecks}) | ${s.failures.length} |`;
}

const opts = args(process.argv.slice(2));
if (opts.input !== undefined) {
  const t = targetNamed(opts.parsers[0] ?? "");
  if (t === undefined || opts.parsers.length !== 1) throw new Error("--input needs exactly one --parser");
  const input = Uint8Array.from(Buffer.from(opts.input, "hex"));
  console.log(`${t.name} on ${latin1(input)}:`);
  console.log(t.check(input));
} else {
  const targets = opts.parsers.length > 0 ? opts.parsers.map((p) => targetNamed(p)!) : TARGETS;
  console.log(`fuzz: seed ${opts.seed}, ${opts.iterations.toLocaleString("en")} inputs per parser (reproduce: --seed ${opts.seed} --iterations ${opts.iterations})\n`);
  console.log("| parser | inputs | result kinds | distinct reasons | time | inputs/s | heap growth per input byte (checks) | failures |");
  console.log("|---|--:|---|--:|--:|--:|--:|--:|");
  const all: Stats[] = [];
  for (const t of targets) {
    const s = fuzz(t, { iterations: opts.iterations, seed: opts.seed });
    all.push(s);
    console.log(row(s));
    for (const f of s.failures) failure(f, console.error); // at once, on stderr; again after the table
  }
  for (const s of all) {
    if (opts.reasons) {
      console.log(`\n${s.target}: ${s.reasons.size} distinct reasons`);
      for (const [reason, n] of [...s.reasons].sort((a, b) => b[1] - a[1])) console.log(`  ${n.toString().padStart(9)}  ${reason}`);
    }
    for (const f of s.failures) failure(f, console.log);
  }
  if (all.some((s) => s.failures.length > 0)) process.exitCode = 1;
}
