/**
 * deploy/systemd/plb.service (Type=notify-reload, systemd >= 253) and
 * plb-legacy.service (Type=notify): `systemd-analyze verify` and `security
 * --offline` on them; the keys that matter checked by parsing the units
 * (this always runs, and stands in for verify where systemd-analyze cannot
 * run); ExecStart's switches checked against plb --help; and the hardening
 * tried for real: plb started as root under exactly the unit's
 * CapabilityBoundingSet and NoNewPrivileges (setpriv) binds a port below
 * 1024, chroots and drops to nobody, and fails without any one of them.
 * No systemd runs as PID 1 here, so the units themselves are not started.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/index.ts";
import { BUN, CLI, ROOT, tempDir, writeConfig } from "../../support/plb.ts";

const UNITS = join(ROOT, "deploy", "systemd");
const ANALYZE = "/usr/bin/systemd-analyze";
const SETPRIV = "/usr/bin/setpriv";
const isRoot = process.getuid?.() === 0;
const running: Bun.Subprocess[] = [];
afterAll(() => {
  for (const p of running) p.kill("SIGKILL");
});

type Unit = Record<string, Record<string, string[]>>;

/** [Section] and Key=value lines (a key may repeat); # and ; start comments. */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section: Record<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) {
      section = unit[head[1]] ??= {};
      continue;
    }
    const at = line.indexOf("=");
    if (section === undefined || at <= 0) throw new Error(`not a unit line: ${raw}`);
    (section[line.slice(0, at)] ??= []).push(line.slice(at + 1));
  }
  return unit;
}

const text = (name: string) => readFileSync(join(UNITS, name), "utf8");
const unit = (name: string) => parseUnit(text(name));
const one = (u: Unit, section: string, key: string): string => {
  const values = u[section]?.[key] ?? [];
  expect([key, values.length]).toEqual([key, 1]);
  return values[0];
};

/** seconds of a systemd time span like "20s", "1min 30s", "20". */
function seconds(span: string): number {
  let total = 0;
  for (const m of span.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?/g)) {
    const n = Number(m[1]);
    total += m[2] === "ms" ? n / 1000 : m[2] === "min" || m[2] === "m" ? n * 60 : m[2] === "h" ? n * 3600 : n;
  }
  return total;
}

const plbHelp = (() => {
  let help: string | undefined;
  // without colours: "--config=<FILE>    Configuration file"
  return () => (help ??= Bun.spawnSync([BUN, CLI, "--help"], { stdout: "pipe" }).stdout.toString().replace(/\u001b\[\d+m/g, ""));
})();

const HARDENING = [
  "CapabilityBoundingSet",
  "NoNewPrivileges",
  "ProtectSystem",
  "LogsDirectory",
  "ReadWritePaths",
  "LimitNOFILE",
  "TimeoutStopSec",
  "Restart",
  "PrivateTmp",
  "ProtectHome",
  "RestrictAddressFamilies",
  "UMask",
];

/** What both units must say; with `expected` the Type and how a reload is done. */
function structuralChecks(name: string, type: "notify-reload" | "notify"): void {
  const u = unit(name);
  const s = u.Service;
  expect(one(u, "Service", "Type")).toBe(type);
  const exec = one(u, "Service", "ExecStart");
  expect(exec).toBe("/usr/local/bin/plb --config /etc/plb.toml");
  // every switch on ExecStart is one plb knows
  const words = exec.split(/\s+/);
  for (const sw of words.filter((w) => w.startsWith("--"))) expect(plbHelp()).toMatch(new RegExp(`(^|\\s)${sw}[=\\s]`, "m"));
  // and plb takes that command line (with a configuration that exists here)
  const config = writeConfig('[[service]]\nname = "x"\nlisten = ["127.0.0.1:1"]\nservers = ["127.0.0.1:2"]\n');
  const check = Bun.spawnSync([BUN, CLI, ...words.slice(1).map((w) => (w === "/etc/plb.toml" ? config : w)), "--check"], { stdout: "pipe", stderr: "pipe" });
  expect([check.exitCode, check.stdout.toString()]).toEqual([0, `${config}: configuration OK: 1 service(s), 1 listen address(es), 1 server(s)\n`]);
  expect(exec).not.toContain("--daemonize"); // the daemon child would not be the main pid
  expect(s.PIDFile).toBeUndefined();
  expect(s.NotifyAccess ?? ["main"]).toEqual(["main"]);
  if (type === "notify") expect(one(u, "Service", "ExecReload")).toBe("/bin/kill -HUP $MAINPID");
  else expect(s.ExecReload).toBeUndefined(); // notify-reload: systemd sends SIGHUP itself (ReloadSignal= defaults to it)
  expect(new Set(one(u, "Service", "CapabilityBoundingSet").split(/\s+/))).toEqual(
    new Set(["CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_CHROOT"]),
  );
  expect(s.AmbientCapabilities).toBeUndefined();
  expect(one(u, "Service", "NoNewPrivileges")).toBe("yes");
  expect(one(u, "Service", "ProtectSystem")).toBe("strict");
  expect(one(u, "Service", "LogsDirectory")).toBe("plb"); // /var/log/plb, writable under ProtectSystem=strict
  expect(one(u, "Service", "ReadWritePaths").split(/\s+/)).toContain("/run"); // the pid file (/run/plb.pid)
  expect(one(u, "Service", "LimitNOFILE")).toBe("1048576");
  expect(one(u, "Service", "Restart")).toBe("on-failure");
  expect(one(u, "Service", "RestrictAddressFamilies").split(/\s+/)).toContain("AF_UNIX"); // NOTIFY_SOCKET
  expect(s.MemoryDenyWriteExecute).toBeUndefined(); // Bun's JIT
  // the stop waits for the drain: timeout_shutdown's default and a margin of at least 5 s
  const drain = parseConfig('[[service]]\nname = "x"\nlisten = ["127.0.0.1:1"]\nservers = ["127.0.0.1:2"]\n', "t.toml").global.timeout_shutdown / 1000;
  expect(drain).toBe(10);
  expect(seconds(one(u, "Service", "TimeoutStopSec"))).toBeGreaterThanOrEqual(drain + 5);
  expect(one(u, "Install", "WantedBy")).toBe("multi-user.target");
  expect(u.Unit.After).toContain("network-online.target");
}

describe("the unit files, parsed", () => {
  test("plb.service: Type=notify-reload, ExecStart without --daemonize, the hardening that still lets plb bind, chroot and drop", () => {
    structuralChecks("plb.service", "notify-reload");
  });

  test("plb-legacy.service: Type=notify with ExecReload sending SIGHUP, the same hardening", () => {
    structuralChecks("plb-legacy.service", "notify");
    const modern = unit("plb.service").Service;
    const legacy = unit("plb-legacy.service").Service;
    for (const key of [...HARDENING, ...Object.keys(modern).filter((k) => k.startsWith("Protect") || k.startsWith("Restrict"))]) {
      expect([key, legacy[key]]).toEqual([key, modern[key]]);
    }
    expect(Object.keys(legacy).sort()).toEqual(Object.keys(modern).concat("ExecReload").sort());
  });
});

/** systemd-analyze's major version, or undefined when it cannot run here. */
function analyzeVersion(): number | undefined {
  if (!existsSync(ANALYZE)) return undefined;
  const r = Bun.spawnSync([ANALYZE, "--version"], { stdout: "pipe", stderr: "pipe" });
  const m = /^systemd (\d+)/.exec(r.stdout.toString());
  return r.exitCode === 0 && m ? Number(m[1]) : undefined;
}

/** The unit copied with ExecStart on a real plb (systemd-analyze checks that the command is executable). */
function runnableCopy(name: string): string {
  const dir = tempDir("plb-units-");
  const wrapper = join(dir, "plb");
  writeFileSync(wrapper, `#!/bin/sh\nexec ${BUN} ${CLI} "$@"\n`);
  chmodSync(wrapper, 0o755);
  const copy = join(dir, name);
  writeFileSync(copy, text(name).replaceAll("/usr/local/bin/plb", wrapper));
  return copy;
}

describe("systemd-analyze", () => {
  const version = analyzeVersion();

  test("verify: both units load without a complaint (systemd < 253 only does not know Type=notify-reload)", () => {
    if (version === undefined) {
      console.warn(`${ANALYZE} cannot run here: checking the units' structure instead`);
      structuralChecks("plb.service", "notify-reload");
      structuralChecks("plb-legacy.service", "notify");
      return;
    }
    for (const name of ["plb.service", "plb-legacy.service"]) {
      const copy = runnableCopy(name);
      const r = Bun.spawnSync([ANALYZE, "verify", "--man=no", copy], { stdout: "pipe", stderr: "pipe" });
      const out = `${r.stdout}${r.stderr}`.split("\n").filter(Boolean);
      expect([name, r.exitCode]).toEqual([name, 0]);
      const allowed = name === "plb.service" && version < 253 ? [`${copy}:${lineOf(name, "Type=notify-reload")}: Failed to parse service type, ignoring: notify-reload`] : [];
      expect([name, out]).toEqual([name, allowed]);
    }
  });

  test("verify notices a broken unit (so a clean result means something)", () => {
    if (version === undefined) return void structuralChecks("plb-legacy.service", "notify");
    const copy = runnableCopy("plb-legacy.service");
    writeFileSync(copy, readFileSync(copy, "utf8").replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"));
    const r = Bun.spawnSync([ANALYZE, "verify", "--man=no", copy], { stdout: "pipe", stderr: "pipe" });
    expect(`${r.stdout}${r.stderr}`).toContain("Unknown key 'NoNewPrivilege' in section [Service]");
  });

  test("security --offline: overall exposure rated OK or better for both", () => {
    if (version === undefined) return void structuralChecks("plb.service", "notify-reload");
    for (const name of ["plb.service", "plb-legacy.service"]) {
      const r = Bun.spawnSync([ANALYZE, "security", "--offline=yes", "--no-pager", runnableCopy(name)], { stdout: "pipe", stderr: "pipe" });
      const m = /Overall exposure level for \S+: (\d+\.\d) (\w+)/.exec(r.stdout.toString());
      expect(m, `${r.stdout}${r.stderr}`).not.toBeNull();
      expect([name, Number(m![1]) < 5]).toEqual([name, true]);
    }
  });
});

function lineOf(name: string, needle: string): number {
  return text(name).split("\n").findIndex((l) => l.trim() === needle) + 1;
}

/** A free port below 1024 on 127.0.0.1. */
function privilegedPort(): number {
  for (let p = 700 + Math.floor(Math.random() * 250); p < 1024; p++) {
    try {
      Bun.listen({ hostname: "127.0.0.1", port: p, socket: { data() {} } }).stop(true);
      return p;
    } catch {}
  }
  throw new Error("no free privileged port");
}

/** `setpriv --bounding-set` names for the unit's CapabilityBoundingSet. */
function boundingSet(drop?: string): string {
  const caps = one(unit("plb.service"), "Service", "CapabilityBoundingSet")
    .split(/\s+/)
    .map((c) => c.replace(/^CAP_/, "").toLowerCase())
    .filter((c) => c !== drop);
  return ["-all", ...caps.map((c) => `+${c}`)].join(",");
}

async function underUnitCapabilities(drop?: string): Promise<{ code: number | null; log: string; pid: number }> {
  const root = tempDir("plb-chroot-");
  chmodSync(root, 0o755);
  const port = privilegedPort();
  const config = writeConfig(`user = "nobody"\nchroot_dir = "${root}"\n[[service]]\nname = "caps"\nlisten = ["127.0.0.1:${port}"]\nservers = ["127.0.0.1:9"]\n`);
  const proc = Bun.spawn(
    [SETPRIV, `--bounding-set=${boundingSet(drop)}`, "--no-new-privs", BUN, CLI, "--config", config, "--pidfile", join(tempDir(), "plb.pid"), "--logfile", "-"],
    { stdout: "ignore", stderr: "pipe" },
  );
  running.push(proc);
  let log = "";
  const reading = (async () => {
    for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
  })();
  const deadline = Date.now() + 15_000;
  while (proc.exitCode === null && !/ready \(pid/.test(log) && Date.now() < deadline) await Bun.sleep(20);
  const code = proc.exitCode;
  if (code === null) {
    const status = readFileSync(`/proc/${proc.pid}/status`, "utf8");
    log += `\nNoNewPrivs: ${/NoNewPrivs:\s*(\d)/.exec(status)?.[1]} CapBnd: ${/CapBnd:\s*(\w+)/.exec(status)?.[1]} CapEff: ${/CapEff:\s*(\w+)/.exec(status)?.[1]}`;
    proc.kill("SIGTERM");
    await proc.exited;
  }
  await reading;
  return { code, log, pid: proc.pid };
}

describe.skipIf(!isRoot || !existsSync(SETPRIV))("the unit's CapabilityBoundingSet and NoNewPrivileges, applied with setpriv", () => {
  test("are enough: plb binds a port below 1024, chroots, drops to nobody and is ready, with no capability left", async () => {
    const run = await underUnitCapabilities();
    expect(run.code).toBeNull(); // still running when ready
    expect(run.log).toContain("running as nobody (65534:65534), chroot");
    expect(run.log).toMatch(/ready \(pid/);
    expect(run.log).toContain("NoNewPrivs: 1 ");
    expect(run.log).toContain("CapEff: 0000000000000000"); // after the drop
  });

  for (const [cap, why] of [
    ["net_bind_service", /cannot listen on 127\.0\.0\.1:\d+: permission denied/],
    ["sys_chroot", /cannot chroot: chroot\(".*"\): Operation not permitted/],
    ["setgid", /cannot clear supplementary groups: setgroups\(\[\]\): Operation not permitted/],
    ["setuid", /cannot set user id: setresuid\(65534, 65534, 65534\): Operation not permitted/],
  ] as const) {
    test(`are each needed: without ${cap} the start fails (exit 2)`, async () => {
      const run = await underUnitCapabilities(cap);
      expect(run.code).toBe(2);
      expect(run.log).toMatch(why);
    });
  }
});
