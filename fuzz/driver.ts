/**
 * The one fuzzing loop. Each iteration takes a fresh valid input from the
 * target's generator (one in five) or mutates a corpus entry (the target's
 * structure-aware mutations or the shared byte-level ones), then runs the
 * target's check: the parser against its oracles and invariants, throwing
 * on a violation and otherwise naming the behaviour reached ("done",
 * "error: <reason>"). An input reaching a behaviour not seen before joins
 * the corpus: a cheap coverage signal that steers mutation toward inputs
 * that got somewhere new. Every `allocEvery` inputs (and an input of 16 KiB
 * or more as often, each check costing two full collections) the parser
 * runs once more between heap readings
 * (`measure`): what it allocated, and what it returned, must stay within
 * c·N of the input's N bytes. A failure is shrunk (fuzz/shrink.ts)
 * and reported with the seed that reproduces it.
 */
import { mutate } from "./mutate.ts";
import { chance, hashBytes, int, latin1, rng, type Rng } from "./rng.ts";
import { shrink } from "./shrink.ts";

/** What a check reached: a result kind and, for errors, a reason (digits in it folded to "#"). */
export interface Behaviour {
  kind: string;
  reason?: string;
}

export interface Target {
  readonly name: string;
  /** A valid input built from the format's grammar. */
  generate(r: Rng): Uint8Array;
  /** Structure-aware mutations of the format (optional; byte-level ones are always used too). */
  mutate?(input: Uint8Array, r: Rng): Uint8Array;
  /** Tokens of the format for the byte-level inserts. */
  readonly dict: readonly string[];
  readonly binary: boolean;
  /** Largest input mutations may make (huge-length inputs go up to it). */
  readonly maxLen: number;
  /** Parse `input` and check every oracle; throws on a violation. Deterministic in `input`. */
  check(input: Uint8Array): Behaviour;
  /** Only the parser (for the allocation check): what it returns is kept alive while the heap is read. */
  run(input: Uint8Array): unknown;
}

export interface Failure {
  target: string;
  seed: number;
  iteration: number;
  message: string;
  input: Uint8Array;
  minimized: Uint8Array;
}

export interface Stats {
  target: string;
  seed: number;
  inputs: number;
  kinds: Record<string, number>;
  /** Distinct error reasons reached, with counts. */
  reasons: Map<string, number>;
  ms: number;
  failures: Failure[];
  corpus: number;
  /** Largest heap growth per input byte seen in the allocation checks, and the checks made. */
  allocPerByte: number;
  allocChecks: number;
}

export interface RunOptions {
  iterations: number;
  seed: number;
  /** Stop a target after this many failures (default 3). */
  maxFailures?: number;
  /** Allocation check every this many inputs (default 2000; 0: never). */
  allocEvery?: number;
  /** Called every 10% of the run. */
  progress?: (done: number) => void;
}

/** Heap growth allowed for an input of n bytes: 64 bytes per input byte (field objects, strings), plus 1 MiB of noise. */
export const allocLimit = (n: number): number => 64 * n + (1 << 20);
/** Size allowed for what a parser returns (as JSON) for n bytes. */
export const resultLimit = (n: number): number => 24 * n + 4096;

const CORPUS_MAX = 1024;

/** Per-target seed: the same whether the target runs alone or with the others. */
export function targetSeed(seed: number, name: string): number {
  return (hashBytes(latin1(name)) ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
}

export function behaviourKey(b: Behaviour): string {
  return b.reason === undefined ? b.kind : `${b.kind}: ${b.reason.replace(/\d+/g, "#")}`;
}

const failureClass = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).split("\n")[0].replace(/\d+/g, "#").slice(0, 120);

const json = (v: unknown): string => JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? x.length : typeof x === "bigint" ? String(x) : x)) ?? "";

/**
 * One allocation check: heap growth and result size for one run of the
 * parser. JSC's heap size moves only at a collection or a large
 * allocation, so the growth is the larger of the reading just after the run
 * (large allocations, kept or not) and the one after a full collection with
 * the result still alive (what the parser keeps or returns).
 */
export function measure(t: Target, input: Uint8Array): { grew: number; size: number } {
  Bun.gc(true);
  const before = process.memoryUsage().heapUsed;
  const result = t.run(input);
  const just = process.memoryUsage().heapUsed;
  Bun.gc(true);
  const kept = process.memoryUsage().heapUsed;
  return { grew: Math.max(just, kept) - before, size: json(result).length };
}

export function fuzz(t: Target, opts: RunOptions): Stats {
  const seed = targetSeed(opts.seed, t.name);
  const r = rng(seed);
  const maxFailures = opts.maxFailures ?? 3;
  const allocEvery = opts.allocEvery ?? 2000;
  const dict = t.dict.map(latin1);
  const corpus: Uint8Array[] = [];
  for (let i = 0; i < 16; i++) corpus.push(t.generate(r));
  const ctx = { dict, binary: t.binary, maxLen: t.maxLen, other: () => corpus[int(r, corpus.length)] };
  const stats: Stats = { target: t.name, seed, inputs: 0, kinds: {}, reasons: new Map(), ms: 0, failures: [], corpus: 0, allocPerByte: 0, allocChecks: 0 };
  const seen = new Set<string>();
  const classes = new Set<string>();
  const started = performance.now();
  const tenth = Math.max(1, Math.floor(opts.iterations / 10));
  let lastLarge = -Infinity;

  /** Record a failure of a new class, shrunk with `still` (each call of which may cost two collections: `budget`). */
  const fail = (iteration: number, input: Uint8Array, e: unknown, still: (b: Uint8Array) => boolean, budget = 4000) => {
    const cls = failureClass(e);
    if (classes.has(cls)) return;
    classes.add(cls);
    stats.failures.push({ target: t.name, seed: opts.seed, iteration, message: e instanceof Error ? e.message : String(e), input, minimized: shrink(input, still, budget) });
  };

  for (let n = 0; n < opts.iterations && stats.failures.length < maxFailures; n++) {
    let input: Uint8Array;
    if (chance(r, 0.2)) input = t.generate(r);
    else {
      const base = corpus[int(r, corpus.length)];
      input = t.mutate !== undefined && chance(r, 0.4) ? t.mutate(base, r) : mutate(base, r, ctx);
      if (input.length > t.maxLen) input = input.slice(0, t.maxLen);
    }
    stats.inputs++;
    let b: Behaviour;
    try {
      b = t.check(input);
    } catch (e) {
      const cls = failureClass(e);
      fail(n, input, e, (x) => {
        try {
          t.check(x);
          return false;
        } catch (e2) {
          return failureClass(e2) === cls;
        }
      });
      continue;
    }
    stats.kinds[b.kind] = (stats.kinds[b.kind] ?? 0) + 1;
    const key = behaviourKey(b);
    if (b.reason !== undefined) stats.reasons.set(key, (stats.reasons.get(key) ?? 0) + 1);
    if (!seen.has(key)) {
      seen.add(key);
      if (corpus.length < CORPUS_MAX) corpus.push(input);
      else corpus[int(r, CORPUS_MAX)] = input;
    } else if (b.kind === "done" && chance(r, 0.001)) corpus[int(r, corpus.length)] = input;

    if (allocEvery > 0 && (n % allocEvery === allocEvery - 1 || (input.length >= 16384 && n - lastLarge >= allocEvery))) {
      if (input.length >= 16384) lastLarge = n;
      const m = measure(t, input);
      stats.allocChecks++;
      stats.allocPerByte = Math.max(stats.allocPerByte, m.grew / Math.max(1, input.length));
      if (m.grew > allocLimit(input.length) || m.size > resultLimit(input.length)) {
        const e = new Error(`allocation: ${m.grew} bytes of heap and a result of ${m.size} bytes for an input of ${input.length} bytes`);
        fail(n, input, e, (x) => {
          const again = measure(t, x);
          return again.grew > allocLimit(x.length) || again.size > resultLimit(x.length);
        }, 200);
      }
    }
    if (opts.progress && (n + 1) % tenth === 0) opts.progress(n + 1);
  }
  stats.ms = performance.now() - started;
  stats.corpus = corpus.length;
  return stats;
}

/** Throw unless `cond`: the oracles' one assertion. */
export function ensure(cond: unknown, what: string | (() => string)): asserts cond {
  if (!cond) throw new Error(typeof what === "string" ? what : what());
}

/** Deep equality of plain data (objects, arrays, typed arrays, primitives). */
export function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

/**
 * The input as a view into a larger buffer (junk before and after it), as a
 * parser sees the rest of a socket read after an earlier message: results
 * must not depend on where the bytes sit. `at` is where the input starts.
 */
export function view(input: Uint8Array): { buf: Uint8Array; at: number; view: Uint8Array } {
  const at = 1 + (input.length % 13);
  const buf = new Uint8Array(at + input.length + 5).fill(0x0a);
  buf.set(input, at);
  return { buf, at, view: buf.subarray(at, at + input.length) };
}

/** Short printable form of a value for messages. */
export const show = (v: unknown): string => json(v).slice(0, 400);
