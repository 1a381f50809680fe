/**
 * Servers from DNS against a real DNS server (Debian's dnsmasq on
 * loopback, records changed while plb runs): A and AAAA mixed, records
 * added (the server joins after its check) and removed (it drains: its open
 * connection completes, no new ones), the TTL honoured and clamped, SRV
 * weights and priorities, a large SRV answer over TCP, and NXDOMAIN,
 * SERVFAIL and timeouts keeping the last good set.
 */
import { afterEach, expect, test } from "bun:test";
import type { Socket } from "bun";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "../../support/backends.ts";
import { startDnsmasq, type Dnsmasq } from "../../support/dnsmasq.ts";
import { namedEcho, reached, shares } from "../../support/named-backend.ts";
import { freePort, freePorts } from "../../support/ports.ts";
import { BUN, CLI, startPlbFile, tempDir, writeConfig, type PlbProcess } from "../../support/plb.ts";
import { reloadWith } from "../../support/reload.ts";
import { until } from "../../support/until.ts";

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A port free on every one of `hosts` (a name's addresses share the entry's port). */
async function portFreeOn(hosts: string[]): Promise<number> {
  for (;;) {
    const port = await freePort();
    try {
      for (const h of hosts) Bun.listen({ hostname: h, port, socket: { data() {} } }).stop(true);
      return port;
    } catch {
      // taken on one of them: another
    }
  }
}

async function dnsmasq(opts: Parameters<typeof startDnsmasq>[0]): Promise<Dnsmasq> {
  const d = await startDnsmasq(opts);
  cleanup.push(() => d.stop());
  return d;
}

/** plb with its resolver on `dns` (1 s timeout, one attempt: failures show quickly). */
async function plbOn(dns: Dnsmasq, toml: string): Promise<{ plb: PlbProcess; file: string }> {
  const resolvConf = join(tempDir(), "resolv.conf");
  writeFileSync(resolvConf, "options timeout:1 attempts:1\n");
  const file = writeConfig(`nameservers = ["127.0.0.1:${dns.port}"]\n${toml}`);
  const plb = await startPlbFile(file, [], { env: { PLB_RESOLV_CONF: resolvConf, PLB_HOSTS: "/dev/null" } });
  cleanup.push(() => plb.stop());
  return { plb, file };
}

const count = (text: string, re: RegExp) => text.split("\n").filter((l) => re.test(l)).length;

/** A client connection through plb, kept open: what the server sent so far, and whether it closed. */
async function holdOpen(port: number): Promise<{ text(): string; closed(): boolean; send(s: string): void; finish(): void }> {
  let text = "";
  let closed = false;
  const sock: Socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      data(_s, b) {
        text += Buffer.from(b).toString();
      },
      end() {
        closed = true;
      },
      close() {
        closed = true;
      },
      error() {},
    },
  });
  cleanup.push(() => sock.terminate());
  return { text: () => text, closed: () => closed, send: (s) => void sock.write(s), finish: () => sock.shutdown() };
}

test("A and AAAA records are servers; a record added joins after its first check, a record removed drains (its open connection completes, nothing new goes there)", async () => {
  const port = await portFreeOn(["127.0.0.1", "127.0.0.2", "127.0.0.3", "::1"]);
  const backends = [namedEcho("one", "127.0.0.1", port), namedEcho("two", "127.0.0.2", port), namedEcho("six", "::1", port), namedEcho("three", "127.0.0.3", port)];
  cleanup.push(() => backends.forEach((b) => b.stop()));
  const dns = await dnsmasq({ ttl: 1, hosts: "127.0.0.1 web.test\n127.0.0.2 web.test\n::1 web.test\n" });
  const listen = await freePort();
  const { plb } = await plbOn(
    dns,
    `dns_min_ttl = "200ms"
timeout_cleanup = "300ms"
timeout_shutdown = "30s"
[[service]]
name = "web"
listen = ["127.0.0.1:${listen}"]
servers = [{ dns = "web.test:${port}" }]
`,
  );
  // IPv4 first, by address, whatever order dnsmasq gives them in.
  expect(plb.log()).toContain(`service "web": dns web.test:${port}: 127.0.0.1:${port}, 127.0.0.2:${port}, [::1]:${port} (asked again in 1s)`);
  expect([...(await shares(listen, 6)).keys()].sort()).toEqual(["one", "six", "two"]);

  // A connection held open through whichever server comes next.
  const held = await holdOpen(listen);
  await until(() => held.text().includes("\n"), "the held connection's server to greet");
  const heldName = held.text().trim();
  const heldAddress = { one: `127.0.0.1:${port}`, two: `127.0.0.2:${port}`, six: `[::1]:${port}` }[heldName]!;

  await dns.setHosts("127.0.0.1 web.test\n127.0.0.2 web.test\n::1 web.test\n127.0.0.3 web.test\n");
  await plb.waitForLog(new RegExp(`server 127\\.0\\.0\\.3:${port} of "web" is up: its first check passed`), 5000);
  expect(plb.log()).toMatch(new RegExp(`server 127\\.0\\.0\\.3:${port} of "web" added \\(joins after its first check\\)`));
  expect([...(await shares(listen, 8)).keys()].sort()).toEqual(["one", "six", "three", "two"]);

  const kept = ["127.0.0.1", "127.0.0.2", "::1", "127.0.0.3"].filter((a) => (a.includes(":") ? `[${a}]:${port}` : `${a}:${port}`) !== heldAddress);
  await dns.setHosts(kept.map((a) => `${a} web.test\n`).join(""));
  await plb.waitForLog(new RegExp(`server ${heldAddress.replace(/[.[\]]/g, "\\$&")} of "web" removed \\(1 session\\(s\\) finish on their own\\)`), 5000);
  const after = await shares(listen, 9);
  expect(after.has(heldName)).toBe(false);
  expect(after.size).toBe(3);

  // The held connection still works through its removed server, and ends normally.
  held.send("still here");
  await until(() => held.text().includes("still here"), "the echo through the removed server");
  held.finish();
  await until(held.closed, "the held connection to end");
  expect(held.text()).toBe(`${heldName}\nstill here`);
});

test("the answer's TTL sets when a name is asked again, clamped by dns_max_ttl (a reload changes it)", async () => {
  const port = await freePort();
  const b = namedEcho("one", "127.0.0.1", port);
  cleanup.push(() => b.stop());
  const dns = await dnsmasq({ ttl: 2, hosts: "127.0.0.1 web.test\n" });
  const listen = await freePort();
  const conf = (max: string) => `dns_min_ttl = "100ms"
dns_max_ttl = "${max}"
[[service]]
name = "web"
listen = ["127.0.0.1:${listen}"]
servers = [{ dns = "web.test:${port}" }]
`;
  const { plb, file } = await plbOn(dns, conf("5m"));
  const asked = () => dns.queries().filter((q) => q === "web.test/A").length;
  let before = asked();
  await Bun.sleep(5000);
  // TTL 2 s: at about 2 s and 4 s (dns_min_ttl 100 ms would have meant ~50).
  expect(asked() - before).toBeGreaterThanOrEqual(2);
  expect(asked() - before).toBeLessThanOrEqual(3);

  expect(await reloadWith(plb, file, `nameservers = ["127.0.0.1:${dns.port}"]\n${conf("500ms")}`)).toMatch(/1 setting changed/);
  await Bun.sleep(2200); // the timer set before the reload runs out
  before = asked();
  await Bun.sleep(3000);
  // Every 500 ms (and the time each answer takes): 6, give or take one on a busy machine.
  expect(asked() - before).toBeGreaterThanOrEqual(4);
  expect(asked() - before).toBeLessThanOrEqual(7);
  expect(await reached(listen)).toBe("one");
});

test("NXDOMAIN, a timeout, SERVFAIL and an empty answer keep the last good servers, each logged once; the name answering again is logged", async () => {
  const [p1, p2] = await freePorts(2);
  const one = namedEcho("one", "127.0.0.1", p1!);
  const two = namedEcho("two", "127.0.0.2", p1!);
  const fixed = namedEcho("fixed", "127.0.0.1", p2!);
  cleanup.push(() => [one, two, fixed].forEach((b) => b.stop()));
  const hosts = "127.0.0.1 web.test\n127.0.0.2 web.test\n";
  const dns = await dnsmasq({ ttl: 0, hosts });
  const [listen, statsPort] = await freePorts(2);
  const { plb } = await plbOn(
    dns,
    `dns_min_ttl = "100ms"
dns_max_ttl = "400ms"
[stats]
listen = "127.0.0.1:${statsPort}"
[[service]]
name = "web"
listen = ["127.0.0.1:${listen}"]
servers = [{ dns = "web.test:${p1}" }, "127.0.0.1:${p2}"]
`,
  );
  const entry = `backend="web",entry="dns web.test:${p1}"`;
  const metrics = async () => (await fetch(`http://127.0.0.1:${statsPort}/metrics`)).text();
  const dnsStatus = async () => ((await (await fetch(`http://127.0.0.1:${statsPort}/status.json`)).json()) as { backends: { dns: Record<string, unknown>[] }[] }).backends[0]!.dns[0]!;
  expect(await metrics()).toContain(`plb_dns_entry_ok{${entry}} 1\n`);
  expect(await dnsStatus()).toMatchObject({ entry: `dns web.test:${p1}`, condition: "ok", servers: 2, failures_in_a_row: 0, failures_total: 0 });
  const all = ["fixed", "one", "two"];
  expect([...(await shares(listen, 6)).keys()].sort()).toEqual(all);
  const asked = () => dns.queries().filter((q) => q === "web.test/A").length;

  // NXDOMAIN (the name is gone from its domain).
  await dns.setHosts("");
  await plb.waitForLog(/dns web\.test:\d+: no such name \(NXDOMAIN\); keeping its last servers/, 3000);
  const n = asked();
  await until(() => asked() >= n + 3, "three more tries", 5000);
  expect(count(plb.log(), /no such name \(NXDOMAIN\); keeping/)).toBe(1);
  expect([...(await shares(listen, 6)).keys()].sort()).toEqual(all);
  // The stats listener shows it: the entry failing, its last two servers kept.
  const failing = await metrics();
  expect(failing).toContain(`plb_dns_entry_ok{${entry}} 0\n`);
  expect(failing).toContain(`plb_dns_entry_servers{${entry}} 2\n`);
  expect(Number(new RegExp(`plb_dns_entry_failures_total\\{${entry}\\} (\\d+)`).exec(failing)![1])).toBeGreaterThanOrEqual(3);
  expect(await dnsStatus()).toMatchObject({ condition: "nxdomain", servers: 2 });

  await dns.setHosts(hosts);
  await plb.waitForLog(/dns web\.test:\d+ answers again: 127\.0\.0\.1:\d+, 127\.0\.0\.2:\d+/, 3000);
  expect(await metrics()).toContain(`plb_dns_entry_ok{${entry}} 1\n`);
  expect((await dnsStatus()).last_ok).toMatch(/^\d{4}-\d\d-\d\dT/);

  // No answer at all (dnsmasq stopped with SIGSTOP): plb's 1 s query timeout.
  dns.pause();
  await plb.waitForLog(/dns web\.test:\d+: 127\.0\.0\.1:\d+: timed out after 1000 ms; keeping its last servers/, 5000);
  await Bun.sleep(2500);
  expect(count(plb.log(), /timed out after 1000 ms; keeping/)).toBe(1);
  expect([...(await shares(listen, 6)).keys()].sort()).toEqual(all);
  dns.resume();
  await plb.waitForLog(/answers again: .*127\.0\.0\.2/, 5000);
  const again = count(plb.log(), /answers again/);

  // SERVFAIL: the name forwarded to a nameserver that fails.
  await dns.restart({ ttl: 0, hosts: "", broken: ["web.test"] });
  await plb.waitForLog(/dns web\.test:\d+: 127\.0\.0\.1:\d+: SERVFAIL; keeping its last servers/, 5000);
  expect([...(await shares(listen, 6)).keys()].sort()).toEqual(all);

  // An empty answer: the name is there, without A or AAAA records.
  await dns.restart({ ttl: 0, hosts: "", txt: ["web.test"] });
  await plb.waitForLog(/dns web\.test:\d+: no A or AAAA records; keeping its last servers/, 5000);
  expect([...(await shares(listen, 6)).keys()].sort()).toEqual(all);
  expect(count(plb.log(), /answers again/)).toBe(again);
  expect(plb.log()).not.toMatch(/of "web" removed/);
});

test("SRV: weights share the requests, a higher priority value is a backup used once the primaries are down", async () => {
  const [p1, p2, p3] = await freePorts(3);
  const light = namedEcho("light", "127.0.0.1", p1!);
  const heavy = namedEcho("heavy", "127.0.0.1", p2!);
  const spare = namedEcho("spare", "127.0.0.1", p3!);
  cleanup.push(() => [light, heavy, spare].forEach((b) => b.stop()));
  const name = "_app._tcp.web.test";
  const dns = await dnsmasq({
    ttl: 30,
    srv: [
      [name, "a.web.test", p1!, 10, 10],
      [name, "b.web.test", p2!, 10, 30],
      [name, "c.web.test", p3!, 20, 50],
    ],
    records: [["a.web.test", "127.0.0.1"], ["b.web.test", "127.0.0.1"], ["c.web.test", "127.0.0.1"]],
  });
  const listen = await freePort();
  const { plb } = await plbOn(
    dns,
    `server_retry = 1
timeout_cleanup = "300ms"
[[service]]
name = "web"
listen = ["127.0.0.1:${listen}"]
servers = [{ srv = "${name}" }]
`,
  );
  expect(plb.log()).toContain(`srv ${name}: 127.0.0.1:${p1} weight 10, 127.0.0.1:${p2} weight 30, 127.0.0.1:${p3} weight 50 (backup)`);
  const got = await shares(listen, 200);
  expect(got.get("spare")).toBeUndefined();
  const ratio = got.get("heavy")! / got.get("light")!;
  expect(ratio).toBeGreaterThan(2.5);
  expect(ratio).toBeLessThan(3.5);

  light.stop();
  heavy.stop();
  // Traffic finds them gone (server_retry = 1: one failure each); the client is failed over meanwhile.
  const down = new RegExp(`127\\.0\\.0\\.1:(${p1}|${p2}) of "web" is down`);
  for (let i = 0; i < 10 && count(plb.log(), down) < 2; i++) await request(listen).catch(() => "");
  expect(count(plb.log(), down)).toBe(2);
  for (let i = 0; i < 3; i++) expect(await reached(listen)).toBe("spare");
});

test("a large SRV answer (truncated over UDP) is read over TCP", async () => {
  const name = "_big._tcp.web.test";
  const targets = Array.from({ length: 40 }, (_, i) => `t${i}.web.test`);
  const dns = await dnsmasq({
    ttl: 30,
    srv: targets.map((t, i): [string, string, number, number, number] => [name, t, 30_000 + i, 0, 1]),
    records: targets.map((t): [string, string] => [t, "127.0.0.1"]),
  });
  // The same question over UDP, asked by hand: dnsmasq truncates the answer (TC).
  const udp = await new Promise<Uint8Array>(async (resolve) => {
    const sock = await Bun.udpSocket({ hostname: "127.0.0.1", binaryType: "uint8array", socket: { data: (_s, b) => resolve(b) } });
    cleanup.push(() => sock.close());
    const qname = name.split(".").flatMap((l) => [l.length, ...Buffer.from(l)]);
    sock.send(new Uint8Array([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...qname, 0, 0, 33, 0, 1]), dns.port, "127.0.0.1");
  });
  expect(udp[2]! & 0x02).toBe(0x02);

  const listen = await freePort();
  const { plb } = await plbOn(
    dns,
    `[[service]]
name = "web"
listen = ["127.0.0.1:${listen}"]
servers = [{ srv = "${name}" }]
`,
  );
  const line = plb.log().split("\n").find((l) => l.includes(`srv ${name}: `))!;
  for (let i = 0; i < 40; i++) expect(line).toContain(`127.0.0.1:${30_000 + i}`);
});

test("a name that fails at start: plb starts without its servers (warned) and adds them once it answers", async () => {
  const [p1, p2] = await freePorts(2);
  const late = namedEcho("late", "127.0.0.1", p1!);
  const fixed = namedEcho("fixed", "127.0.0.1", p2!);
  cleanup.push(() => [late, fixed].forEach((b) => b.stop()));
  const dns = await dnsmasq({ ttl: 0, hosts: "" });
  const listen = await freePort();
  const { plb } = await plbOn(
    dns,
    `dns_min_ttl = "200ms"
dns_max_ttl = "500ms"
timeout_cleanup = "300ms"
[[service]]
name = "web"
listen = ["127.0.0.1:${listen}"]
servers = [{ dns = "late.test:${p1}" }, "127.0.0.1:${p2}"]
`,
  );
  expect(plb.log()).toMatch(/dns late\.test:\d+: no such name \(NXDOMAIN\); no server from it yet/);
  expect([...(await shares(listen, 3)).keys()]).toEqual(["fixed"]);
  await dns.setHosts("127.0.0.1 late.test\n");
  await plb.waitForLog(new RegExp(`server 127\\.0\\.0\\.1:${p1} of "web" is up: its first check passed`), 5000);
  expect([...(await shares(listen, 4)).keys()].sort()).toEqual(["fixed", "late"]);
});

test("a reload keeps a DNS entry's servers and their state, re-weighs them, drops those of a removed entry and asks for a new one at once", async () => {
  const [p1, p2, p3] = await freePorts(3);
  const backends = [namedEcho("one", "127.0.0.1", p1!), namedEcho("two", "127.0.0.2", p1!), namedEcho("db", "127.0.0.1", p2!), namedEcho("fixed", "127.0.0.1", p3!)];
  cleanup.push(() => backends.forEach((b) => b.stop()));
  const dns = await dnsmasq({ ttl: 300, hosts: "127.0.0.1 web.test\n127.0.0.2 web.test\n127.0.0.1 db.test\n" });
  const listen = await freePort();
  const conf = (servers: string, extra = "") => `timeout_cleanup = "300ms"
${extra}
[[service]]
name = "web"
listen = ["127.0.0.1:${listen}"]
servers = ${servers}
`;
  const { plb, file } = await plbOn(dns, conf(`[{ dns = "web.test:${p1}" }, "127.0.0.1:${p3}"]`));
  const reload = (toml: string) => reloadWith(plb, file, `nameservers = ["127.0.0.1:${dns.port}"]\n${toml}`);
  expect([...(await shares(listen, 6)).keys()].sort()).toEqual(["fixed", "one", "two"]);
  const asked = () => dns.queries().filter((q) => q === "web.test/A").length;
  const before = asked();

  // Another setting: the entry's servers stay as they are (TTL 300 s: not asked again).
  expect(await reload(conf(`[{ dns = "web.test:${p1}" }, "127.0.0.1:${p3}"]`, 'timeout_client = "61s"'))).toMatch(/reload: 1 setting changed \(/);
  expect([...(await shares(listen, 6)).keys()].sort()).toEqual(["fixed", "one", "two"]);
  expect(asked()).toBe(before);

  // The entry's weight: its servers are re-weighed, not replaced.
  expect(await reload(conf(`[{ dns = "web.test:${p1}", weight = 3 }, "127.0.0.1:${p3}"]`))).toMatch(/reload: 2 weights changed, 1 setting changed \(/);
  const weighed = await shares(listen, 70);
  expect(weighed.get("one")).toBe(30);
  expect(weighed.get("two")).toBe(30);
  expect(weighed.get("fixed")).toBe(10);
  // Added once (at start), never again: the same servers all along.
  expect(count(plb.log(), new RegExp(`server 127\\.0\\.0\\.2:${p1} of "web" added`))).toBe(1);

  // One entry removed, another added: the first's servers drain, the second is asked at once.
  expect(await reload(conf(`[{ dns = "db.test:${p2}" }, "127.0.0.1:${p3}"]`))).toMatch(/reload: -2 servers \(/);
  await plb.waitForLog(new RegExp(`server 127\\.0\\.0\\.1:${p2} of "web" is up: its first check passed`), 5000);
  expect([...(await shares(listen, 6)).keys()].sort()).toEqual(["db", "fixed"]);
  expect(plb.log()).toMatch(/service "web": dns web\.test:\d+ removed/);
  expect(plb.log()).toMatch(/service "web": dns db\.test:\d+ added \(its servers join once DNS answers\)/);
});

test("plb --check counts the DNS entries without asking DNS", () => {
  // A nameserver that answers nothing: --check must not wait for it.
  const file = writeConfig(`nameservers = ["127.0.0.1:9"]
[[service]]
name = "web"
listen = ["127.0.0.1:1"]
servers = [{ dns = "web.test:80" }, { srv = "_http._tcp.web.test" }, "127.0.0.1:2"]
`);
  const t0 = Date.now();
  const r = Bun.spawnSync([BUN, CLI, "--check", "--config", file], { stdout: "pipe", stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
  expect(r.stdout.toString()).toBe(`${file}: configuration OK: 1 service(s), 1 listen address(es), 1 server(s) and 2 DNS entries (asked when plb runs)\n`);
  expect(Date.now() - t0).toBeLessThan(5000);
});
