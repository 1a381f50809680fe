/** The pid file: atomic write, refusal while a plb owns it, careful removal. */
import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PlbError } from "../src/errors.ts";
import { removePidFile, writePidFile } from "../src/process/pidfile.ts";

const root = mkdtempSync(join(tmpdir(), "plb-pidfile-"));
const children: Bun.Subprocess[] = [];
let dir = "";
let file = "";
let n = 0;

beforeEach(() => {
  dir = join(root, `case${n++}`);
  mkdirSync(dir);
  file = join(dir, "plb.pid");
});

afterEach(() => {
  // Closes the kept directory descriptor of a file a test left behind.
  if (existsSync(file) && readFileSync(file, "utf8") === `${process.pid}\n`) removePidFile(file);
});

afterAll(() => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
});

function sleeper(argv0?: string): Bun.Subprocess {
  const child = Bun.spawn(["sleep", "30"], argv0 ? { argv0 } : {});
  children.push(child);
  return child;
}

function expectPidfileError(run: () => void, text: string): void {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(PlbError);
    expect((err as PlbError).code).toBe("PIDFILE");
    expect((err as PlbError).message).toContain(text);
    return;
  }
  throw new Error("expected a PIDFILE error");
}

describe("writePidFile", () => {
  test("writes our pid with mode 0644 whatever the umask, and leaves no temp file", () => {
    const old = process.umask(0o077);
    try {
      writePidFile(file);
    } finally {
      process.umask(old);
    }
    expect(readFileSync(file, "utf8")).toBe(`${process.pid}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir)).toEqual(["plb.pid"]);
  });

  test("refuses a file owned by a live process named plb", async () => {
    const other = sleeper("plb");
    writeFileSync(file, `${other.pid}\n`);
    expectPidfileError(() => writePidFile(file), `running plb process ${other.pid}`);
    expect(readFileSync(file, "utf8")).toBe(`${other.pid}\n`);
    expect(readdirSync(dir)).toEqual(["plb.pid"]);
  });

  test("refuses a file owned by a live process running our executable", () => {
    const other = Bun.spawn([process.execPath, "-e", "setTimeout(() => {}, 30000)"]);
    children.push(other);
    writeFileSync(file, `${other.pid}`);
    expectPidfileError(() => writePidFile(file), `process ${other.pid}`);
  });

  test("replaces a stale file from a dead process", async () => {
    const gone = Bun.spawn(["true"]);
    await gone.exited;
    writeFileSync(file, `${gone.pid}\n`);
    writePidFile(file);
    expect(readFileSync(file, "utf8")).toBe(`${process.pid}\n`);
  });

  test("replaces a file whose pid was reused by another program", () => {
    const other = sleeper();
    writeFileSync(file, `${other.pid}\n`);
    writePidFile(file);
    expect(readFileSync(file, "utf8")).toBe(`${process.pid}\n`);
  });

  test("replaces a file holding no pid", () => {
    writeFileSync(file, "garbage\n");
    writePidFile(file);
    expect(readFileSync(file, "utf8")).toBe(`${process.pid}\n`);
  });

  test("fails clearly when the directory does not exist", () => {
    expectPidfileError(() => writePidFile(join(dir, "missing", "plb.pid")), "No such file or directory");
  });
});

describe("removePidFile", () => {
  test("removes the file while it holds our pid", () => {
    writePidFile(file);
    expect(removePidFile(file)).toBe("removed");
    expect(existsSync(file)).toBe(false);
  });

  test("leaves a file that another process took over", () => {
    writePidFile(file);
    writeFileSync(file, "4242\n");
    expect(removePidFile(file)).toBe("not-ours");
    expect(readFileSync(file, "utf8")).toBe("4242\n");
  });

  test("reports a file that is already gone", () => {
    writePidFile(file);
    rmSync(file);
    expect(removePidFile(file)).toBe("missing");
  });

  test("still finds the file when its path no longer resolves (as after chroot)", () => {
    const inner = join(dir, "run");
    mkdirSync(inner);
    const path = join(inner, "plb.pid");
    writePidFile(path);
    renameSync(inner, join(dir, "moved"));
    expect(existsSync(path)).toBe(false);
    expect(removePidFile(path)).toBe("removed");
    expect(readdirSync(join(dir, "moved"))).toEqual([]);
  });
});
