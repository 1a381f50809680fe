import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { stringFormat } from "../src/access-log/formats.ts";
import { AccessLogWriter } from "../src/access-log/writer.ts";

/** Lines given as strings. */
const TEXT = stringFormat((s: string) => s);
import { tempDir } from "./support/plb.ts";
import { until } from "./support/until.ts";

test("lines wait in the buffer and go out together (within a second, or at once when 64 KiB wait); flushNow writes the rest", async () => {
  const path = join(tempDir(), "a.log");
  const w = new AccessLogWriter(path);
  w.line(TEXT, "one\n");
  w.line(TEXT, "two é\n");
  expect(readFileSync(path, "utf8")).toBe(""); // nothing written per line
  await until(() => readFileSync(path, "utf8") === "one\ntwo é\n", "the timed flush", 2500);
  const line = `${"x".repeat(99)}\n`;
  for (let i = 0; i < 1000; i++) w.line(TEXT, line); // 100 KB: flushed as it fills
  await until(() => readFileSync(path, "utf8").length > 60_000, "a flush of a full buffer", 2000);
  w.line(TEXT, "last\n");
  w.close();
  const text = readFileSync(path, "utf8");
  expect(text.split("\n").length).toBe(1004);
  expect(text.endsWith("last\n")).toBe(true);
});

test("a line larger than the buffer is written whole, in order", async () => {
  const path = join(tempDir(), "b.log");
  const w = new AccessLogWriter(path);
  w.line(TEXT, "a\n");
  const big = `${"y".repeat(100_000)}\n`;
  w.line(TEXT, big);
  w.line(TEXT, "b\n");
  await Bun.sleep(50);
  w.close();
  expect(readFileSync(path, "utf8")).toBe(`a\n${big}b\n`);
});

test("a full disk (/dev/full): lines are counted as dropped, nothing throws", async () => {
  const w = new AccessLogWriter("/dev/full");
  for (let i = 0; i < 10; i++) w.line(TEXT, "line\n");
  w.flushNow();
  expect(w.dropped).toBe(10);
  w.close();
});

test("a regular file is written from the event loop until a write is slow, then off it for a while; a device always off it", async () => {
  const path = join(tempDir(), "c.log");
  const w = new AccessLogWriter(path, -1); // every write counts as slow
  expect(w.offLoop).toBe(false);
  const line = `${"z".repeat(99)}\n`;
  for (let i = 0; i < 700; i++) w.line(TEXT, line); // past 64 KiB: the first batch is written now, synchronously
  expect(readFileSync(path, "utf8").length).toBeGreaterThan(60_000);
  expect(w.offLoop).toBe(true); // that write was "slow": the next go out asynchronously
  for (let i = 0; i < 700; i++) w.line(TEXT, line);
  await until(() => readFileSync(path, "utf8").length >= 130_000, "the asynchronous batch", 2000);
  w.close();
  expect(readFileSync(path, "utf8")).toBe(line.repeat(1400));
  const dev = new AccessLogWriter("/dev/full");
  expect(dev.offLoop).toBe(true);
  dev.close();
});
