/**
 * deploy/keepalived/ for real: Debian's keepalived (VRRP) and the shipped
 * keepalived.conf and check_plb.sh (interface, addresses and paths
 * replaced), two plb hosts in network namespaces on one bridge, their
 * servers in a third, a client in a fourth that reaches the virtual
 * address only. Stopping the first plb (with shutdown_delay, and a slow
 * request to drain) makes /healthz answer 503, the check fails, the address
 * moves to the second host while the first plb still serves, and the client
 * keeps being served: none of its requests is refused. Needs root (namespaces, VRRP) and keepalived: it fails, not
 * skips, without them (tests/install-peers.sh installs keepalived).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { NamespacedProcs, sh, waitFor } from "../../support/netns.ts";
import { ROOT, startPlb, tempDir, type PlbProcess } from "../../support/plb.ts";

const DEPLOY = join(ROOT, "deploy", "keepalived");
const PEERS = join(import.meta.dir, "..", "..", "support", "ka_peers.py");
const KEEPALIVED = "/usr/sbin/keepalived";
const PYTHON = "/usr/bin/python3";
const id = Math.random().toString(16).slice(2, 6);
const NS = { s: `plbka-${id}-s`, a: `plbka-${id}-a`, b: `plbka-${id}-b`, c: `plbka-${id}-c` };
const ADDR = { s: "10.213.0.30", a: "10.213.0.11", b: "10.213.0.12", c: "10.213.0.20" };
const VIP = "10.213.0.100";
const SLOW_S = 5;
const dir = tempDir("plb-keepalived-");
const spawned = new NamespacedProcs();
const plbs: Partial<Record<"a" | "b", PlbProcess>> = {};
const spawnIn = (ns: string, cmd: string[]) => spawned.spawnIn(ns, cmd);
const logOf = (p: Subprocess) => spawned.logOf(p);

const holds = (ns: string) => sh(["ip", "-n", ns, "-4", "addr", "show", "dev", "eth0"]).includes(`inet ${VIP}/`);

/** The shipped keepalived.conf for one host: only the interface, addresses, names and paths differ. */
function keepalivedConf(host: "a" | "b", check: string): string {
  let text = readFileSync(join(DEPLOY, "keepalived.conf"), "utf8");
  const replace = (from: RegExp, to: string) => {
    if (!from.test(text)) throw new Error(`deploy/keepalived/keepalived.conf no longer has ${from}: update this test`);
    text = text.replace(from, to);
  };
  replace(/router_id plb-a/, `router_id plb-${host}`);
  replace(/priority 150/, `priority ${host === "a" ? 150 : 100}`);
  replace(/"\/usr\/local\/lib\/plb\/check_plb\.sh /, `"${check} `);
  replace(/192\.0\.2\.10\/24 dev eth0/, `${VIP}/24 dev eth0`);
  return text;
}

function startKeepalived(host: "a" | "b", check: string): Subprocess {
  const conf = join(dir, `keepalived-${host}.conf`);
  writeFileSync(conf, keepalivedConf(host, check));
  const pid = (what: string) => join(dir, `keepalived-${host}-${what}.pid`);
  return spawnIn(NS[host], [KEEPALIVED, "--dont-fork", "--log-console", "--log-detail", "--no-syslog", "--vrrp", "--use-file", conf, "--pid", pid("main"), "--vrrp_pid", pid("vrrp"), "--checkers_pid", pid("checkers")]);
}

// shutdown_delay as keepalived.conf advises: new clients are still accepted until the address has moved.
const PLB_TOML = `timeout_shutdown = "15s"
shutdown_delay = "3s"
timeout_cleanup = "1s"
[stats]
listen = "127.0.0.1:8404"

[[service]]
name = "web"
protocol = "http"
listen = ["0.0.0.0:8080"]
servers = ["${ADDR.s}:9001", "${ADDR.s}:9002"]
`;

let keepalived: Record<"a" | "b", Subprocess>;
let backends: Subprocess[];

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("keepalived.test.ts needs root: it creates network namespaces and runs VRRP in them");
  if (Bun.spawnSync(["test", "-x", KEEPALIVED]).exitCode !== 0) throw new Error(`keepalived.test.ts needs Debian's keepalived (${KEEPALIVED}): apt-get install -y keepalived (tests/install-peers.sh does)`);
  for (const ns of Object.values(NS)) sh(["ip", "netns", "add", ns]);
  // One segment: a bridge in the servers' namespace, a veth to it from each of the others.
  sh(["ip", "-n", NS.s, "link", "add", "br0", "type", "bridge"]);
  sh(["ip", "-n", NS.s, "addr", "add", `${ADDR.s}/24`, "dev", "br0"]);
  sh(["ip", "-n", NS.s, "link", "set", "br0", "up"]);
  sh(["ip", "-n", NS.s, "link", "set", "lo", "up"]);
  for (const host of ["a", "b", "c"] as const) {
    const port = `kv${id}${host}`;
    sh(["ip", "-n", NS.s, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", NS[host]]);
    sh(["ip", "-n", NS.s, "link", "set", port, "master", "br0", "up"]);
    sh(["ip", "-n", NS[host], "link", "set", "lo", "up"]);
    sh(["ip", "-n", NS[host], "addr", "add", `${ADDR[host]}/24`, "dev", "eth0"]);
    sh(["ip", "-n", NS[host], "link", "set", "eth0", "up"]);
  }
  backends = ["s1", "s2"].map((name, i) => spawnIn(NS.s, [PYTHON, PEERS, "backend", name, ADDR.s, String(9001 + i), String(SLOW_S)]));
  for (const b of backends) await waitFor(() => logOf(b).includes("ready"), "a backend", 10_000, () => `\n${logOf(b)}`);
  plbs.a = await startPlb(PLB_TOML, [], { prefix: ["ip", "netns", "exec", NS.a] });
  plbs.b = await startPlb(PLB_TOML, [], { prefix: ["ip", "netns", "exec", NS.b] });
  // The check script as installed: a directory and a file root owns and nobody may read and run.
  const checkDir = join(dir, "lib");
  Bun.spawnSync(["mkdir", "-p", checkDir]);
  chmodSync(dir, 0o755);
  chmodSync(checkDir, 0o755);
  const check = join(checkDir, "check_plb.sh");
  copyFileSync(join(DEPLOY, "check_plb.sh"), check);
  chmodSync(check, 0o755);
  // The first host first: it wins the first election (priority 150), then the second joins as backup.
  keepalived = { a: startKeepalived("a", check), b: undefined as never };
  await waitFor(() => holds(NS.a), "the virtual address on the first host", 15_000, () => `\nkeepalived a:\n${logOf(keepalived.a)}`);
  keepalived.b = startKeepalived("b", check);
  await waitFor(() => /Entering BACKUP STATE/.test(logOf(keepalived.b)), "the second keepalived in BACKUP state", 15_000, () => `\nkeepalived b:\n${logOf(keepalived.b)}`);
}, 60_000);

afterAll(async () => {
  await spawned.stopAll("SIGTERM");
  for (const plb of Object.values(plbs)) if (plb && plb.proc.exitCode === null) await plb.stop();
  for (const ns of Object.values(NS)) Bun.spawnSync(["ip", "netns", "del", ns]);
});

test("stopping the first plb moves the virtual address to the second while the first still serves, and the client keeps being served", async () => {
  expect(holds(NS.a)).toBe(true);
  expect(holds(NS.b)).toBe(false);
  const client = spawnIn(NS.c, [PYTHON, PEERS, "client", `http://${VIP}:8080/`]);
  const results = () =>
    logOf(client)
      .split("\n")
      .filter((l) => l.startsWith("{") && l.endsWith("}"))
      .map((l) => JSON.parse(l) as { t: number; ms: number; ok: boolean; body?: string; error?: string });
  await waitFor(() => results().filter((r) => r.ok).length >= 10, "10 answers through the virtual address", 10_000, () => `\n${logOf(client)}`);

  // A slow request on the first host keeps its plb draining after SIGTERM.
  const slow = spawnIn(NS.a, ["curl", "-s", "-m", "30", "-w", "\n%{http_code}", "http://127.0.0.1:8080/slow"]);
  await waitFor(() => backends.some((b) => logOf(b).includes("slow")), "the slow request at a server", 10_000);
  const stopAt = Date.now();
  plbs.a!.proc.kill("SIGTERM");
  await waitFor(() => holds(NS.b) && !holds(NS.a), "the virtual address on the second host", 10_000, () => `\nkeepalived a:\n${logOf(keepalived.a)}\nkeepalived b:\n${logOf(keepalived.b)}`);
  const movedAt = Date.now();
  // Moved because /healthz said 503, not because plb was gone: it still runs (shutdown_delay, then the slow request).
  expect(plbs.a!.proc.exitCode).toBeNull();
  expect(logOf(keepalived.a)).toMatch(/chk_plb.*failed|Script `chk_plb` now returning|FAULT/);
  await Bun.sleep(2500);
  const seen = results();
  client.kill("SIGTERM");

  // The drained request finished, and the first plb exited cleanly.
  expect(await plbs.a!.exited).toBe(0);
  expect(plbs.a!.log()).not.toMatch(/unexpected (error|rejection)/);
  await slow.exited;
  expect(logOf(slow)).toMatch(/^s[12]\n200$/);

  const before = seen.filter((r) => r.t < stopAt);
  const after = seen.filter((r) => r.t > movedAt + 1000);
  const lost = seen.filter((r) => !r.ok);
  const slowest = Math.max(...seen.map((r) => r.ms));
  console.log(`address moved ${movedAt - stopAt} ms after SIGTERM; ${lost.length} of ${seen.length} requests failed${lost.length ? ` (${lost.map((r) => r.error).join("; ")})` : ""}; the slowest took ${slowest} ms`);
  expect(before.every((r) => r.ok)).toBe(true);
  expect(after.length).toBeGreaterThanOrEqual(10);
  expect(after.filter((r) => !r.ok)).toEqual([]);
  for (const r of lost) expect(r.t >= stopAt - 600 && r.t <= movedAt + 1000, `a failure at ${r.t - stopAt} ms`).toBe(true);
  // None refused: the first plb still accepted until the address had moved (shutdown_delay).
  expect(lost.filter((r) => /refused/i.test(r.error ?? ""))).toEqual([]);
  // The second plb served them (its own counters, asked inside its namespace).
  const status = JSON.parse(sh(["ip", "netns", "exec", NS.b, "curl", "-s", "-m", "5", "http://127.0.0.1:8404/status.json"]));
  expect(status.services[0].sessions_total).toBeGreaterThanOrEqual(after.length);
}, 60_000);
