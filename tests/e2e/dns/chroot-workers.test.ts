/**
 * Servers from DNS where plb is hardest to reach: inside a chroot with no
 * /etc, as nobody (the resolver asks with what it read before), and with
 * workers (the master asks, every worker takes the new set).
 */
import { afterEach, expect, test } from "bun:test";
import { chmodSync } from "node:fs";
import { startDnsmasq, type Dnsmasq } from "../../support/dnsmasq.ts";
import { namedEcho, shares } from "../../support/named-backend.ts";
import { freePort, freePorts } from "../../support/ports.ts";
import { startPlb, tempDir, type PlbProcess } from "../../support/plb.ts";
import { until } from "../../support/until.ts";

const isRoot = process.getuid?.() === 0;
const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function dnsmasq(hosts: string): Promise<Dnsmasq> {
  const d = await startDnsmasq({ ttl: 0, hosts });
  cleanup.push(() => d.stop());
  return d;
}

async function plb(toml: string): Promise<PlbProcess> {
  const p = await startPlb(toml, [], { env: { PLB_HOSTS: "/dev/null" } });
  cleanup.push(() => p.stop());
  return p;
}

/** Pids of the processes with an established connection to `host`:`port`. */
function connectedTo(host: string, port: number): Set<number> {
  const r = Bun.spawnSync(["ss", "-Htnp", "state", "established", `( dst ${host}:${port} )`], { stdout: "pipe" });
  return new Set([...r.stdout.toString().matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}

test.skipIf(!isRoot)("inside an empty chroot as nobody, a record added while plb runs becomes a server", async () => {
  const [p1, p2] = await freePorts(2);
  const one = namedEcho("one", "127.0.0.1", p1!);
  const two = namedEcho("two", "127.0.0.1", p2!);
  cleanup.push(() => one.stop(), () => two.stop());
  const dns = await dnsmasq("127.0.0.1 a.test\n");
  const root = tempDir("plb-chroot-");
  chmodSync(root, 0o755);
  const listen = await freePort();
  const p = await plb(`user = "nobody"
group = "nogroup"
chroot_dir = "${root}"
nameservers = ["127.0.0.1:${dns.port}"]
dns_min_ttl = "200ms"
timeout_cleanup = "300ms"
[[service]]
name = "web"
listen = ["127.0.0.1:${listen}"]
servers = [{ dns = "a.test:${p1}" }, { dns = "b.test:${p2}" }]
`);
  await p.waitForLog(/chroot/);
  expect([...(await shares(listen, 3)).keys()]).toEqual(["one"]);
  await dns.setHosts("127.0.0.1 a.test\n127.0.0.1 b.test\n");
  await p.waitForLog(new RegExp(`server 127\\.0\\.0\\.1:${p2} of "web" is up: its first check passed`), 5000);
  expect([...(await shares(listen, 4)).keys()].sort()).toEqual(["one", "two"]);
});

test("with workers, the master asks DNS and every worker takes the new set: a server added is used by each worker, a server removed by none", async () => {
  const port = await freePort();
  const one = namedEcho("one", "127.0.0.1", port);
  const two = namedEcho("two", "127.0.0.2", port);
  cleanup.push(() => one.stop(), () => two.stop());
  const dns = await dnsmasq("127.0.0.1 web.test\n");
  const listen = await freePort();
  const p = await plb(`workers = 2
nameservers = ["127.0.0.1:${dns.port}"]
dns_min_ttl = "200ms"
timeout_cleanup = "300ms"
[[service]]
name = "web"
listen = ["127.0.0.1:${listen}"]
servers = [{ dns = "web.test:${port}" }]
`);
  const line = await p.waitForLog(/workers running \(pids /);
  const workers = new Set(/pids ([\d, ]+)\)/.exec(line)![1]!.split(", ").map(Number));
  expect([...(await shares(listen, 4)).keys()]).toEqual(["one"]);

  await dns.setHosts("127.0.0.1 web.test\n127.0.0.2 web.test\n");
  await p.waitForLog(new RegExp(`server 127\\.0\\.0\\.2:${port} of "web" is up: its first check passed`), 5000);
  await Bun.sleep(300); // the workers are told over their channel
  // Connections held open at once: each worker alternates between the two servers.
  const held = await Promise.all(
    Array.from({ length: 16 }, async () => {
      let got = "";
      const s = await Bun.connect({ hostname: "127.0.0.1", port: listen, socket: { data: (_s, d) => void (got += d.toString()) } });
      await until(() => got.includes("\n"), "a server's name");
      return { s, name: got.trim() };
    }),
  );
  cleanup.push(() => held.forEach((h) => h.s.terminate()));
  expect(held.some((h) => h.name === "two")).toBe(true);
  expect(connectedTo("127.0.0.2", port)).toEqual(workers);
  for (const h of held) h.s.terminate();

  await dns.setHosts("127.0.0.1 web.test\n");
  await p.waitForLog(new RegExp(`server 127\\.0\\.0\\.2:${port} of "web" removed`), 5000);
  await Bun.sleep(300); // the workers are told over their channel
  expect([...(await shares(listen, 12)).keys()]).toEqual(["one"]);
});
