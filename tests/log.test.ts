import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  LEVEL_NAMES,
  NUMERIC_LEVELS,
  logEnabled,
  logFd,
  logLevel,
  logFilePath,
  logger,
  parseLogLevel,
  reopenLogFile,
  setLogFile,
  setLogLevel,
} from "../src/log.ts";

const dir = mkdtempSync(join(tmpdir(), "plb-log-test-"));
let file = "";
let n = 0;

beforeEach(() => {
  file = join(dir, `log-${++n}.log`);
  setLogFile(file);
  setLogLevel("info");
});

afterAll(() => {
  setLogFile(undefined);
  setLogLevel("info");
  rmSync(dir, { recursive: true, force: true });
});

function lines(): string[] {
  return readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
}

/** The line without its timestamp (checked separately). */
function bodies(): string[] {
  return lines().map((l) => l.replace(/^\S+ /, ""));
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test("parseLogLevel accepts the four level names, any case and surrounding blanks", () => {
  expect(parseLogLevel("error")).toBe("error");
  expect(parseLogLevel("warn")).toBe("warn");
  expect(parseLogLevel("info")).toBe("info");
  expect(parseLogLevel("debug")).toBe("debug");
  expect(parseLogLevel(" DEBUG ")).toBe("debug");
  expect(parseLogLevel("Info")).toBe("info");
  expect(parseLogLevel("warning")).toBe("warn");
  expect(parseLogLevel("WARNING")).toBe("warn");
});

test("parseLogLevel maps PLB 0.3's numbers 0-4 (strings or numbers) to names", () => {
  expect([0, 1, 2, 3, 4].map((i) => parseLogLevel(i))).toEqual(["error", "warn", "info", "info", "debug"]);
  expect(["0", "1", "2", "3", "4"].map((i) => parseLogLevel(i))).toEqual(["error", "warn", "info", "info", "debug"]);
  expect(parseLogLevel(" 4 ")).toBe("debug");
  expect(NUMERIC_LEVELS).toEqual(["error", "warn", "info", "info", "debug"]);
  expect(LEVEL_NAMES).toEqual(["error", "warn", "info", "debug"]);
});

test("parseLogLevel returns undefined for anything else", () => {
  for (const bad of ["", " ", "5", "-1", "10", "04", "1.5", "verbose", "trace", "fatal", "err", "infos", "0x1"]) {
    expect([bad, parseLogLevel(bad)]).toEqual([bad, undefined]);
  }
  for (const bad of [5, -1, 1.5, NaN, 40]) expect([bad, parseLogLevel(bad)]).toEqual([bad, undefined]);
});

test("a line is written to the log file as `<ISO time> [level] [tag] message`", () => {
  const before = Date.now();
  logger("unit-format").warn("server went away");
  const after = Date.now();
  const all = lines();
  expect(all).toHaveLength(1);
  const [time, ...rest] = all[0].split(" ");
  expect(time).toMatch(ISO);
  const t = Date.parse(time);
  expect(t).toBeGreaterThanOrEqual(before - 1);
  expect(t).toBeLessThanOrEqual(after + 1);
  expect(rest.join(" ")).toBe("[warn] [unit-format] server went away");
});

test("each level is written with its own name and the untagged-style `log` call counts as info", () => {
  setLogLevel("debug");
  const l = logger("unit-levels");
  l.error("e");
  l.warn("w");
  l.info("i");
  l.debug("d");
  l.log("plain");
  expect(bodies()).toEqual([
    "[error] [unit-levels] e",
    "[warn] [unit-levels] w",
    "[info] [unit-levels] i",
    "[debug] [unit-levels] d",
    "[info] [unit-levels] plain",
  ]);
});

test("several arguments are joined with spaces, objects inspected, without colours", () => {
  logger("unit-args").info("count", 3, { a: 1, b: "x" }, true);
  expect(bodies()).toEqual(["[info] [unit-args] count 3 { a: 1, b: 'x' } true"]);
  expect(readFileSync(file, "utf8")).not.toContain("\u001b[");
});

test("lines below the level are not written", () => {
  setLogLevel("warn");
  const l = logger("unit-filter");
  l.debug("no-debug");
  l.info("no-info");
  l.warn("yes-warn");
  l.error("yes-error");
  expect(bodies()).toEqual(["[warn] [unit-filter] yes-warn", "[error] [unit-filter] yes-error"]);
});

test("setLogLevel raises the level of a logger created before the call", () => {
  setLogLevel("info");
  const early = logger("unit-early-up");
  early.debug("hidden");
  setLogLevel("debug");
  early.debug("shown");
  expect(bodies()).toEqual(["[debug] [unit-early-up] shown"]);
});

test("setLogLevel lowers the level of a logger created before the call", () => {
  setLogLevel("debug");
  const early = logger("unit-early-down");
  early.info("shown");
  setLogLevel("error");
  early.info("hidden");
  early.warn("hidden too");
  early.error("shown again");
  expect(bodies()).toEqual(["[info] [unit-early-down] shown", "[error] [unit-early-down] shown again"]);
});

test("a logger created after setLogLevel starts at the current level", () => {
  setLogLevel("error");
  const late = logger("unit-late");
  late.warn("hidden");
  late.error("shown");
  expect(bodies()).toEqual(["[error] [unit-late] shown"]);
});

test("logger returns one instance per tag", () => {
  expect(logger("unit-same")).toBe(logger("unit-same"));
  expect(logger("unit-same")).not.toBe(logger("unit-other"));
});

test("logLevel reports the level last set", () => {
  setLogLevel("warn");
  expect(logLevel()).toBe("warn");
  setLogLevel("debug");
  expect(logLevel()).toBe("debug");
});

test("logEnabled is true for the current level and more severe ones only", () => {
  setLogLevel("warn");
  expect([logEnabled("error"), logEnabled("warn"), logEnabled("info"), logEnabled("debug")]).toEqual([true, true, false, false]);
  setLogLevel("info");
  expect([logEnabled("error"), logEnabled("warn"), logEnabled("info"), logEnabled("debug")]).toEqual([true, true, true, false]);
  setLogLevel("debug");
  expect([logEnabled("error"), logEnabled("warn"), logEnabled("info"), logEnabled("debug")]).toEqual([true, true, true, true]);
  setLogLevel("error");
  expect([logEnabled("error"), logEnabled("warn"), logEnabled("info"), logEnabled("debug")]).toEqual([true, false, false, false]);
});

test("setLogFile appends to an existing file", () => {
  const path = join(dir, "existing.log");
  writeFileSync(path, "old line\n");
  setLogFile(path);
  logger("unit-append").info("new line");
  const text = readFileSync(path, "utf8");
  expect(text.startsWith("old line\n")).toBe(true);
  expect(text.split("\n").filter(Boolean)).toHaveLength(2);
  expect(text).toMatch(/\[info\] \[unit-append\] new line\n$/);
});

test("switching files sends later lines to the new file only", () => {
  const first = file;
  logger("unit-switch").info("one");
  const second = join(dir, "second.log");
  setLogFile(second);
  logger("unit-switch").info("two");
  expect(readFileSync(first, "utf8")).toMatch(/\] one\n$/);
  expect(readFileSync(first, "utf8")).not.toContain("two");
  expect(readFileSync(second, "utf8")).toMatch(/^\S+ \[info\] \[unit-switch\] two\n$/);
});

test("logFd is the opened file, and 2 (stderr) for undefined or \"-\"", () => {
  expect(logFd()).toBeGreaterThan(2);
  setLogFile("-");
  expect(logFd()).toBe(2);
  setLogFile(file);
  expect(logFd()).toBeGreaterThan(2);
  setLogFile(undefined);
  expect(logFd()).toBe(2);
});

describe("reopenLogFile (SIGUSR1, logrotate's postrotate)", () => {
  const text = (path: string) => readFileSync(path, "utf8");

  test("after the file was renamed, later lines go to a new file by the same name, earlier ones stayed in the renamed one", () => {
    logger("unit-reopen").info("before rotation");
    const before = logFd();
    renameSync(file, `${file}.1`);
    logger("unit-reopen").info("after rename, before reopen"); // still the renamed file
    expect(reopenLogFile()).toEqual({ ok: true, path: file });
    logger("unit-reopen").info("after reopen");
    expect(text(`${file}.1`)).toMatch(/\] before rotation\n.*\] after rename, before reopen\n$/);
    expect(text(`${file}.1`)).not.toContain("after reopen");
    const fresh = text(file).split("\n").filter(Boolean).map((l) => l.replace(/^\S+ /, ""));
    expect(fresh).toEqual([`[info] [log] reopened log file ${file}`, "[info] [unit-reopen] after reopen"]);
    expect(statSync(file).mode & 0o777).toBe(0o640 & ~process.umask());
    // the old descriptor is closed, not leaked
    expect(logFd()).not.toBe(before);
    let old = "";
    try {
      old = readlinkSync(`/proc/self/fd/${before}`);
    } catch {}
    expect(old).not.toBe(`${file}.1`);
  });

  test("the file is found through its directory, not its path: it follows a renamed directory (as after chroot)", () => {
    const a = join(dir, `dir-a-${n}`);
    const b = join(dir, `dir-b-${n}`);
    mkdirSync(a);
    setLogFile(join(a, "plb.log"));
    logger("unit-reopen-dir").info("one");
    renameSync(a, b); // the path <a>/plb.log no longer resolves
    renameSync(join(b, "plb.log"), join(b, "plb.log.1"));
    expect(reopenLogFile().ok).toBe(true);
    logger("unit-reopen-dir").info("two");
    expect(existsSync(a)).toBe(false);
    expect(text(join(b, "plb.log.1"))).toMatch(/\] one\n$/);
    expect(text(join(b, "plb.log"))).toMatch(/\] two\n$/);
  });

  test("a relative path is kept as the absolute one it named when set", () => {
    const cwd = process.cwd();
    const sub = join(dir, `rel-${n}`);
    mkdirSync(sub);
    process.chdir(sub);
    try {
      setLogFile("plb.log");
    } finally {
      process.chdir(cwd);
    }
    expect(logFilePath()).toBe(join(sub, "plb.log"));
    renameSync(join(sub, "plb.log"), join(sub, "old.log"));
    expect(reopenLogFile()).toEqual({ ok: true, path: join(sub, "plb.log") });
    expect(text(join(sub, "plb.log"))).toContain("reopened log file");
  });

  test("when the new file cannot be opened, logging goes on in the old one with a warning naming the file, the reason and the user", () => {
    const gone = join(dir, `gone-${n}`);
    mkdirSync(gone);
    setLogFile(join(gone, "plb.log"));
    const moved = join(dir, `moved-${n}.log`);
    renameSync(join(gone, "plb.log"), moved);
    rmdirSync(gone); // even root cannot create a file in a deleted directory
    const result = reopenLogFile();
    expect(result).toEqual({ ok: false, path: join(gone, "plb.log"), reason: "No such file or directory" });
    logger("unit-reopen-fail").info("still here");
    const lines = text(moved).split("\n").filter(Boolean).map((l) => l.replace(/^\S+ /, ""));
    // the user by name (from /etc/passwd here) and ids
    const ids = `(uid ${process.geteuid!()}, gid ${process.getegid!()})`;
    expect(lines[0]).toStartWith(`[warn] [log] cannot reopen log file ${join(gone, "plb.log")} as ${process.geteuid!() === 0 ? "root " : ""}`);
    expect(lines[0]).toMatch(/ as [a-z_][\w.-]* \(uid \d+, gid \d+\): /);
    expect(lines[0]).toContain(`${ids}: No such file or directory; still logging to the file opened before`);
    expect(lines[1]).toBe("[info] [unit-reopen-fail] still here");
    expect(existsSync(gone)).toBe(false);
  });

  test("logging to stderr: nothing to reopen, no error", () => {
    setLogFile("-");
    expect(reopenLogFile()).toEqual({ ok: false, path: undefined, reason: "logging to standard error" });
    expect(logFd()).toBe(2);
  });
});
