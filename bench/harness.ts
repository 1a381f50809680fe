/** The frame every mode shares: options, the temporary directory and signals, the rounds, the result file, a failed run. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unpin } from "./measure.ts";
import { buildBinary, ensureTools, killAllNow, log, type Peer, ROOT, stop } from "./peers.ts";

/** The options of the http and smtp modes. */
export interface BaseOptions {
  binary: boolean;
  duration: number;
  rounds: number;
  only?: string;
  direct: boolean;
  pin: boolean;
}

/**
 * `argv` read for the options every mode knows plus `flags` and `valued`
 * (names with "--"; valued ones take the next argument), `only` the names
 * --only accepts. Undefined on an unknown or invalid option. `opt` reads a
 * valued option. `defaults`: --duration and --rounds when not given.
 */
export function parseBase(
  argv: string[],
  flags: string[],
  valued: string[],
  only: string[],
  defaults = { duration: 10, rounds: 1 },
): { o: BaseOptions; opt: (name: string) => string | undefined } | undefined {
  const opt = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const takesValue = new Set(["--mode", "--duration", "--rounds", "--only", ...valued]);
  const known = new Set([...takesValue, "--binary", "--no-direct", "--no-pin", ...flags]);
  for (let i = 0; i < argv.length; i++) {
    if (!known.has(argv[i])) return undefined;
    if (takesValue.has(argv[i])) i++;
  }
  const o: BaseOptions = {
    binary: argv.includes("--binary"),
    duration: Number(opt("duration") ?? defaults.duration),
    rounds: Number(opt("rounds") ?? defaults.rounds),
    only: opt("only"),
    direct: !argv.includes("--no-direct") && !opt("only"),
    pin: !argv.includes("--no-pin"),
  };
  const valid = (n: number, max: number) => Number.isInteger(n) && n >= 1 && n <= max;
  if (!valid(o.duration, 120) || !valid(o.rounds, 10)) return undefined;
  if (o.only !== undefined && !only.includes(o.only)) return undefined;
  return { o, opt };
}

/**
 * Unpin if asked, check the tools (and `tools`), build dist/plb with
 * --binary, and make the temporary directory `plb-bench-<mode>-…`, removed
 * (after `onSignal`) when a signal stops the bench.
 */
export function setUp(o: BaseOptions, mode: string, tools?: () => void, onSignal?: () => void): string {
  if (!o.pin) unpin();
  ensureTools();
  tools?.();
  if (o.binary) {
    log("building dist/plb");
    buildBinary();
  }
  const dir = mkdtempSync(join(tmpdir(), `plb-bench-${mode}-`));
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      onSignal?.();
      killAllNow();
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }
  return dir;
}

/** `rounds` rounds of `measure` over `targets`, one after the other, 1 s apart; each result pushed to runs[target]. */
export async function runRounds<T extends string, M>(rounds: number, targets: readonly T[], runs: Record<T, M[]>, measure: (t: T) => Promise<M>): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    if (rounds > 1) log(`round ${round}/${rounds}`);
    for (const t of targets) {
      runs[t].push(await measure(t));
      await Bun.sleep(1000);
    }
  }
}

/** Print the table and write it to bench/results/`file`. */
export function writeTable(file: string, table: string): void {
  process.stdout.write(`\n${table}`);
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(join(ROOT, `bench/results/${file}`), table);
  log(`written to bench/results/${file}`);
}

/**
 * Run `body` for `target`; an error it throws is stored in m.error and
 * logged. The peers it hands to `own` are stopped afterwards in any case.
 */
export async function guarded(target: string, m: { error?: string }, body: (own: (p: Peer) => Peer) => Promise<void>): Promise<void> {
  const peers: Peer[] = [];
  try {
    await body((p) => {
      peers.push(p);
      return p;
    });
  } catch (err) {
    m.error = (err as Error).message;
    log(`${target}: FAILED: ${m.error}`);
  } finally {
    for (const p of peers) await stop(p);
  }
}
