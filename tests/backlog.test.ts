/** setBacklog(): the accept-queue limit Bun fixes at 512 is changed on the real socket. */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { PlbError } from "../src/errors.ts";
import { addressBytes, findListenerFds, setBacklog } from "../src/net/backlog.ts";
import * as libc from "../src/process/libc.ts";

const listeners: { stop(closeActive?: boolean): void }[] = [];

afterAll(() => {
  for (const l of listeners) l.stop(true);
});

function listen(hostname: string) {
  const listener = Bun.listen({ hostname, port: 0, socket: { data() {} } });
  listeners.push(listener);
  return listener;
}

/**
 * [local address, Send-Q] of every LISTEN socket on `port` of this process as `ss` reports them
 * (another process on a shared machine may listen on the same port at another address).
 */
function ssListen(port: number): [string, number][] {
  const out = Bun.spawnSync(["ss", "-ltnpH", `sport = :${port}`]).stdout.toString();
  return out
    .trim()
    .split("\n")
    .filter((line) => line.startsWith("LISTEN") && line.includes(`pid=${process.pid},`))
    .map((line) => {
      const f = line.trim().split(/\s+/);
      return [f[3] ?? "", Number(f[2])];
    });
}

function expectListenFailed(run: () => void, text: string): void {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(PlbError);
  expect((caught as PlbError).code).toBe("LISTEN_FAILED");
  expect((caught as PlbError).message).toContain(text);
}

describe("setBacklog", () => {
  test("IPv4 listener: Send-Q goes from Bun's 512 to 17", () => {
    const l = listen("127.0.0.1");
    expect(ssListen(l.port)).toEqual([[`127.0.0.1:${l.port}`, 512]]);
    setBacklog(l, 17);
    expect(ssListen(l.port)).toEqual([[`127.0.0.1:${l.port}`, 17]]);
  });

  test("IPv6 listener on ::1", () => {
    const l = listen("::1");
    expect(ssListen(l.port)).toEqual([[`[::1]:${l.port}`, 512]]);
    setBacklog(l, 17);
    expect(ssListen(l.port)).toEqual([[`[::1]:${l.port}`, 17]]);
  });

  test("without Bun's fd: found by scanning descriptors, accepted connections ignored", async () => {
    const accepted = Promise.withResolvers<void>();
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: () => accepted.resolve(), data() {} } });
    listeners.push(l);
    const other = listen("::"); // another listener, other port: must stay at 512
    const client = await Bun.connect({ hostname: "127.0.0.1", port: l.port, socket: { data() {} } });
    await accepted.promise;
    // The accepted socket shares the listener's local address and port.
    const samePort = readdirSync("/proc/self/fd").filter((fd) => {
      try {
        return libc.getsockname(Number(fd)).port === l.port;
      } catch {
        return false;
      }
    });
    expect(samePort.length).toBeGreaterThanOrEqual(2);
    expect(findListenerFds({ hostname: l.hostname, port: l.port })).toEqual([(l as unknown as { fd: number }).fd]);
    setBacklog({ hostname: "127.0.0.1", port: l.port }, 23);
    expect(ssListen(l.port)).toEqual([[`127.0.0.1:${l.port}`, 23]]);
    expect(ssListen(other.port)[0]?.[1]).toBe(512);
    client.end();
  });

  test("dual-stack :: listener", () => {
    const l = listen("::");
    setBacklog(l, 31);
    expect(ssListen(l.port)).toEqual([[`*:${l.port}`, 31]]);
  });

  test("a value above net.core.somaxconn is capped by the kernel", () => {
    const cap = Number(readFileSync("/proc/sys/net/core/somaxconn", "utf8"));
    const l = listen("127.0.0.1");
    setBacklog(l, cap + 1000);
    expect(ssListen(l.port)[0]?.[1]).toBe(cap);
  });

  test("no listening socket on that address and port: LISTEN_FAILED", () => {
    const l = listen("127.0.0.1");
    expectListenFailed(() => setBacklog({ hostname: "127.0.0.2", port: l.port }, 10), "no listening socket");
    expectListenFailed(() => setBacklog({ hostname: "::1", port: l.port }, 10), "no listening socket");
  });

  test("a backlog that is not a positive integer is refused", () => {
    const l = listen("127.0.0.1");
    expectListenFailed(() => setBacklog(l, 0), "positive integer");
    expectListenFailed(() => setBacklog(l, 1.5), "positive integer");
    expect(ssListen(l.port)[0]?.[1]).toBe(512);
  });
});

test("addressBytes parses IPv4, IPv6 and v4-mapped literals", () => {
  const hex = (a: string) => Buffer.from(addressBytes(a) ?? []).toString("hex");
  expect(hex("10.1.2.3")).toBe("0a010203");
  expect(hex("::1")).toBe(`${"0".repeat(31)}1`);
  expect(hex("[2001:db8::8:800:200c:417a]")).toBe("20010db80000000000080800200c417a");
  expect(hex("::ffff:127.0.0.1")).toBe("00000000000000000000ffff7f000001");
  expect(addressBytes("localhost")).toBeUndefined();
});
