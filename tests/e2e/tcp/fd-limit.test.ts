import { expect, test } from "bun:test";
import type { Socket } from "bun";
import { backend, request } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb } from "../../support/plb.ts";

test("running out of file descriptors refuses new clients but never marks a healthy server down", async () => {
  const a = backend("echo");
  const port = await freePort();
  const plb = await startPlb(
    `
[[service]]
name = "fd"
listen = ["127.0.0.1:${port}"]
servers = ["127.0.0.1:${a.port}"]
`,
    [],
    { maxFiles: 100 },
  );
  const held: Socket[] = [];
  try {
    // hold far more connections than 100 descriptors allow (2 per client)
    let closedEarly = 0;
    for (let i = 0; i < 60; i++) {
      const s = await Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          data() {},
          close() {
            closedEarly++;
          },
          error() {},
        },
      }).catch(() => undefined);
      if (s) held.push(s);
    }
    for (let i = 0; i < 100 && closedEarly === 0; i++) await Bun.sleep(20);
    expect(closedEarly).toBeGreaterThan(0); // the limit was really reached
    await plb.waitForLog(/out of file descriptors/);
    expect(plb.log()).not.toMatch(/is down/);
    for (const s of held) s.end();
    await Bun.sleep(200);
    expect(await request(port, "still serving\n")).toBe("still serving\n");
  } finally {
    for (const s of held) s.end();
    await plb.stop();
    a.stop();
  }
});
