/**
 * No import cycles in src/ (type-only imports included): the core
 * (service, scheduler, state, balancers, admission) depends on small
 * interfaces that protocols implement and never imports a protocol module;
 * main/prepare look protocols and algorithms up and hand them in.
 */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { PROTOCOL_NAMES } from "../src/protocol-names.ts";
import { ROOT } from "./support/plb.ts";

const SRC = join(ROOT, "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** Relative imports of a file (static, dynamic and `export … from`), resolved to files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"|import\(\s*"(\.[^"]+)"\s*\)/g)) {
    out.push(resolve(dirname(file), m[1] ?? m[2]));
  }
  return out;
}

function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, 1);
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 1) found.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  return found;
}

test("src/ has no import cycle", () => {
  const graph = new Map(files(SRC).map((f) => [f, importsOf(f).filter((i) => i.startsWith(SRC))]));
  const found = cycles(graph).map((c) => c.map((f) => relative(SRC, f)).join(" → "));
  expect(found).toEqual([]);
});

test("the core imports no protocol module", () => {
  const core = ["service.ts", "scheduler.ts", "discovery.ts", "admission.ts", "protocol.ts", "servers", "balance"].map((p) => join(SRC, p));
  const protocols = [...PROTOCOL_NAMES, "relay"].map((p) => join(SRC, p));
  for (const f of files(SRC).filter((f) => core.some((c) => f === c || f.startsWith(`${c}/`)))) {
    const bad = importsOf(f).filter((i) => protocols.some((p) => i.startsWith(`${p}/`)) || i.endsWith("/protocols.ts"));
    expect(bad.map((b) => relative(SRC, b)), relative(SRC, f)).toEqual([]);
  }
});

test("the cycle finder finds a cycle", () => {
  const g = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  expect(cycles(g)).toEqual([["a", "b", "c", "a"]]);
});
