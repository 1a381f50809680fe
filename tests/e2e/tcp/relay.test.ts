import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes, createHash } from "node:crypto";
import { backend, request, transfer, type Backend } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { startPlb, type PlbProcess } from "../../support/plb.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("tcp relay", () => {
  let v4: Backend;
  let v6: Backend;
  let plb: PlbProcess;
  let p4: number;
  let p6: number;

  beforeAll(async () => {
    v4 = backend("echo");
    v6 = backend("echo", 0, "::1");
    p4 = await freePort();
    p6 = await freePort("::1");
    plb = await startPlb(`
[[service]]
name = "v4"
listen = ["127.0.0.1:${p4}"]
servers = ["[::1]:${v6.port}"]

[[service]]
name = "v6"
listen = ["[::1]:${p6}"]
servers = ["127.0.0.1:${v4.port}"]
`);
  });
  afterAll(async () => {
    await plb?.stop();
    v4?.stop();
    v6?.stop();
  });

  test("relays 50 MB each way byte-exact with half-close, IPv4 client to IPv6 server", async () => {
    const data = randomBytes(50 << 20);
    const got = await transfer(p4, data);
    expect(got.length).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
  });

  test("relays 50 MB each way byte-exact with half-close, IPv6 client to IPv4 server", async () => {
    const data = randomBytes(50 << 20);
    const got = await transfer(p6, data, "::1");
    expect(got.length).toBe(data.length);
    expect(sha(got)).toBe(sha(data));
  });

  test("a short exchange with an immediate half-close still gets the full reply", async () => {
    expect(await request(p4, "ping\n")).toBe("ping\n");
  });
});
