import { describe, expect, test } from "bun:test";
import { isHostName, isIPv4, isIPv6, listenOverlaps, parseListen, parseNameserver, parseServerAddress } from "../src/config/address.ts";
import type { ListenAddress } from "../src/config/types.ts";

function listen(text: string): ListenAddress {
  const r = parseListen(text);
  if (typeof r === "string") throw new Error(`unexpected error for ${text}: ${r}`);
  return r;
}

describe("parseListen", () => {
  test.each([
    ["127.0.0.1:8080", "127.0.0.1", 8080],
    ["0.0.0.0:80", "0.0.0.0", 80],
    ["[::1]:8080", "::1", 8080],
    ["[::]:8080", "::", 8080],
    ["*:8080", "::", 8080],
    ["localhost:8080", "127.0.0.1", 8080],
    ["LocalHost:1", "127.0.0.1", 1],
    ["[0:0::1]:443", "::1", 443],
    ["[FE80::AB]:443", "fe80::ab", 443],
    ["10.1.2.3:65535", "10.1.2.3", 65535],
    ["127.0.0.1:0", "127.0.0.1", 0],
    ["127.0.0.1:08080", "127.0.0.1", 8080],
  ])("%p → host %p port %p", (text, host, port) => {
    expect(listen(text)).toEqual({ host, port, text });
  });

  test.each([
    ["127.0.0.1:99999", "port 99999 is out of range (0-65535)"],
    ["127.0.0.1:65536", "port 65536 is out of range (0-65535)"],
    ["127.0.0.1", 'missing port in "127.0.0.1"'],
    ["127.0.0.1:", 'missing port in "127.0.0.1:"'],
    ["nonsense", 'missing port in "nonsense"'],
    ["127.0.0.1:http", 'port "http" is not a number'],
    ["127.0.0.1:-1", 'port "-1" is not a number'],
    [":8080", 'missing host in ":8080"'],
    ["::1:8080", 'IPv6 addresses need brackets: write "[::1]:8080"'],
    ["::1", 'missing port in "::1" (IPv6 needs brackets and a port'],
    ["a:b:c", 'too many ":"'],
    ["[::1]", 'missing port in "[::1]"'],
    ["[::1]8080", 'expected ":port" after "]"'],
    ["[::1:8080", 'missing "]"'],
    ["[1.2.3.4]:80", '"1.2.3.4" is not a valid IPv6 address'],
    ["[fe80::1%eth0]:80", "zone ids"],
    ["300.1.1.1:80", '"300.1.1.1" is not a valid IPv4 address'],
    ["example.com:80", 'listen host "example.com" must be an IP address, "*" or "localhost"'],
    ["", "address is empty"],
    ["127.0.0.1 :80", "must not contain spaces"],
  ])("rejects %p", (text, fragment) => {
    const r = parseListen(text);
    expect(typeof r).toBe("string");
    expect(r as string).toContain(fragment);
  });

  test("rejects non-strings", () => {
    expect(parseListen(8080)).toBe("address must be a string, got number");
  });
});

describe("parseServerAddress", () => {
  test.each([
    ["10.0.0.2:80", "10.0.0.2", 80],
    ["[::1]:80", "::1", 80],
    ["[2001:DB8::0:1]:5432", "2001:db8::1", 5432],
    ["host.name:80", "host.name", 80],
    ["db.example:5432", "db.example", 5432],
    ["my_db:3306", "my_db", 3306],
    ["web-1.internal.:8080", "web-1.internal.", 8080],
    ["localhost:1", "localhost", 1],
    ["x:65535", "x", 65535],
  ])("%p → host %p port %p", (text, host, port) => {
    expect(parseServerAddress(text)).toEqual({ host, port });
  });

  test.each([
    ["10.0.0.2:0", "port 0 is out of range (1-65535)"],
    ["10.0.0.2:99999", "port 99999 is out of range (1-65535)"],
    ["10.0.0.2", 'missing port in "10.0.0.2" (expected host:port, e.g. "10.0.0.2:80")'],
    ["nonsense", 'missing port in "nonsense"'],
    ["host:abc", 'port "abc" is not a number'],
    ["::1:80", 'IPv6 addresses need brackets: write "[::1]:80"'],
    [":80", 'missing host in ":80"'],
    ["*:80", '"*" is only valid in listen addresses'],
    ["bad_host!:80", 'invalid host name "bad_host!"'],
    ["-lead.example:80", 'invalid host name "-lead.example"'],
    ["a..b:80", 'invalid host name "a..b"'],
    [`${"a".repeat(64)}.example:80`, "invalid host name"],
    ["10.0.0.256:80", '"10.0.0.256" is not a valid IPv4 address'],
    ["1.2.3:80", '"1.2.3" is not a valid IPv4 address'],
    ["[nope]:80", '"nope" is not a valid IPv6 address'],
  ])("rejects %p", (text, fragment) => {
    const r = parseServerAddress(text);
    expect(typeof r).toBe("string");
    expect(r as string).toContain(fragment);
  });
});

describe("parseNameserver", () => {
  test.each([
    ["10.0.0.2", "10.0.0.2", 53],
    ["10.0.0.2:5353", "10.0.0.2", 5353],
    ["::1", "::1", 53],
    ["0:0::1", "::1", 53],
    ["[::1]:5353", "::1", 5353],
  ])("%s", (text, host, port) => expect(parseNameserver(text)).toEqual({ host, port }));

  test.each([
    ["ns.example", "is not an IP address"],
    ["10.0.0.2:0", "out of range"],
    ["10.0.0.2:", "missing port"],
    // found by npm run fuzz: isIP read "eth0:8" as a zone id, so this was an address on port 53
    ["fe0:0:0:0:4f:0:efa8:0%eth0:8", "zone ids"],
    ["fe80::1%eth0", "zone ids"],
    ["[fe80::1%eth0]:53", "zone ids"],
  ])("rejects %s", (text, fragment) => expect(parseNameserver(text) as string).toContain(fragment));
});

describe("helpers", () => {
  test("isIPv4 / isIPv6 / isHostName", () => {
    expect(isIPv4("1.2.3.4")).toBe(true);
    expect(isIPv4("::1")).toBe(false);
    expect(isIPv6("::1")).toBe(true);
    expect(isIPv6("1.2.3.4")).toBe(false);
    expect(isHostName("db.example")).toBe(true);
    expect(isHostName("1.2.3.4")).toBe(false);
    expect(isHostName("a b")).toBe(false);
    expect(isHostName(`${"a".repeat(63)}.b`)).toBe(true);
    expect(isHostName(`${"a".repeat(64)}.b`)).toBe(false);
  });
});

describe("listenOverlaps", () => {
  test.each([
    ["127.0.0.1:80", "127.0.0.1:80", true],
    ["127.0.0.1:80", "127.0.0.1:81", false],
    ["127.0.0.1:80", "127.0.0.2:80", false],
    ["*:80", "127.0.0.1:80", true],
    ["[::]:80", "[::1]:80", true],
    ["[::]:80", "10.0.0.1:80", true],
    ["*:80", "[::]:80", true],
    ["0.0.0.0:80", "127.0.0.1:80", true],
    ["0.0.0.0:80", "[::1]:80", false],
    ["0.0.0.0:80", "*:80", true],
    ["[::1]:80", "[0::1]:80", true],
    ["[::1]:80", "127.0.0.1:80", false],
    ["localhost:80", "127.0.0.1:80", true],
    ["127.0.0.1:0", "127.0.0.1:0", false],
  ] as [string, string, boolean][])("%p vs %p → %p", (a, b, expected) => {
    expect(listenOverlaps(listen(a), listen(b))).toBe(expected);
    expect(listenOverlaps(listen(b), listen(a))).toBe(expected);
  });
});
