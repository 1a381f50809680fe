import { expect, test } from "bun:test";
import { chmodSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileErrorReason } from "../src/errors.ts";
import { keepDirectories, readConfigured } from "../src/process/files.ts";
import { tempDir } from "./support/plb.ts";

test("readConfigured reads a configured file, and errors carry a node:fs code that fileErrorReason names", () => {
  const dir = tempDir();
  const f = join(dir, "page.html");
  writeFileSync(f, "hello");
  expect(readConfigured(f).toString()).toBe("hello");
  let err: unknown;
  try {
    readConfigured(join(dir, "missing.html"));
  } catch (e) {
    err = e;
  }
  expect(fileErrorReason(err)).toBe("no such file (ENOENT)");
});

test("keepDirectories keeps each directory once, whatever the number of files in it", () => {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  // One descriptor per kept directory (nothing else opens any during these synchronous calls).
  const open = () => readdirSync("/proc/self/fd").length;
  const before = open();
  keepDirectories([join(dir, "a.pem"), join(dir, "b.pem"), join(dir, "c.toml")]);
  expect(open()).toBe(before + 1);
  keepDirectories([join(dir, "d.pem")]);
  expect(open()).toBe(before + 1);
});
