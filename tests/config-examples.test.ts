/**
 * Every configuration the project shows loads as it is: each TOML block of
 * the README (a block without a [[service]] is a fragment: it is tried
 * inside a minimal service), plb.toml.example, and the files in deploy/.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { configWarnings, loadConfig, parseConfig } from "../src/config/load.ts";

const ROOT = join(import.meta.dir, "..");
const MINIMAL = `[[service]]\nname = "fragment"\nlisten = ["127.0.0.1:1"]\n`;

function readmeBlocks(): string[] {
  const md = readFileSync(join(ROOT, "README.md"), "utf8");
  return [...md.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]);
}

function tomlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tomlFiles(p) : p.endsWith(".toml") ? [p] : [];
  });
}

describe("configurations shown to users", () => {
  const blocks = readmeBlocks();
  test("the README has TOML examples", () => expect(blocks.length).toBeGreaterThan(5));
  test.each(blocks.map((b, i) => [i, b] as const))("README block %d loads", (_i, block) => {
    const whole = block.includes("[[service]]");
    const text = whole ? block : /^\s*\[/.test(block) ? `${block}\n${MINIMAL}` : `${MINIMAL}${block}`;
    const c = parseConfig(text, "README.md");
    expect(c.services.length).toBeGreaterThan(0);
    // Shown as advice, so no warning either (a hidden route, an unused backend).
    expect(configWarnings(c)).toEqual([]);
  });
  test("plb.toml.example and every .toml under deploy/ load without a warning", () => {
    const files = [join(ROOT, "plb.toml.example"), ...tomlFiles(join(ROOT, "deploy"))];
    for (const f of files) expect({ f, warnings: configWarnings(loadConfig(f)) }).toEqual({ f, warnings: [] });
  });
});
