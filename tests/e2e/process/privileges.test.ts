import { expect, test } from "bun:test";
import { chmodSync, readFileSync, readlinkSync } from "node:fs";
import { backend, request } from "../../support/backends.ts";
import { dnsServer } from "../../support/dns-server.ts";
import { startPlb, tempDir } from "../../support/plb.ts";
import { privilegedPort } from "../../support/ports.ts";

const isRoot = process.getuid?.() === 0;


function statusField(pid: number, field: string): string {
  const m = new RegExp(`^${field}:[ \\t]*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return (m?.[1] ?? "").trim();
}

test.skipIf(!isRoot)(
  "started as root: binds a port below 1024, chroots, drops to nobody:nogroup for good, keeps relaying and re-resolving names",
  async () => {
    const root = tempDir("plb-chroot-");
    chmodSync(root, 0o755);
    const dns = await dnsServer();
    const a = backend({ name: "A" });
    const b = backend({ name: "B" });
    const port = await privilegedPort();
    const plb = await startPlb(
      `
user = "nobody"
group = "nogroup"
chroot_dir = "${root}"
timeout_cleanup = "500ms"
[[service]]
name = "low"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}", "later.test:${b.port}"]
`,
      [],
      { env: { PLB_NAMESERVERS: `127.0.0.1:${dns.port}`, PLB_HOSTS: "/dev/null" } },
    );
    try {
      await plb.waitForLog(/running as nobody/);
      expect(statusField(plb.pid, "Uid").split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
      expect(statusField(plb.pid, "Gid").split(/\s+/)).toEqual(["65534", "65534", "65534", "65534"]);
      expect(statusField(plb.pid, "Groups")).toBe("");
      expect(readlinkSync(`/proc/${plb.pid}/root`)).toBe(root);
      expect((await request(port)).trim()).toBe("A");
      // the name did not resolve at start; after the chroot the probe still resolves it
      await plb.waitForLog(new RegExp(`later.test:${b.port} of "low" is down at start`));
      dns.zone.set("later.test", "127.0.0.1");
      await plb.waitForLog(new RegExp(`later.test:${b.port} of "low" is up again`), 3000);
      const replies = new Set([await request(port), await request(port), await request(port)].map((r) => r.trim()));
      expect(replies).toEqual(new Set(["A", "B"]));
      expect(await plb.stop()).toBe(0);
    } finally {
      await plb.stop();
      a.stop();
      b.stop();
      dns.close();
    }
  },
);

test.skipIf(!isRoot)("a user that does not exist is a configuration error found before binding (exit 1), never keeps running as root", async () => {
  const plb = await startPlb(
    `
user = "no-such-user-plb"
[[service]]
name = "x"
listen = ["127.0.0.1:0"]
servers = ["127.0.0.1:1"]
`,
    [],
    { waitReady: false },
  );
  expect(await plb.exited).toBe(1);
  expect(plb.log()).toContain(':2: user "no-such-user-plb" not found in /etc/passwd');
  expect(plb.log()).not.toContain("listening on");
});
