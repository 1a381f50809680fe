import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AccessLogWriter } from "../src/access-log/writer.ts";
import { tempDir } from "./support/plb.ts";
import { until } from "./support/until.ts";

test("lines wait in the buffer and go out together (within a second, or at once when 64 KiB wait); flushNow writes the rest", async () => {
  const path = join(tempDir(), "a.log");
  const w = new AccessLogWriter(path);
  w.add("one\n");
  w.add("two é\n");
  expect(readFileSync(path, "utf8")).toBe(""); // nothing written per line
  await until(() => readFileSync(path, "utf8") === "one\ntwo é\n", "the timed flush", 2500);
  const line = `${"x".repeat(99)}\n`;
  for (let i = 0; i < 1000; i++) w.add(line); // 100 KB: flushed as it fills
  await until(() => readFileSync(path, "utf8").length > 60_000, "a flush of a full buffer", 2000);
  w.add("last\n");
  w.close();
  const text = readFileSync(path, "utf8");
  expect(text.split("\n").length).toBe(1004);
  expect(text.endsWith("last\n")).toBe(true);
});

test("a line larger than the buffer is written whole, in order", async () => {
  const path = join(tempDir(), "b.log");
  const w = new AccessLogWriter(path);
  w.add("a\n");
  const big = `${"y".repeat(100_000)}\n`;
  w.add(big);
  w.add("b\n");
  await Bun.sleep(50);
  w.close();
  expect(readFileSync(path, "utf8")).toBe(`a\n${big}b\n`);
});

test("a full disk (/dev/full): lines are counted as dropped, nothing throws", async () => {
  const w = new AccessLogWriter("/dev/full");
  for (let i = 0; i < 10; i++) w.add("line\n");
  w.flushNow();
  expect(w.dropped).toBe(10);
  w.close();
});
