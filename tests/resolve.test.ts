import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TCPSocketListener } from "bun";
import { PlbError } from "../src/errors.ts";
import { Resolver } from "../src/net/resolve.ts";

// ---------------------------------------------------------------- a tiny DNS server on loopback

interface Rrset {
  a?: string[];
  aaaa?: string[];
  cname?: string;
  ttl?: number;
}

const ZONE: Record<string, Rrset> = {
  "web.test": { a: ["10.0.0.1", "10.0.0.2"], aaaa: ["2001:db8::1"], ttl: 300 },
  "alias.test": { cname: "web.test", ttl: 30 },
  "v4only.test": { a: ["10.0.0.4"] },
  "db.corp.test": { a: ["10.0.0.7"] },
  "nottl.test": { a: ["10.0.0.8"], ttl: 0 },
  "spoof.test": { a: ["10.0.0.9"] },
  "big.test": { a: ["10.0.1.1", "10.0.1.2"], aaaa: ["2001:db8::b"] },
  "empty.test": {},
};
// silent.test: never answered; refused.test: REFUSED; big.test: TC over UDP; anything else: NXDOMAIN.

interface DnsServer {
  port: number;
  /** "name/A" or "name/AAAA" per query received, "/tcp" appended for TCP. */
  log: string[];
  count(name: string): number;
  close(): void;
}

const u16 = (n: number) => [n >>> 8, n & 0xff];

function v6bytes(s: string): number[] {
  const [head = "", tail = ""] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.flatMap((g) => u16(parseInt(g, 16)));
}

/** Answer a query; undefined means "stay silent". */
function answer(query: Uint8Array, log: string[], overTcp: boolean, rrsetsFor = ZONE): Uint8Array | undefined {
  const labels: string[] = [];
  let at = 12;
  while (query[at]! > 0) {
    labels.push(new TextDecoder().decode(query.subarray(at + 1, at + 1 + query[at]!)));
    at += 1 + query[at]!;
  }
  const qtype = (query[at + 1]! << 8) | query[at + 2]!;
  const qend = at + 5;
  const name = labels.join(".").toLowerCase();
  log.push(`${name}/${qtype === 1 ? "A" : "AAAA"}${overTcp ? "/tcp" : ""}`);
  if (name === "silent.test") return undefined;

  let flags = 0x8180;
  const answers: number[][] = [];
  const rr = (owner: number[], type: number, ttl: number, rdata: number[]) =>
    answers.push([...owner, ...u16(type), 0, 1, 0, 0, ...u16(ttl), ...u16(rdata.length), ...rdata]);
  let set = rrsetsFor[name];
  let owner = [0xc0, 12];
  if (name === "refused.test") flags |= 5;
  else if (name === "big.test" && !overTcp) flags |= 0x0200;
  else if (set === undefined) flags |= 3;
  else {
    if (set.cname !== undefined) {
      const target = set.cname.split(".").flatMap((l) => [l.length, ...Array.from(l, (c) => c.charCodeAt(0))]);
      rr(owner, 5, set.ttl ?? 60, [...target, 0]);
      owner = [...target, 0];
      set = rrsetsFor[set.cname] ?? {};
    }
    for (const ip of qtype === 1 ? (set.a ?? []) : (set.aaaa ?? [])) {
      rr(owner, qtype, set.ttl ?? 60, qtype === 1 ? ip.split(".").map(Number) : v6bytes(ip));
    }
  }
  const head = [query[0]!, query[1]!, ...u16(flags), 0, 1, ...u16(answers.length), 0, 0, 0, 0];
  return new Uint8Array([...head, ...query.subarray(12, qend), ...answers.flat()]);
}

async function startDns(hostname = "127.0.0.1"): Promise<DnsServer> {
  const log: string[] = [];
  for (let tries = 0; ; tries++) {
    const forger = await Bun.udpSocket({ hostname });
    const udp = await Bun.udpSocket({
      hostname,
      binaryType: "uint8array",
      socket: {
        data(sock, buf, port, addr) {
          const reply = answer(buf, log, false);
          if (reply === undefined) return;
          if (log.at(-1) === "spoof.test/A") {
            // A forged reply from another port, and a reply with the wrong id: both must be ignored.
            const fake = answer(buf, [], false, { "spoof.test": { a: ["6.6.6.6"] } })!;
            forger.send(fake, port, addr);
            const wrongId = fake.slice();
            wrongId[0]! ^= 0xff;
            sock.send(wrongId, port, addr);
          }
          sock.send(reply, port, addr);
        },
      },
    });
    let tcp: TCPSocketListener<undefined>;
    try {
      tcp = Bun.listen({
        hostname,
        port: udp.port, // TCP fallback lives on the same port number, as in real DNS
        socket: {
          data(sock, chunk) {
            const reply = answer(new Uint8Array(chunk).subarray(2), log, true);
            if (reply !== undefined) sock.write(new Uint8Array([...u16(reply.length), ...reply]));
          },
        },
      });
    } catch (err) {
      udp.close();
      forger.close();
      if (tries < 10) continue;
      throw err;
    }
    return {
      port: udp.port,
      log,
      count: (name) => log.filter((q) => q.startsWith(`${name}/`)).length,
      close() {
        udp.close();
        forger.close();
        tcp.stop(true);
      },
    };
  }
}

// ---------------------------------------------------------------- tests

let dns: DnsServer;
let ns: string;
beforeAll(async () => {
  dns = await startDns();
  ns = `127.0.0.1:${dns.port}`;
});
afterAll(() => dns.close());

const fast = (extra: ConstructorParameters<typeof Resolver>[0] = {}) =>
  new Resolver({ nameservers: [ns], timeoutMs: 150, attempts: 1, ...extra });

async function rejection(p: Promise<unknown>): Promise<PlbError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(PlbError);
    return err as PlbError;
  }
  throw new Error("expected a rejection");
}

describe("Resolver over UDP", () => {
  test("A and AAAA, IPv4 first", async () => {
    expect(await fast().resolve("web.test")).toEqual(["10.0.0.1", "10.0.0.2", "2001:db8::1"]);
    expect(await fast().resolve("WEB.test.")).toEqual(["10.0.0.1", "10.0.0.2", "2001:db8::1"]);
    expect(await fast().resolve("v4only.test")).toEqual(["10.0.0.4"]);
  });

  test("follows a CNAME in the response", async () => {
    expect(await fast().resolve("alias.test")).toEqual(["10.0.0.1", "10.0.0.2", "2001:db8::1"]);
  });

  test("caches by TTL, capped; shares concurrent lookups", async () => {
    const r = fast({ maxCacheMs: 80 });
    const before = dns.count("web.test");
    const [a, b] = await Promise.all([r.resolve("web.test"), r.resolve("web.test")]);
    expect(a).toEqual(b);
    expect(await r.resolve("web.test")).toEqual(a);
    expect(dns.count("web.test") - before).toBe(2); // one A + one AAAA for three calls
    await Bun.sleep(100); // past the 80 ms cap though the TTL is 300 s
    await r.resolve("web.test");
    expect(dns.count("web.test") - before).toBe(4);

    const n = dns.count("nottl.test");
    await r.resolve("nottl.test");
    await r.resolve("nottl.test");
    expect(dns.count("nottl.test") - n).toBe(4); // TTL 0: never cached
  });

  test("hosts snapshot wins over DNS; localhost needs no DNS", async () => {
    const r = fast({ hosts: new Map([["web.test", ["::1", "192.0.2.50"]]]) });
    const before = dns.log.length;
    expect(await r.resolve("Web.Test")).toEqual(["192.0.2.50", "::1"]);
    expect(await r.resolve("localhost")).toEqual(["127.0.0.1", "::1"]);
    expect(dns.log.length).toBe(before);
  });

  test("IP literals come back as they are, without a query", async () => {
    const before = dns.log.length;
    const r = fast();
    expect(await r.resolve("192.0.2.7")).toEqual(["192.0.2.7"]);
    expect(await r.resolve("2001:db8::7")).toEqual(["2001:db8::7"]);
    expect(await r.resolve("[::1]")).toEqual(["::1"]);
    expect(dns.log.length).toBe(before);
  });

  test("search list and ndots for short names", async () => {
    const r = fast({ search: ["corp.test"], ndots: 1 });
    const before = dns.log.length;
    expect(await r.resolve("db")).toEqual(["10.0.0.7"]);
    expect(dns.log.slice(before)).toEqual(expect.arrayContaining(["db.corp.test/A", "db.corp.test/AAAA"]));
    expect(dns.log.slice(before)).toHaveLength(2);
    // One dot ≥ ndots: the name as given first; the search list after it.
    const mark = dns.log.length;
    expect(await r.resolve("web.test")).toEqual(["10.0.0.1", "10.0.0.2", "2001:db8::1"]);
    expect(dns.log.slice(mark).every((q) => q.startsWith("web.test/"))).toBe(true);
    // A trailing dot means "exactly this name".
    expect((await rejection(r.resolve("db."))).message).toBe('cannot resolve "db.": no such host (NXDOMAIN)');
  });

  test("NXDOMAIN rejects with PlbError RESOLVE", async () => {
    const err = await rejection(fast().resolve("nope.test"));
    expect(err.code).toBe("RESOLVE");
    expect(err.message).toBe('cannot resolve "nope.test": no such host (NXDOMAIN)');
  });

  test("invalid names reject without a query", async () => {
    const before = dns.log.length;
    for (const bad of ["", "two words", "a..b", "ünïcode.test", `${"x".repeat(64)}.test`]) {
      expect((await rejection(fast().resolve(bad))).message).toContain("not a valid host name");
    }
    expect(dns.log.length).toBe(before);
  });

  test("a server that never answers times out after timeout × attempts", async () => {
    const r = fast({ timeoutMs: 60, attempts: 2 });
    const before = dns.count("silent.test");
    const t0 = performance.now();
    const err = await rejection(r.resolve("silent.test"));
    const took = performance.now() - t0;
    expect(err.message).toBe(`cannot resolve "silent.test": ${ns}: timed out after 60 ms`);
    expect(took).toBeGreaterThanOrEqual(110);
    expect(took).toBeLessThan(1000);
    expect(dns.count("silent.test") - before).toBe(4);
  });

  test("falls over to the next nameserver", async () => {
    const deaf = await Bun.udpSocket({ hostname: "127.0.0.1" }); // receives, never replies
    try {
      const r = new Resolver({ nameservers: [`127.0.0.1:${deaf.port}`, ns], timeoutMs: 60, attempts: 1 });
      expect(await r.resolve("v4only.test")).toEqual(["10.0.0.4"]);
      const refused = new Resolver({ nameservers: [ns, `127.0.0.1:${deaf.port}`], timeoutMs: 60, attempts: 1 });
      const err = await rejection(refused.resolve("refused.test"));
      expect(err.message).toBe(`cannot resolve "refused.test": 127.0.0.1:${deaf.port}: timed out after 60 ms`);
      const only = await rejection(fast().resolve("refused.test"));
      expect(only.message).toBe(`cannot resolve "refused.test": ${ns}: REFUSED`);
    } finally {
      deaf.close();
    }
  });

  test("a closed port (ICMP port unreachable) is a failure, not a crash", async () => {
    const gone = await Bun.udpSocket({ hostname: "127.0.0.1" });
    const port = gone.port;
    gone.close();
    const r = new Resolver({ nameservers: [`127.0.0.1:${port}`], timeoutMs: 100, attempts: 2 });
    const err = await rejection(r.resolve("web.test"));
    // Refused when the kernel's ICMP rate limit lets the error through, a timeout otherwise.
    expect(err.message).toMatch(/^cannot resolve "web.test": 127\.0\.0\.1:\d+: (ECONNREFUSED|timed out)/);
    await Bun.sleep(20); // late ICMP errors would surface here as uncaught
  });

  test("ignores replies with a wrong id or from a wrong port", async () => {
    expect(await fast().resolve("spoof.test")).toEqual(["10.0.0.9"]);
  });

  test("a truncated UDP reply is retried over TCP", async () => {
    const before = dns.log.length;
    expect(await fast().resolve("big.test")).toEqual(["10.0.1.1", "10.0.1.2", "2001:db8::b"]);
    expect(dns.log.slice(before).sort()).toEqual(["big.test/A", "big.test/A/tcp", "big.test/AAAA", "big.test/AAAA/tcp"]);
  });

  test("[::1]:port nameserver form", async () => {
    let v6: DnsServer;
    try {
      v6 = await startDns("::1");
    } catch {
      return; // no IPv6 loopback here
    }
    try {
      const r = new Resolver({ nameservers: [`[::1]:${v6.port}`], timeoutMs: 150, attempts: 1 });
      expect(await r.resolve("v4only.test")).toEqual(["10.0.0.4"]);
    } finally {
      v6.close();
    }
  });

  test("bad nameserver specs are config errors", () => {
    for (const bad of ["dns.example", "1.2.3.4:0", "1.2.3.4:70000", "[::1", "::1:53:"]) {
      expect(() => new Resolver({ nameservers: [bad] })).toThrow(PlbError);
    }
  });
});

describe("Resolver.lookup (servers from DNS): what came back, uncached", () => {
  test("every address with the smallest TTL, asked each time", async () => {
    const r = fast();
    const before = dns.count("web.test");
    expect(await r.lookup("web.test")).toEqual({ kind: "ok", value: ["10.0.0.1", "10.0.0.2", "2001:db8::1"], ttl: 300 });
    expect(await r.lookup("alias.test")).toEqual({ kind: "ok", value: ["10.0.0.1", "10.0.0.2", "2001:db8::1"], ttl: 30 });
    await r.lookup("web.test");
    expect(dns.count("web.test") - before).toBe(4);
  });

  test("NXDOMAIN, no records, and failures are told apart", async () => {
    expect(await fast().lookup("nosuch.test")).toEqual({ kind: "nxdomain" });
    expect(await fast().lookup("empty.test")).toEqual({ kind: "nodata" });
    expect(await fast().lookup("refused.test")).toEqual({ kind: "fail", reason: `${ns}: REFUSED` });
    expect(await fast().lookup("silent.test")).toEqual({ kind: "fail", reason: `${ns}: timed out after 150 ms` });
  });

  test("a truncated answer is asked again over TCP; the hosts snapshot and IP literals need no query", async () => {
    expect(await fast().lookup("big.test")).toMatchObject({ kind: "ok", value: ["10.0.1.1", "10.0.1.2", "2001:db8::b"] });
    const before = dns.log.length;
    const r = fast({ hosts: new Map([["db.internal", ["10.9.9.9"]]]) });
    expect(await r.lookup("DB.internal.")).toMatchObject({ kind: "ok", value: ["10.9.9.9"] });
    expect(await r.lookup("10.1.2.3")).toMatchObject({ kind: "ok", value: ["10.1.2.3"] });
    expect(dns.log.length).toBe(before);
  });

  test("knows what resolve knows without DNS: localhost and bracketed IPv6 literals", async () => {
    const before = dns.log.length;
    const r = fast();
    for (const host of ["localhost", "api.localhost."]) expect(await r.lookup(host)).toMatchObject({ kind: "ok", value: ["127.0.0.1", "::1"] });
    expect(await r.lookup("[::1]")).toMatchObject({ kind: "ok", value: ["::1"] });
    expect(await r.lookup("bad name")).toEqual({ kind: "fail", reason: '"bad name" is not a valid host name' });
    expect(dns.log.length).toBe(before);
  });
});

describe("Resolver.fromSystem", () => {
  test("snapshots the files at construction; later changes and removal do not matter", async () => {
    const dir = mkdtempSync(join(tmpdir(), "plb-resolve-"));
    const resolvConf = join(dir, "resolv.conf");
    const hosts = join(dir, "hosts");
    writeFileSync(resolvConf, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    writeFileSync(hosts, "10.9.9.9 backend.internal backend\n");
    const r = Resolver.fromSystem({ resolvConf, hosts });
    rmSync(dir, { recursive: true }); // as good as a chroot
    expect(await r.resolve("backend.internal")).toEqual(["10.9.9.9"]);
    expect(await r.resolve("BACKEND")).toEqual(["10.9.9.9"]);
  });

  test("missing files mean defaults, not an error", () => {
    expect(() => Resolver.fromSystem({ resolvConf: "/nonexistent/resolv.conf", hosts: "/nonexistent/hosts" })).not.toThrow();
  });
});

test("a process that resolved names can exit on its own (no leaked handles)", async () => {
  const script = `
    import { Resolver } from ${JSON.stringify(join(import.meta.dir, "../src/net/resolve.ts"))};
    const r = new Resolver({ nameservers: [${JSON.stringify(ns)}], timeoutMs: 50, attempts: 1 });
    console.log((await r.resolve("web.test")).join(","));
    console.log((await r.resolve("big.test")).join(","));
    console.log(await r.resolve("silent.test").catch((e) => e.code));
    const closed = await Bun.udpSocket({});
    const port = closed.port;
    closed.close();
    const down = new Resolver({ nameservers: ["127.0.0.1:" + port], timeoutMs: 50, attempts: 2 });
    console.log(await down.resolve("web.test").catch((e) => e.code));
  `;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const killer = setTimeout(() => proc.kill(), 5000);
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  clearTimeout(killer);
  expect(out.trim().split("\n")).toEqual(["10.0.0.1,10.0.0.2,2001:db8::1", "10.0.1.1,10.0.1.2,2001:db8::b", "RESOLVE", "RESOLVE"]);
  expect(code).toBe(0);
});
