import { describe, expect, test } from "bun:test";
import { formatDuration, parseDuration } from "../src/config/duration.ts";

describe("parseDuration", () => {
  test.each([
    [2, 2000],
    [0.5, 500],
    [0, 0],
    [10, 10_000],
    [0.0014, 1],
    ["500ms", 500],
    ["2s", 2000],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["1d", 86_400_000],
    ["2", 2000],
    ["0.25", 250],
    ["1.5s", 1500],
    [".5s", 500],
    ["2 s", 2000],
    [" 2s ", 2000],
    ["2S", 2000],
    ["90s", 90_000],
  ] as [unknown, number][])("%p → %p ms", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  test("results are whole milliseconds", () => {
    expect(parseDuration("0.4ms")).toBe(0);
    expect(parseDuration("1.6ms")).toBe(2);
    expect(Number.isInteger(parseDuration(1.23456))).toBe(true);
  });

  test.each([
    [-1, "must not be negative, got -1"],
    [-0.5, "must not be negative, got -0.5"],
    ["-2s", 'must not be negative, got "-2s"'],
    [-3n, "must not be negative"],
    [Number.NaN, "must be a duration"],
    [Infinity, "must be finite, got inf"],
    ["abc", 'must be a duration (seconds like 2 or 0.5, or a string like "500ms", "2s", "1m", "1h"), got string "abc"'],
    ["2x", 'got string "2x"'],
    ["", 'got string ""'],
    ["1e3", 'got string "1e3"'],
    ["2s5", 'got string "2s5"'],
    ["s", 'got string "s"'],
    [true, "got boolean true"],
    [null, "must be a duration"],
    [[1], "got array"],
    [{ s: 1 }, "got table"],
    [99999999999999999999n, "is too large"],
    ["9".repeat(400), "is too large"],
  ] as [unknown, string][])("rejects %p", (input, fragment) => {
    const result = parseDuration(input);
    expect(typeof result).toBe("string");
    expect(result as string).toContain(fragment);
  });
});

describe("formatDuration", () => {
  test.each([
    [500, "500ms"],
    [2000, "2s"],
    [1500, "1.5s"],
    [60_000, "1m"],
    [90_000, "90s"],
    [3_600_000, "1h"],
    [86_400_000 * 24, "24d"],
    [0, "0ms"],
  ])("%p → %p", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test("round-trips through parseDuration", () => {
    for (const ms of [1, 250, 1500, 2000, 90_000, 3_600_000]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
