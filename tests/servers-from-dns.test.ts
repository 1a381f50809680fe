import { describe, expect, test } from "bun:test";
import type { DnsSource } from "../src/config/types.ts";
import { refreshDelay, retryDelay } from "../src/discovery.ts";
import { describeServers, serversFrom } from "../src/servers/from-dns.ts";

const dns = (over: Partial<DnsSource> = {}): DnsSource => ({ kind: "dns", key: "dns web.test:8080", name: "web.test", port: 8080, weight: 1, backup: false, at: 0, ...over });
const srv = (over: Partial<DnsSource> = {}): DnsSource => ({ kind: "srv", key: "srv _http._tcp.web.test", name: "_http._tcp.web.test", port: 0, weight: 1, backup: false, at: 0, ...over });
const target = (priority: number, weight: number, port: number, ...addresses: string[]) => ({ priority, weight, port, target: `t${port}.test`, addresses });

describe("serversFrom: dns entries", () => {
  test("every address is a server on the entry's port, with its weight and backup flag; IPv6 in brackets", () => {
    expect(serversFrom(dns({ weight: 3, backup: true }), { addresses: ["127.0.0.2", "::1"] })).toEqual([
      { address: "127.0.0.2:8080", host: "127.0.0.2", port: 8080, weight: 3, backup: true, dnsName: "web.test" },
      { address: "[::1]:8080", host: "::1", port: 8080, weight: 3, backup: true, dnsName: "web.test" },
    ]);
  });
});

describe("serversFrom: srv entries", () => {
  test("the lowest priority value are the primaries, every other priority a backup; primaries first", () => {
    const out = serversFrom(srv(), { targets: [target(20, 5, 3, "10.0.0.3"), target(10, 5, 1, "10.0.0.1", "::1"), target(10, 5, 2, "10.0.0.2")] });
    expect(out.map((s) => [s.address, s.backup])).toEqual([
      ["10.0.0.1:1", false],
      ["[::1]:1", false],
      ["10.0.0.2:2", false],
      ["10.0.0.3:3", true],
    ]);
    // TLS to servers checks each one against the record's target
    expect(out.map((s) => s.dnsName)).toEqual(["t1.test", "t1.test", "t2.test", "t3.test"]);
  });

  test("weights up to 256 are kept, 0 counts as 1; larger ones are scaled so the largest is 256", () => {
    const weights = (...w: number[]) => serversFrom(srv(), { targets: w.map((x, i) => target(0, x, i + 1, "10.0.0.1")) }).map((s) => s.weight);
    expect(weights(10, 30)).toEqual([10, 30]);
    expect(weights(0, 1, 256)).toEqual([1, 1, 256]);
    expect(weights(0, 0)).toEqual([1, 1]);
    expect(weights(1000, 3000, 65535, 1)).toEqual([4, 12, 256, 1]);
  });

  test("backup = true on the entry makes every server a backup", () => {
    expect(serversFrom(srv({ backup: true }), { targets: [target(0, 1, 1, "10.0.0.1")] })[0]!.backup).toBe(true);
  });

  test("no records: no servers", () => {
    expect(serversFrom(srv(), { targets: [] })).toEqual([]);
    expect(describeServers([])).toBe("no server");
  });
});

describe("when a name is asked again", () => {
  const ttls = { dns_min_ttl: 1000, dns_max_ttl: 300_000 };
  test("at the TTL, clamped to dns_min_ttl..dns_max_ttl", () => {
    expect(refreshDelay(30, ttls)).toBe(30_000);
    expect(refreshDelay(0, ttls)).toBe(1000);
    expect(refreshDelay(86_400, ttls)).toBe(300_000);
  });
  test("after failures: dns_min_ttl, doubling, at most 30 s (or dns_max_ttl when lower, dns_min_ttl when higher)", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map((n) => retryDelay(n, ttls))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
    expect(retryDelay(9, { dns_min_ttl: 100, dns_max_ttl: 500 })).toBe(500);
    expect(retryDelay(9, { dns_min_ttl: 60_000, dns_max_ttl: 300_000 })).toBe(60_000);
  });
});
