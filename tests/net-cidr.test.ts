import { describe, expect, test } from "bun:test";
import { AddressSet, ipBytes, parseCidr } from "../src/net/cidr.ts";

const text = (t: string) => {
  const c = parseCidr(t);
  return typeof c === "string" ? `error: ${c}` : c.text;
};

describe("parseCidr", () => {
  test("IPv4 and IPv6 ranges come out canonical; a bare address is a range of one", () => {
    expect(text("10.0.0.0/8")).toBe("10.0.0.0/8");
    expect(text("192.0.2.7")).toBe("192.0.2.7/32");
    expect(text("0.0.0.0/0")).toBe("0.0.0.0/0");
    expect(text("2001:DB8:0:0::/32")).toBe("2001:db8::/32");
    expect(text("::1")).toBe("::1/128");
    expect(text("::/0")).toBe("::/0");
    expect(text("fe80::/10")).toBe("fe80::/10");
  });

  test("an IPv4-mapped IPv6 range is the IPv4 range it covers", () => {
    expect(text("::ffff:10.0.0.0/104")).toBe("10.0.0.0/8");
    expect(text("::ffff:192.0.2.7")).toBe("192.0.2.7/32");
  });

  test("bits set past the prefix are refused, naming the range meant", () => {
    expect(text("10.0.0.1/8")).toBe('error: "10.0.0.1/8" has bits set past its /8 prefix (the range is 10.0.0.0/8; a single address needs no prefix)');
    expect(text("192.168.1.130/25")).toContain("the range is 192.168.1.128/25");
    expect(text("2001:db8::1/32")).toContain("the range is 2001:db8::/32");
  });

  test("not an address, a bad prefix, leading zeros, host names and zones are refused", () => {
    for (const bad of ["", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/08", "10.0.0/8", "010.0.0.0/8", "256.0.0.0/8", "example.com", "::1/129", "fe80::1%eth0", "10.0.0.0/8 ", "1:2:3:4:5:6:7:8:9"]) {
      expect({ bad, out: text(bad).startsWith("error: ") }).toEqual({ bad, out: true });
    }
    expect(text("10.0.0.0/33")).toBe('error: "10.0.0.0/33": the prefix length must be a number from 0 to 32');
    expect(text("example.com")).toContain("is not an IP address or range");
  });
});

describe("AddressSet", () => {
  const set = AddressSet.of(["10.0.0.0/8", "192.168.1.128/25", "2001:db8::/32", "127.0.0.1"]);

  test("an address inside a range is in the set, one outside is not", () => {
    expect(set.has("10.255.3.4")).toBe(true);
    expect(set.has("11.0.0.1")).toBe(false);
    expect(set.has("192.168.1.128")).toBe(true);
    expect(set.has("192.168.1.255")).toBe(true);
    expect(set.has("192.168.1.127")).toBe(false);
    expect(set.has("127.0.0.1")).toBe(true);
    expect(set.has("127.0.0.2")).toBe(false);
    expect(set.has("2001:db8:ffff::1")).toBe(true);
    expect(set.has("2001:db9::1")).toBe(false);
  });

  test("an IPv4 client of a dual-stack listener matches the IPv4 ranges", () => {
    expect(set.has("::ffff:10.1.2.3")).toBe(true);
    expect(set.has("::ffff:127.0.0.1")).toBe(true);
    expect(set.has("::ffff:127.0.0.2")).toBe(false);
  });

  test("IPv4 ranges never match IPv6 addresses and the other way round", () => {
    const all4 = AddressSet.of(["0.0.0.0/0"]);
    expect(all4.has("203.0.113.9")).toBe(true);
    expect(all4.has("::1")).toBe(false);
    const all6 = AddressSet.of(["::/0"]);
    expect(all6.has("::1")).toBe(true);
    expect(all6.has("203.0.113.9")).toBe(false);
  });

  test("what is not an IP literal (a gone socket's empty address) is never in the set", () => {
    expect(AddressSet.of(["0.0.0.0/0", "::/0"]).has("")).toBe(false);
    expect(set.has("localhost")).toBe(false);
  });

  test("an invalid range is a programming error (the configuration checks them first)", () => {
    expect(() => AddressSet.of(["10.0.0.1/8"])).toThrow(RangeError);
  });

  test("ipBytes gives 4 bytes for IPv4 and IPv4-mapped addresses, 16 for IPv6", () => {
    expect([...ipBytes("::ffff:1.2.3.4")!]).toEqual([1, 2, 3, 4]);
    expect(ipBytes("::1")!.length).toBe(16);
    expect(ipBytes("1.2.3")).toBeUndefined();
  });
});
