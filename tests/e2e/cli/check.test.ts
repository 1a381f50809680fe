/**
 * `plb --check` does every check a start does short of binding, chroot,
 * dropping privileges and writing the pid file: TLS files read and parsed
 * (certificate and key must go together), error pages read, chroot_dir a
 * directory, user and group known. Every problem is reported at once with
 * its line, and a real start refuses the same files with the same message.
 * Real files, real openssl certificates, the real CLI in a child process.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compiledForNobody } from "../../support/for-nobody.ts";
import { BUN, CLI, tempDir } from "../../support/plb.ts";
import { freePort } from "../../support/ports.ts";

const isRoot = process.getuid?.() === 0;
const SETPRIV = "/usr/bin/setpriv";

interface Run {
  code: number | null;
  out: string;
  err: string;
}

function run(args: string[], prefix: string[] = [], program = [BUN, CLI]): Run {
  const r = Bun.spawnSync([...prefix, ...program, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: "/tmp" } });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
}

/** Every file of the tests lives here (readable by nobody, for the non-root run). */
let dir: string;
/** A certificate and its key, and a second pair. */
let cert: string;
let key: string;
let otherKey: string;
let page: string;

function openssl(name: string): void {
  const r = Bun.spawnSync(
    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=x", "-days", "1",
      "-keyout", join(dir, `${name}-key.pem`), "-out", join(dir, `${name}-cert.pem`)],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (r.exitCode !== 0) throw new Error(`openssl req failed: ${r.stderr.toString()}`);
  chmodSync(join(dir, `${name}-key.pem`), 0o644);
}

beforeAll(() => {
  dir = tempDir("plb-check-");
  chmodSync(dir, 0o755);
  openssl("a");
  openssl("b");
  cert = join(dir, "a-cert.pem");
  key = join(dir, "a-key.pem");
  otherKey = join(dir, "b-key.pem");
  page = join(dir, "503.html");
  writeFileSync(page, "<h1>busy</h1>\n");
  writeFileSync(join(dir, "garbage.pem"), "this is not PEM\n");
  writeFileSync(join(dir, "broken.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n");
  mkdirSync(join(dir, "jail"));
});

let configs = 0;
/** Writes a configuration; the http service "web" is on line 5, its tls on line 9, error_pages on line 10. */
function config(opts: { global?: string; tls?: string; pages?: string; port?: number }): string {
  const file = join(dir, `plb-${++configs}.toml`);
  const global = (opts.global ?? "# no privileges").split("\n");
  if (global.length > 4) throw new Error("at most 4 global lines");
  const lines = [
    ...global,
    ...Array(4 - global.length).fill(""),
    "[[service]]",
    'name = "web"',
    'protocol = "http"',
    `listen = ["127.0.0.1:${opts.port ?? 1}"]`,
    opts.tls ?? `tls = { cert = "${cert}", key = "${key}" }`,
    opts.pages ?? `error_pages = { 503 = "${page}" }`,
    'servers = ["127.0.0.1:1"]',
  ];
  writeFileSync(file, `${lines.join("\n")}\n`);
  chmodSync(file, 0o644);
  return file;
}

/** The diagnostic lines of a failed --check (the first one carries "plb: "). */
function problems(r: Run): string[] {
  return r.err.replace(/^plb: /, "").trimEnd().split("\n");
}

describe("plb --check", () => {
  test("a good configuration (TLS pair, error page, user, group, chroot_dir) is OK with exit 0", () => {
    const file = config({ global: `user = "nobody"\ngroup = "nogroup"\nchroot_dir = "${join(dir, "jail")}"` });
    const r = run(["--check", "--config", file]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toBe(`${file}: configuration OK: 1 service(s), 1 listen address(es), 1 server(s)\n`);
  });

  test("a missing TLS certificate is exit 1 naming file, line, service and key", () => {
    const missing = join(dir, "missing-cert.pem");
    const file = config({ tls: `tls = { cert = "${missing}", key = "${key}" }` });
    const r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(problems(r)).toEqual([`${file}:9: service "web": tls.cert: cannot read ${missing}: no such file (ENOENT)`]);
  });

  test("a missing TLS key is exit 1; the certificate is still checked", () => {
    const missing = join(dir, "missing-key.pem");
    let file = config({ tls: `tls = { cert = "${cert}", key = "${missing}" }` });
    let r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([`${file}:9: service "web": tls.key: cannot read ${missing}: no such file (ENOENT)`]);
    const garbage = join(dir, "garbage.pem");
    file = config({ tls: `tls = { cert = "${garbage}", key = "${missing}" }` });
    r = run(["--check", "--config", file]);
    expect(problems(r)).toEqual([
      `${file}:9: service "web": tls.cert: ${garbage} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`,
      `${file}:9: service "web": tls.key: cannot read ${missing}: no such file (ENOENT)`,
    ]);
  });

  test("garbage instead of PEM is exit 1, for the certificate and for the key", () => {
    const garbage = join(dir, "garbage.pem");
    const file = config({ tls: `tls = { cert = "${garbage}", key = "${garbage}" }` });
    const r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([
      `${file}:9: service "web": tls.cert: ${garbage} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`,
      `${file}:9: service "web": tls.key: ${garbage} is not a PEM private key (no "-----BEGIN … PRIVATE KEY-----" block)`,
    ]);
  });

  test("a PEM block that does not decode, and a certificate given as the key, are exit 1", () => {
    const broken = join(dir, "broken.pem");
    const file = config({ tls: `tls = { cert = "${broken}", key = "${cert}" }` });
    const r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([
      `${file}:9: service "web": tls.cert: ${broken}: its certificate is not valid PEM (bad base64 decode)`,
      `${file}:9: service "web": tls.key: ${cert} is not a PEM private key (no "-----BEGIN … PRIVATE KEY-----" block)`,
    ]);
  });

  test("the key of another certificate is exit 1: the key does not match", () => {
    const file = config({ tls: `tls = { cert = "${cert}", key = "${otherKey}" }` });
    const r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([`${file}:9: service "web": tls.key: key does not match the certificate in ${cert}`]);
  });

  test("TLS written as a [service.tls] table: the line of the key inside it", () => {
    const file = join(dir, "table.toml");
    writeFileSync(file, `[[service]]\nname = "web"\nprotocol = "http"\nlisten = ["127.0.0.1:1"]\nservers = ["127.0.0.1:1"]\n[service.tls]\ncert = "${cert}"\nkey = "${otherKey}"\n`);
    const r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([`${file}:8: service "web": tls.key: key does not match the certificate in ${cert}`]);
  });

  test("a missing error page is exit 1", () => {
    const missing = join(dir, "missing-502.html");
    const file = config({ pages: `error_pages = { 503 = "${page}", 502 = "${missing}" }` });
    const r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([`${file}:10: service "web": error_pages.502: cannot read ${missing}: no such file (ENOENT)`]);
  });

  test("a chroot_dir that does not exist, or is a file, is exit 1", () => {
    const missing = join(dir, "no-such-jail");
    let r = run(["--check", "--config", config({ global: `user = "nobody"\nchroot_dir = "${missing}"` })]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([expect.stringMatching(new RegExp(`:2: chroot_dir "${missing}" does not exist$`))]);
    r = run(["--check", "--config", config({ global: `user = "nobody"\nchroot_dir = "${page}"` })]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([expect.stringMatching(new RegExp(`:2: chroot_dir "${page}" is not a directory$`))]);
  });

  test("an unknown user is exit 1", () => {
    const file = config({ global: `user = "plb-no-such-user"` });
    const r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([`${file}:1: user "plb-no-such-user" not found in /etc/passwd`]);
  });

  test("an unknown group is exit 1", () => {
    const file = config({ global: `user = "nobody"\ngroup = "plb-no-such-group"` });
    const r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([`${file}:2: group "plb-no-such-group" not found in /etc/group`]);
  });

  test("chroot_dir without user, and user root, are refused as a start as root refuses them", () => {
    let r = run(["--check", "--config", config({ global: `chroot_dir = "${join(dir, "jail")}"` })]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([expect.stringMatching(/:1: "chroot_dir" needs "user" when started as root$/)]);
    r = run(["--check", "--config", config({ global: `user = "root"` })]);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([expect.stringMatching(/:1: user "root" is root \(uid 0\): choose an unprivileged user$/)]);
  });

  test("several problems at once are all reported, in line order", () => {
    const file = config({
      global: `user = "plb-no-such-user"\ngroup = "plb-no-such-group"\nchroot_dir = "${join(dir, "no-such-jail")}"`,
      tls: `tls = { cert = "${cert}", key = "${otherKey}" }`,
      pages: `error_pages = { 503 = "${join(dir, "missing.html")}" }`,
    });
    // a second service with its own problem, from line 12
    writeFileSync(file, `[[service]]\nname = "api"\nprotocol = "http"\nlisten = ["127.0.0.1:2"]\nservers = ["127.0.0.1:1"]\ntls = { cert = "${join(dir, "garbage.pem")}", key = "${key}" }\n`, { flag: "a" });
    const r = run(["--check", "--config", file]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(problems(r)).toEqual([
      `${file}:1: user "plb-no-such-user" not found in /etc/passwd`,
      `${file}:2: group "plb-no-such-group" not found in /etc/group`,
      `${file}:3: chroot_dir "${join(dir, "no-such-jail")}" does not exist`,
      `${file}:9: service "web": tls.key: key does not match the certificate in ${cert}`,
      `${file}:10: service "web": error_pages.503: cannot read ${join(dir, "missing.html")}: no such file (ENOENT)`,
      `${file}:17: service "api": tls.cert: ${join(dir, "garbage.pem")} is not a PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`,
    ]);
  });

  test.skipIf(!isRoot || !existsSync(SETPRIV))("run by a user other than root, user and group must still exist", () => {
    const nobody = [SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups"];
    // plb compiled outside the checkout: nobody may not be able to enter it
    const plb = [compiledForNobody(CLI, join(CLI, "..", "command.ts"))];
    const good = config({ global: `user = "nobody"\ngroup = "nogroup"\nchroot_dir = "${join(dir, "jail")}"` });
    const ok = run(["--check", "--config", good], nobody, plb);
    expect(ok.err).toBe("");
    expect(ok.code).toBe(0);
    const bad = config({ global: `user = "plb-no-such-user"\ngroup = "plb-no-such-group"` });
    const r = run(["--check", "--config", bad], nobody, plb);
    expect(r.code).toBe(1);
    expect(problems(r)).toEqual([
      `${bad}:1: user "plb-no-such-user" not found in /etc/passwd`,
      `${bad}:2: group "plb-no-such-group" not found in /etc/group`,
    ]);
  });
});

describe("a real start refuses what --check refuses", () => {
  test("a key that does not match its certificate: exit 1 with the same message, before binding", async () => {
    const port = await freePort();
    const file = config({ tls: `tls = { cert = "${cert}", key = "${otherKey}" }`, port });
    const check = run(["--check", "--config", file]);
    const pidfile = join(dir, "mismatch.pid");
    const start = run(["--config", file, "--logfile", "-", "--pidfile", pidfile]);
    expect(start.code).toBe(1);
    const message = `plb: ${file}:9: service "web": tls.key: key does not match the certificate in ${cert}\n`;
    expect(check.err).toBe(message);
    expect(start.err).toBe(message);
    expect(existsSync(pidfile)).toBe(false);
  });

  test.skipIf(!isRoot)("as root, a chroot_dir that does not exist: exit 1 before binding, with the --check message", async () => {
    const port = await freePort();
    const file = config({ global: `user = "nobody"\nchroot_dir = "${join(dir, "no-such-jail")}"`, port });
    const check = run(["--check", "--config", file]);
    const start = run(["--config", file, "--logfile", "-", "--pidfile", join(dir, "chroot.pid")]);
    expect(start.code).toBe(1);
    expect(start.err).toBe(check.err);
    expect(start.err).toBe(`plb: ${file}:2: chroot_dir "${join(dir, "no-such-jail")}" does not exist\n`);
    expect(start.err).not.toContain("listening");
  });
});
