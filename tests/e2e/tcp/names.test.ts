import { expect, test } from "bun:test";
import { backend, request } from "../../support/backends.ts";
import { dnsServer } from "../../support/dns-server.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

test("a server name that does not resolve at start is down (logged, not fatal) and joins once the probe resolves it", async () => {
  const dns = await dnsServer();
  const a = backend({ name: "A" });
  const b = backend({ name: "B" });
  const listen = await freePort();
  const plb = await startPlb(
    `
timeout_cleanup = "500ms"
[[service]]
name = "n"
listen = ["127.0.0.1:${listen}"]
servers = ["late.test:${a.port}", "127.0.0.1:${b.port}"]
`,
    [],
    { env: { PLB_NAMESERVERS: `127.0.0.1:${dns.port}`, PLB_HOSTS: "/dev/null" } },
  );
  try {
    await plb.waitForLog(new RegExp(`server late.test:${a.port} of "n" is down at start: cannot resolve "late.test"`));
    expect((await request(listen)).trim()).toBe("B");
    expect((await request(listen)).trim()).toBe("B");
    dns.zone.set("late.test", "127.0.0.1");
    await plb.waitForLog(new RegExp(`server late.test:${a.port} of "n" is up again`), 3000);
    const replies = [await request(listen), await request(listen)].map((r) => r.trim()).sort();
    expect(replies).toEqual(["A", "B"]);
    expect(dns.queries).toContain("late.test");
  } finally {
    await plb.stop();
    a.stop();
    b.stop();
    dns.close();
  }
});
