import { expect, test } from "bun:test";
import { canonicalIPv6 } from "../src/net/ipv6.ts";

test("canonicalIPv6 gives the RFC 5952 form", () => {
  expect(canonicalIPv6("0:0::01")).toBe("::1");
  expect(canonicalIPv6("FE80::1")).toBe("fe80::1");
  expect(canonicalIPv6("2001:db8:0:0:0:0:0:1")).toBe("2001:db8::1");
  expect(canonicalIPv6("::FFFF:10.0.0.1")).toBe("::ffff:a00:1");
});

test("canonicalIPv6 only lowercases what the URL parser refuses (zone ids)", () => {
  expect(canonicalIPv6("FE80::1%Eth0")).toBe("fe80::1%eth0");
});
