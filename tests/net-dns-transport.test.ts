/** The DNS transport's pure part; exchanges with real nameservers on loopback are in resolve.test.ts. */
import { expect, test } from "bun:test";
import { PlbError } from "../src/errors.ts";
import { parseNameserverSpec } from "../src/net/dns-transport.ts";

test("parseNameserverSpec: an IP address with an optional port, IPv6 canonical, port 53 by default", () => {
  expect(parseNameserverSpec("10.0.0.2")).toEqual({ host: "10.0.0.2", port: 53, label: "10.0.0.2:53" });
  expect(parseNameserverSpec("10.0.0.2:5353")).toEqual({ host: "10.0.0.2", port: 5353, label: "10.0.0.2:5353" });
  expect(parseNameserverSpec("0:0::1")).toEqual({ host: "::1", port: 53, label: "[::1]:53" });
  expect(parseNameserverSpec("[::1]:5353")).toEqual({ host: "::1", port: 5353, label: "[::1]:5353" });
  // resolv.conf may name a link-local server with its zone: kept (lowercased).
  expect(parseNameserverSpec("FE80::1%eth0").host).toBe("fe80::1%eth0");
});

test("parseNameserverSpec refuses names and bad ports with CONFIG_INVALID", () => {
  for (const spec of ["dns.example", "10.0.0.2:0", "10.0.0.2:65536", "[::1]:x", ""]) {
    let err: unknown;
    try {
      parseNameserverSpec(spec);
    } catch (e) {
      err = e;
    }
    expect(err, spec).toBeInstanceOf(PlbError);
    expect((err as PlbError).code, spec).toBe("CONFIG_INVALID");
  }
});
