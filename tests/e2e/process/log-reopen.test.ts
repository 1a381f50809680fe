/**
 * SIGUSR1 reopens the log file (logrotate's postrotate): a real plb with
 * --logfile, its file moved away, then SIGUSR1; also as nobody inside a
 * chroot, where the path no longer resolves and the user may not create
 * files; and the shipped deploy/logrotate/plb run by the real logrotate.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { request } from "../../support/backends.ts";
import { BUN, CLI, ROOT, tempDir, writeConfig } from "../../support/plb.ts";
import { freePort } from "../../support/ports.ts";

const isRoot = process.getuid?.() === 0;
const LOGROTATE = "/usr/sbin/logrotate";
const running: Bun.Subprocess[] = [];
afterAll(() => {
  for (const p of running) p.kill("SIGKILL");
});

const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : "");

/** Resolves once `path` holds a line matching `re`. */
async function waitForLine(path: string, re: RegExp, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = read(path).split("\n").find((l) => re.test(l));
    if (line !== undefined) return line;
    if (Date.now() > deadline) throw new Error(`no line matching ${re} in ${path}:\n${read(path)}`);
    await Bun.sleep(20);
  }
}

interface Run {
  proc: Bun.Subprocess;
  port: number;
  log: string;
  pidfile: string;
}

/** plb with `--logfile <dir>/plb.log` in front of a dead server (each client gets a log line), `extra` globals first. */
async function startLogging(dir: string, extra = ""): Promise<Run> {
  const port = await freePort();
  const dead = await freePort();
  const config = writeConfig(`${extra}
[[service]]
name = "rot"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${dead}"]
`);
  const log = join(dir, "plb.log");
  const pidfile = join(tempDir(), "plb.pid");
  const proc = Bun.spawn([BUN, CLI, "--config", config, "--logfile", log, "--pidfile", pidfile, "--loglevel", "debug"], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  running.push(proc);
  await Promise.race([
    waitForLine(log, /ready \(pid/, 15_000),
    proc.exited.then(async (code) => {
      throw new Error(`plb exited with ${code}: ${await new Response(proc.stderr).text()}\n${read(log)}`);
    }),
  ]);
  return { proc, port, log, pidfile };
}

/** One client: plb logs that no server is available for it. */
async function client(run: Run): Promise<void> {
  await request(run.port);
}

async function stop(run: Run): Promise<void> {
  run.proc.kill("SIGTERM");
  expect(await run.proc.exited).toBe(0);
}

const NO_SERVER = /no server available for 127\.0\.0\.1/;
const count = (text: string, re: RegExp) => text.split("\n").filter((l) => re.test(l)).length;

test("mv the log file away, SIGUSR1: the new file gets the new lines, the moved one kept the old ones", async () => {
  const dir = tempDir();
  const run = await startLogging(dir);
  await client(run);
  await waitForLine(run.log, NO_SERVER);
  renameSync(run.log, `${run.log}.1`);
  run.proc.kill("SIGUSR1");
  await waitForLine(run.log, /\[info\] \[log\] reopened log file /);
  await client(run);
  await waitForLine(run.log, NO_SERVER);
  await stop(run);

  const old = read(`${run.log}.1`);
  const fresh = read(run.log);
  expect(old).toContain("ready (pid");
  expect(count(old, NO_SERVER)).toBe(1);
  expect(old.trimEnd().split("\n").at(-1)).toContain("[info] [signal] SIGUSR1: reopening the log file");
  expect(fresh.split("\n")[0]).toMatch(new RegExp(`\\[info\\] \\[log\\] reopened log file ${run.log}$`));
  expect(count(fresh, NO_SERVER)).toBe(1);
  expect(fresh).toContain("[main] stopped");
  expect(fresh).not.toContain("ready (pid");
});

test.skipIf(!isRoot)("as nobody inside a chroot: SIGUSR1 creates the new file through the kept directory", async () => {
  const root = tempDir("plb-chroot-");
  chmodSync(root, 0o755);
  const dir = tempDir();
  chownSync(dir, 65534, 65534); // nobody may create the new file here
  const run = await startLogging(dir, `user = "nobody"\nchroot_dir = "${root}"`);
  await waitForLine(run.log, /running as nobody/);
  renameSync(run.log, `${run.log}.1`);
  run.proc.kill("SIGUSR1");
  await waitForLine(run.log, /reopened log file /);
  await client(run);
  await waitForLine(run.log, NO_SERVER);
  await stop(run);
  expect(read(`${run.log}.1`)).toContain("running as nobody (65534:65534), chroot");
  expect(statSync(run.log).uid).toBe(65534); // created by plb after the drop
  expect(read(run.log)).toContain("[main] stopped");
});

test.skipIf(!isRoot)("as nobody, when the new file cannot be created: a warning naming file, reason and user, and logging goes on in the old file", async () => {
  const root = tempDir("plb-chroot-");
  chmodSync(root, 0o755);
  const dir = tempDir();
  chmodSync(dir, 0o755); // root's: nobody can search it, not create in it
  const run = await startLogging(dir, `user = "nobody"\nchroot_dir = "${root}"`);
  const moved = `${run.log}.1`;
  renameSync(run.log, moved);
  run.proc.kill("SIGUSR1");
  const warning = await waitForLine(moved, /cannot reopen/);
  expect(warning).toContain(
    `[warn] [log] cannot reopen log file ${run.log} as nobody (uid 65534, gid 65534): Permission denied; still logging to the file opened before`,
  );
  await client(run);
  await waitForLine(moved, NO_SERVER);
  await stop(run);
  expect(existsSync(run.log)).toBe(false);
  expect(read(moved)).toContain("[main] stopped");
});

/** deploy/logrotate/plb pointed at `dir` and `pidfile`, for nobody. */
function shippedLogrotate(dir: string, pidfile: string): string {
  const shipped = readFileSync(join(ROOT, "deploy", "logrotate", "plb"), "utf8");
  expect(shipped).toContain("/var/log/plb/*.log {");
  expect(shipped.match(/^\s*create 0640 plb adm$/gm)).toHaveLength(1);
  expect(shipped.match(/\/var\/run\/plb\.pid/g)?.length).toBe(2);
  const conf = join(tempDir(), "plb.logrotate");
  writeFileSync(
    conf,
    shipped
      .replace("/var/log/plb/*.log {", `${dir}/*.log {`)
      .replaceAll("/var/run/plb.pid", pidfile)
      .replace("create 0640 plb adm", "create 0640 nobody nogroup"),
  );
  chmodSync(conf, 0o644); // logrotate refuses a configuration others may write
  return conf;
}

function logrotate(...args: string[]): { code: number; out: string } {
  const r = Bun.spawnSync([LOGROTATE, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: `${r.stdout}${r.stderr}` };
}

test.skipIf(!isRoot)("the shipped logrotate file: dry run clean, then two real rotations of a chrooted plb running as nobody", async () => {
  expect(existsSync(LOGROTATE)).toBe(true); // tests/install-peers.sh installs logrotate
  const root = tempDir("plb-chroot-");
  chmodSync(root, 0o755);
  const dir = tempDir();
  chmodSync(dir, 0o755); // root's, as /var/log/plb: `create` makes the file nobody writes to
  const run = await startLogging(dir, `user = "nobody"\nchroot_dir = "${root}"`);
  const conf = shippedLogrotate(dir, run.pidfile);
  const state = join(tempDir(), "logrotate.state");

  const dry = logrotate("-d", "-s", state, conf);
  expect(dry.code).toBe(0);
  expect(dry.out).not.toMatch(/error/i);
  expect(dry.out).toContain(`considering log ${dir}/plb.log`);

  await client(run);
  await waitForLine(run.log, NO_SERVER);
  const first = logrotate("-f", "-s", state, conf);
  expect(first).toEqual({ code: 0, out: "" });
  await waitForLine(run.log, /reopened log file /);
  expect(statSync(run.log).uid).toBe(65534);
  expect(statSync(run.log).mode & 0o777).toBe(0o640);
  await client(run);
  await waitForLine(run.log, NO_SERVER);

  const second = logrotate("-f", "-s", state, conf);
  expect(second).toEqual({ code: 0, out: "" });
  await waitForLine(run.log, /reopened log file /);
  await stop(run);

  // plb.log.2.gz: the start; plb.log.1 (delaycompress): between the rotations; plb.log: since
  const oldest = gunzipSync(readFileSync(`${run.log}.2.gz`)).toString();
  const middle = read(`${run.log}.1`);
  const newest = read(run.log);
  expect(oldest).toContain("ready (pid");
  expect(count(oldest, NO_SERVER)).toBe(1);
  expect(oldest.trimEnd().split("\n").at(-1)).toContain("SIGUSR1: reopening the log file");
  expect(middle.split("\n")[0]).toContain("reopened log file");
  expect(count(middle, NO_SERVER)).toBe(1);
  expect(middle).not.toContain("ready (pid");
  expect(newest.split("\n")[0]).toContain("reopened log file");
  expect(count(newest, NO_SERVER)).toBe(0);
  expect(newest).toContain("[main] stopped");
  expect(newest).not.toContain("cannot reopen");
});
