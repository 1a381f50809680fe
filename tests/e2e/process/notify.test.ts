/**
 * systemd notify end to end: a real plb started with NOTIFY_SOCKET set, and
 * Debian's python3 listening on that unix datagram socket in systemd's
 * place (it also checks, the moment READY=1 arrives, that plb's port
 * accepts a connection, and reports the sender's pid and uid as systemd's
 * NotifyAccess= sees them).
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { backend } from "../../support/backends.ts";
import { notifyListener, type NotifyListener } from "../../support/notify-listener.ts";
import { BUN, CLI, startPlb, startPlbFile, tempDir, writeConfig } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";
import { freePort } from "../../support/ports.ts";

const isRoot = process.getuid?.() === 0;
const listeners: NotifyListener[] = [];
const daemons: number[] = [];
afterAll(() => {
  for (const l of listeners) l.close();
  for (const pid of daemons) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
});

async function listen(opts: { abstract?: boolean; probePort?: number }): Promise<NotifyListener> {
  const l = await notifyListener(opts);
  listeners.push(l);
  return l;
}

function toml(port: number, server: number, globals = ""): string {
  return `${globals}
[[service]]
name = "n"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${server}"]
`;
}

/** Nothing more arrives within `ms`. */
async function silent(l: NotifyListener, ms = 500): Promise<boolean> {
  return l.next(ms).then(
    () => false,
    () => true,
  );
}

for (const abstract of [false, true]) {
  test(`${abstract ? "abstract @name" : "socket path"}: READY=1 once the port accepts, from plb's own pid; STOPPING=1 on SIGTERM, in that order, nothing else`, async () => {
    const a = backend({ name: "A" });
    const port = await freePort();
    const l = await listen({ abstract, probePort: port });
    const plb = await startPlb(toml(port, a.port), [], { env: { NOTIFY_SOCKET: l.socket } });
    try {
      const ready = await l.next();
      expect(ready.text).toBe("READY=1\nSTATUS=serving 1 service(s)");
      expect(ready.accepted).toBe(true); // the listener was accepting when READY=1 arrived
      expect(ready.pid).toBe(plb.pid); // NotifyAccess=main accepts it
      expect(await plb.stop()).toBe(0);
      const stopping = await l.next();
      expect(stopping.text).toBe("STOPPING=1");
      expect(stopping.pid).toBe(plb.pid);
      expect(stopping.monoUsec).toBeGreaterThan(ready.monoUsec);
      expect(await silent(l)).toBe(true);
      expect(plb.log()).not.toContain("[warn] [notify]");
    } finally {
      await plb.stop();
      a.stop();
    }
  });
}

test.skipIf(!isRoot)("chrooted and running as nobody: READY=1 and STOPPING=1 still reach a socket path (connected before the chroot)", async () => {
  const root = tempDir("plb-chroot-");
  chmodSync(root, 0o755);
  const a = backend({ name: "A" });
  const port = await freePort();
  const l = await listen({ probePort: port });
  const plb = await startPlb(toml(port, a.port, `user = "nobody"\nchroot_dir = "${root}"`), [], { env: { NOTIFY_SOCKET: l.socket } });
  try {
    await plb.waitForLog(/running as nobody/);
    const ready = await l.next();
    expect(ready.text).toBe("READY=1\nSTATUS=serving 1 service(s)");
    expect([ready.pid, ready.uid, ready.gid]).toEqual([plb.pid, 65534, 65534]); // sent after the drop
    expect(ready.accepted).toBe(true);
    expect(await plb.stop()).toBe(0);
    expect((await l.next()).text).toBe("STOPPING=1");
  } finally {
    await plb.stop();
    a.stop();
  }
});

test("--daemonize: the daemon child sends READY=1 with MAINPID= of itself (NotifyAccess=all), its parent sends nothing", async () => {
  const a = backend({ name: "A" });
  const port = await freePort();
  const l = await listen({ probePort: port });
  const dir = tempDir();
  const pidfile = join(dir, "plb.pid");
  const config = writeConfig(toml(port, a.port));
  const parent = Bun.spawn([BUN, CLI, "--daemonize", "--config", config, "--pidfile", pidfile, "--logfile", join(dir, "plb.log")], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NOTIFY_SOCKET: l.socket },
  });
  try {
    expect(await parent.exited).toBe(0);
    const pid = Number(readFileSync(pidfile, "utf8"));
    daemons.push(pid);
    expect(pid).not.toBe(parent.pid);
    const ready = await l.next();
    expect(ready.text).toBe(`READY=1\nSTATUS=serving 1 service(s)\nMAINPID=${pid}`);
    expect(ready.pid).toBe(pid);
    expect(ready.accepted).toBe(true);
    process.kill(pid, "SIGTERM");
    const stopping = await l.next();
    expect([stopping.text, stopping.pid]).toEqual(["STOPPING=1", pid]);
    expect(await silent(l)).toBe(true);
  } finally {
    a.stop();
  }
});

test("a start that fails tells systemd why (STATUS=) and never READY=1", async () => {
  const port = await freePort();
  const taken = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
  const l = await listen({});
  try {
    const plb = await startPlb(toml(port, 9), [], { env: { NOTIFY_SOCKET: l.socket }, waitReady: false });
    expect(await plb.exited).toBe(2);
    expect((await l.next()).text).toBe(`STATUS=cannot listen on 127.0.0.1:${port}: address already in use`);
    expect(await silent(l)).toBe(true);
  } finally {
    taken.stop(true);
  }
});

test("a NOTIFY_SOCKET nobody listens on: plb serves anyway, with one warning", async () => {
  const a = backend({ name: "A" });
  const port = await freePort();
  const missing = join(tempDir(), "gone.sock");
  const plb = await startPlb(toml(port, a.port), [], { env: { NOTIFY_SOCKET: missing } });
  try {
    expect(await plb.stop()).toBe(0);
    const warnings = plb.log().split("\n").filter((line) => line.includes("[warn] [notify]"));
    expect(warnings).toEqual([expect.stringContaining(`cannot connect to NOTIFY_SOCKET ${missing}: No such file or directory`)]);
    expect(plb.log()).toContain("ready (pid");
  } finally {
    await plb.stop();
    a.stop();
  }
});

test("a reload: RELOADING=1 with MONOTONIC_USEC=, then READY=1 with the difference; a refused one: READY=1 with STATUS= saying why", async () => {
  const a = backend({ name: "A" });
  const b = backend({ name: "B" });
  const port = await freePort();
  const l = await listen({ probePort: port });
  const file = writeConfig(toml(port, a.port));
  const plb = await startPlbFile(file, [], { env: { NOTIFY_SOCKET: l.socket } });
  try {
    const ready = await l.next();
    expect(ready.text).toBe("READY=1\nSTATUS=serving 1 service(s)");
    const reloadLine = await reloadWith(plb, file, toml(port, a.port).replace(`servers = ["127.0.0.1:${a.port}"]`, `servers = ["127.0.0.1:${a.port}", "127.0.0.1:${b.port}"]`));
    expect(reloadLine).toContain("reload: +1 server");
    const reloading = await l.next();
    const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(reloading.text);
    expect(m).not.toBeNull();
    // systemd compares it with its own CLOCK_MONOTONIC: the time the signal was handled
    expect(Math.abs(Number(m![1]) - reloading.monoUsec)).toBeLessThan(10_000_000); // (another clock would be off by hours, or by 1970)
    expect((await l.next()).text).toBe("READY=1\nSTATUS=serving 1 service(s); reload: +1 server");
    expect(await reloadWith(plb, file, `${toml(port, a.port)}\nbogus = 1\n`)).toContain("reload failed");
    expect((await l.next()).text).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+$/);
    expect((await l.next()).text).toMatch(/^READY=1\nSTATUS=reload failed, still serving the configuration before it: .*plb\.toml:\d+: service "n": unknown key "bogus"/);
    expect(await plb.stop()).toBe(0);
    expect((await l.next()).text).toBe("STOPPING=1");
  } finally {
    await plb.stop();
    a.stop();
    b.stop();
  }
});
