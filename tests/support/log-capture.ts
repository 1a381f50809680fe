/**
 * Capture plb's log in a test file: each test gets a fresh log file at
 * level debug; `logLines()` returns its lines without the timestamp.
 * Call once at the top level of a test file.
 */
import { afterAll, beforeEach } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setLogFile, setLogLevel } from "../../src/log.ts";

export function captureLogs(name: string): { dir: string; logLines(): string[] } {
  const dir = mkdtempSync(join(tmpdir(), `plb-${name}-test-`));
  let logPath = "";
  let n = 0;
  beforeEach(() => {
    logPath = join(dir, `${name}-${++n}.log`);
    setLogFile(logPath);
    setLogLevel("debug");
  });
  afterAll(() => {
    setLogFile(undefined);
    setLogLevel("info");
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    logLines: () =>
      readFileSync(logPath, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.replace(/^\S+ /, "")),
  };
}
