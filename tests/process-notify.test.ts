/**
 * sd_notify without libsystemd (src/process/notify.ts), against a real unix
 * datagram listener standing in for systemd (Debian's python3), on a path
 * and on an abstract name.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { renameSync } from "node:fs";
import { join } from "node:path";
import {
  formatFields,
  initNotify,
  monotonicUsec,
  notify,
  notifyReady,
  notifyReloading,
  notifySocket,
  notifyStatus,
  notifyStopping,
} from "../src/process/notify.ts";
import { platformFor, sockaddrUn } from "../src/process/platform.ts";
import { captureLogs } from "./support/log-capture.ts";
import { notifyListener, type NotifyListener } from "./support/notify-listener.ts";
import { tempDir } from "./support/plb.ts";

const { logLines } = captureLogs("notify");
const listeners: NotifyListener[] = [];

async function listener(abstract = false): Promise<NotifyListener> {
  const l = await notifyListener({ abstract });
  listeners.push(l);
  return l;
}

afterEach(() => void initNotify({})); // closes the socket a test opened
afterAll(() => {
  for (const l of listeners) l.close();
});

const warnings = () => logLines().filter((l) => l.startsWith("[warn] [notify]"));

for (const abstract of [false, true]) {
  describe(abstract ? "abstract @name" : "socket path", () => {
    test("READY=1 with STATUS arrives as one datagram from this process", async () => {
      const l = await listener(abstract);
      const env: Record<string, string | undefined> = { NOTIFY_SOCKET: l.socket, OTHER: "kept" };
      expect(initNotify(env)).toBe(l.socket);
      expect(env).toEqual({ OTHER: "kept" }); // unset, like sd_notify's unset_environment
      expect(notifySocket()).toBe(l.socket);
      expect(notifyReady("serving 2 service(s)")).toBe(true);
      const d = await l.next();
      expect(d.text).toBe("READY=1\nSTATUS=serving 2 service(s)");
      expect([d.pid, d.uid, d.gid]).toEqual([process.pid, process.geteuid!(), process.getegid!()]);
      expect(warnings()).toEqual([]);
    });

    test("RELOADING=1 carries MONOTONIC_USEC, CLOCK_MONOTONIC as the listener reads it", async () => {
      const l = await listener(abstract);
      initNotify({ NOTIFY_SOCKET: l.socket });
      expect(notifyReloading()).toBe(true);
      const d = await l.next();
      const m = /^RELOADING=1\nMONOTONIC_USEC=(\d+)$/.exec(d.text);
      expect(m).not.toBeNull();
      const sent = Number(m![1]);
      // sent before it was received, and not long before
      expect(sent).toBeLessThanOrEqual(d.monoUsec);
      expect(d.monoUsec - sent).toBeLessThan(10_000_000); // (another clock would be off by hours, or by 1970)
    });
  });
}

test("a reload's whole sequence, in order: RELOADING, READY, STATUS (reload failed), and STOPPING", async () => {
  const l = await listener();
  initNotify({ NOTIFY_SOCKET: l.socket });
  expect(notifyReloading("reloading /etc/plb.toml")).toBe(true);
  expect(notifyReady()).toBe(true);
  expect(notifyStatus("reload failed: plb.toml:3: unknown key\n\"sever_retry\"")).toBe(true);
  expect(notifyStopping()).toBe(true);
  expect((await l.next()).text).toMatch(/^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading \/etc\/plb\.toml$/);
  expect((await l.next()).text).toBe("READY=1");
  expect((await l.next()).text).toBe('STATUS=reload failed: plb.toml:3: unknown key "sever_retry"'); // a newline would end the field
  expect((await l.next()).text).toBe("STOPPING=1");
});

test("MAINPID= goes with READY=1 when given (the --daemonize child)", async () => {
  const l = await listener();
  initNotify({ NOTIFY_SOCKET: l.socket });
  notifyReady("serving 1 service(s)", 4242);
  expect((await l.next()).text).toBe("READY=1\nSTATUS=serving 1 service(s)\nMAINPID=4242");
});

test("the connected socket keeps reaching the listener after its path stopped resolving (as after chroot)", async () => {
  const l = await listener();
  initNotify({ NOTIFY_SOCKET: l.socket });
  const moved = join(tempDir(), "elsewhere");
  renameSync(join(l.socket, ".."), moved);
  expect(notifyStatus("still here")).toBe(true);
  expect((await l.next()).text).toBe("STATUS=still here");
});

test("without NOTIFY_SOCKET nothing is sent and nothing is logged", () => {
  expect(initNotify({})).toBeUndefined();
  expect(initNotify({ NOTIFY_SOCKET: "" })).toBeUndefined();
  expect(notifySocket()).toBeUndefined();
  expect([notifyReady(), notifyReloading(), notifyStatus("x"), notifyStopping(), notify({ READY: 1 })]).toEqual([false, false, false, false, false]);
  expect(logLines()).toEqual([]);
});

test("a socket that is not there: calls return false, never throw, and one warning is logged however many calls fail", () => {
  const missing = join(tempDir(), "no-such.sock");
  expect(initNotify({ NOTIFY_SOCKET: missing })).toBe(missing);
  expect(notifyReady("x")).toBe(false);
  expect(notifyReloading()).toBe(false);
  expect(notifyStopping()).toBe(false);
  expect(warnings()).toEqual([
    `[warn] [notify] cannot connect to NOTIFY_SOCKET ${missing}: No such file or directory; will send to the address (systemd notifications; further problems are logged at debug level)`,
  ]);
  expect(logLines().filter((l) => l.includes(`cannot notify ${missing} of READY=1: No such file or directory`))).toHaveLength(1);
});

test("a listener that goes away after the connect: one warning, false, no throw", async () => {
  const l = await listener(true);
  initNotify({ NOTIFY_SOCKET: l.socket });
  expect(notifyStatus("first")).toBe(true);
  expect((await l.next()).text).toBe("STATUS=first");
  l.close();
  await Bun.sleep(100);
  expect(notifyStatus("second")).toBe(false);
  expect(notifyStopping()).toBe(false);
  expect(warnings()).toHaveLength(1);
  expect(warnings()[0]).toContain(`cannot notify ${l.socket} of STATUS=second: Connection refused`);
});

test("unsupported or impossible NOTIFY_SOCKET values are ignored with a warning", () => {
  expect(initNotify({ NOTIFY_SOCKET: "vsock:2:1234" })).toBeUndefined();
  expect(warnings().at(-1)).toStartWith('[warn] [notify] NOTIFY_SOCKET="vsock:2:1234" ignored: only an absolute path or an @abstract name is supported');
  const long = `/${"x".repeat(120)}`;
  expect(initNotify({ NOTIFY_SOCKET: long })).toBeUndefined();
  expect(warnings().at(-1)).toContain("is too long for sun_path (108 bytes)");
  expect(notifyReady()).toBe(false);
});

test("a bad field name is refused with a warning, not thrown", async () => {
  const l = await listener();
  initNotify({ NOTIFY_SOCKET: l.socket });
  expect(notify({ "BAD=KEY": 1 })).toBe(false);
  expect(warnings()[0]).toContain('bad notify field name "BAD=KEY"');
  expect(notify({ READY: 1, STATUS: "ok" })).toBe(true);
  expect((await l.next()).text).toBe("READY=1\nSTATUS=ok");
  expect(formatFields({ A_1: 1n, B: "x\r\ny" })).toBe("A_1=1\nB=x y");
});

test("initNotify removes NOTIFY_SOCKET from process.env: programs started with it afterwards do not see it", async () => {
  const l = await listener();
  const saved = process.env.NOTIFY_SOCKET;
  process.env.NOTIFY_SOCKET = l.socket;
  // what the daemon's re-exec passes on (env: { ...process.env }), and node:child_process
  const seen = () => [
    Bun.spawnSync(["/usr/bin/env"], { env: { ...process.env } }).stdout.toString(),
    spawnSync("/usr/bin/env").stdout.toString(),
  ];
  try {
    for (const env of seen()) expect(env).toContain(`NOTIFY_SOCKET=${l.socket}`);
    initNotify();
    expect(process.env.NOTIFY_SOCKET).toBeUndefined();
    for (const env of seen()) expect(env).not.toContain("NOTIFY_SOCKET");
    expect(notifyStopping()).toBe(true);
    expect((await l.next()).text).toBe("STOPPING=1");
  } finally {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
  }
});

test("monotonicUsec is CLOCK_MONOTONIC: it moves with time and not with the wall clock's epoch", async () => {
  const a = monotonicUsec();
  await Bun.sleep(50);
  const b = monotonicUsec();
  expect(Number(b - a)).toBeGreaterThanOrEqual(45_000);
  expect(Number(b - a)).toBeLessThan(5_000_000);
  expect(Number(b)).toBeLessThan(Date.now() * 1000 - 1e15); // far from µs since 1970
  // the same clock as /proc/uptime (boot time based, within a second)
  const uptime = Number((await Bun.file("/proc/uptime").text()).split(" ")[0]);
  expect(Math.abs(Number(b) / 1e6 - uptime)).toBeLessThan(2);
});

describe("sockaddr_un", () => {
  test("Linux: 16-bit family AF_UNIX, then the path and its NUL; abstract: a NUL, then the name without one", () => {
    const lx = platformFor("linux", "x64")!;
    const path = sockaddrUn("/run/systemd/notify", false, lx);
    expect(path.length).toBe(2 + 19 + 1);
    expect(Array.from(path.addr.subarray(0, 4))).toEqual([1, 0, 0x2f, 0x72]);
    expect(path.addr[2 + 19]).toBe(0);
    expect(path.addr.length).toBe(110);
    const abs = sockaddrUn("plb", true, lx);
    expect(abs.length).toBe(2 + 1 + 3);
    expect(Array.from(abs.addr.subarray(0, 6))).toEqual([1, 0, 0, 0x70, 0x6c, 0x62]);
  });

  test("BSD: sun_len then a one-byte family, 104 bytes of sun_path", () => {
    const fb = platformFor("freebsd", "x64")!;
    const a = sockaddrUn("/var/run/n", false, fb);
    expect(a.length).toBe(2 + 10 + 1);
    expect(Array.from(a.addr.subarray(0, 3))).toEqual([13, 1, 0x2f]);
    expect(a.addr.length).toBe(106);
    expect(() => sockaddrUn("x".repeat(104), false, fb)).toThrow("is too long for sun_path (104 bytes)");
    expect(sockaddrUn("x".repeat(103), false, fb).length).toBe(106);
  });

  test("empty names and NUL bytes are refused", () => {
    expect(() => sockaddrUn("", false)).toThrow("is empty");
    expect(() => sockaddrUn("a\0b", true)).toThrow("holds a NUL byte");
  });
});

