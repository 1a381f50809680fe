/**
 * The fuzzer (fuzz/), bounded: 10^4 inputs per parser with a fixed seed, so
 * that `npm test` is deterministic; `npm run fuzz -- --iterations 1000000`
 * is the long run. Each parser must pass every oracle and reach each of its
 * result kinds often enough (a generator that stopped producing valid input
 * would otherwise pass silently). Then the library itself: seeds reproduce,
 * a planted bug is found and shrunk, the references reject what they should.
 */
import { describe, expect, test } from "bun:test";
import { behaviourKey, ensure, fuzz, measure, same, type Target } from "../fuzz/driver.ts";
import { referenceDuration, referenceListen, referenceServer, toToml } from "../fuzz/formats/config.ts";
import { referenceDecode } from "../fuzz/formats/dns.ts";
import { referenceResponse } from "../fuzz/formats/http.ts";
import { format6, parse4, parse6 } from "../fuzz/formats/ip.ts";
import { referenceProxy } from "../fuzz/formats/proxy.ts";
import { referenceReply } from "../fuzz/formats/smtp.ts";
import { mutate } from "../fuzz/mutate.ts";
import { latin1, rng, text } from "../fuzz/rng.ts";
import { shrink } from "../fuzz/shrink.ts";
import { TARGETS } from "../fuzz/targets.ts";
import { parseConfig } from "../src/config/load.ts";

const SEED = 20261201;
const N = 10_000;

/** Result kinds each parser must reach in at least 1% of its inputs. */
const KINDS: Record<string, string[]> = {
  "http-request": ["done", "error", "more"],
  "http-response": ["done", "error", "more"],
  "http-chunked": ["done", "error", "more"],
  "http-field-lines": ["written", "TypeError"],
  "smtp-reply": ["done", "error", "more"],
  "smtp-commands": ["ehlo", "reply", "lines"],
  "proxy-parse": ["done", "error", "more"],
  "proxy-write": ["written", "RangeError"],
  "dns-response": ["done", "error"],
  "dns-query": ["done", "error"],
  "config-duration": ["done", "error"],
  "config-address": ["listen/server", "-/server", "-/-"],
  "config-cidr": ["inside", "outside", "error"],
  "config-toml": ["done", "invalid", "syntax"],
  routes: ["matched", "unmatched", "invalid", "syntax"],
  "tls-client-hello": ["done", "error", "more"],
  "h2-request": ["done", "malformed", "refused"],
  "h2-hpack": ["done", "tooLarge", "error"],
  "h2-frames": ["done", "error", "more"],
  "h2-session": ["open", "open-with-resets", "connection-error"],
};

describe("10^4 inputs per parser (seed 20261201)", () => {
  test("every parser has its expected kinds listed", () => expect(TARGETS.map((t) => t.name).sort()).toEqual(Object.keys(KINDS).sort()));
  for (const t of TARGETS) {
    test(`${t.name}: no oracle fails, every result kind is reached`, () => {
      const s = fuzz(t, { iterations: N, seed: SEED });
      expect(s.failures.map((f) => `${f.message} <- ${JSON.stringify(text(f.minimized))}`)).toEqual([]);
      expect(s.inputs).toBe(N);
      const reached = (k: string): [string, boolean] => [k, (s.kinds[k] ?? 0) > N / 100];
      expect(Object.fromEntries(KINDS[t.name].map(reached))).toEqual(Object.fromEntries(KINDS[t.name].map((k): [string, boolean] => [k, true])));
      expect(s.allocChecks).toBeGreaterThan(0);
    });
  }
});

/** A parser with a planted bug: it "crashes" on any input holding "X" after a digit. */
const planted: Target = {
  name: "planted",
  generate: (r) => latin1(`${Math.floor(r() * 100)} abc X${"y".repeat(Math.floor(r() * 20))}`),
  dict: ["X"],
  binary: false,
  maxLen: 512,
  check: (input) => {
    ensure(!/\dX/.test(text(input)), "digit before X");
    return { kind: "done" };
  },
  run: (input) => input.length,
};

describe("the driver", () => {
  test("finds a planted bug and shrinks it to the two bytes that trigger it", () => {
    const s = fuzz(planted, { iterations: 20_000, seed: 1, maxFailures: 1 });
    expect(s.failures.length).toBe(1);
    expect(s.failures[0].message).toBe("digit before X");
    expect(text(s.failures[0].minimized)).toMatch(/^\dX$/);
  });

  test("the same seed gives the same run; another seed another one", () => {
    const t = TARGETS.find((x) => x.name === "smtp-reply") as Target;
    const a = fuzz(t, { iterations: 2000, seed: 7, allocEvery: 0 });
    const b = fuzz(t, { iterations: 2000, seed: 7, allocEvery: 0 });
    const c = fuzz(t, { iterations: 2000, seed: 8, allocEvery: 0 });
    expect([...a.reasons]).toEqual([...b.reasons]);
    expect(a.kinds).toEqual(b.kinds);
    expect(same(a.kinds, c.kinds) && same([...a.reasons], [...c.reasons])).toBe(false);
  });

  test("an allocation over the bound is reported", () => {
    const hog: Target = { ...planted, name: "hog", check: () => ({ kind: "done" }), run: (input) => new Array(input.length * 64 + (1 << 20)).fill(1) };
    const s = fuzz(hog, { iterations: 10, seed: 1, allocEvery: 5, maxFailures: 1 });
    expect(s.failures.map((f) => f.message.split(":")[0])).toEqual(["allocation"]);
    expect(measure(planted, latin1("1 abc")).size).toBeLessThan(10);
  });

  test("behaviour keys fold numbers, so offsets do not flood the corpus", () => {
    expect(behaviourKey({ kind: "error", reason: "answer 12: truncated at 300" })).toBe("error: answer #: truncated at #");
    expect(behaviourKey({ kind: "done" })).toBe("done");
  });
});

describe("mutate and shrink", () => {
  test("mutations stay under maxLen and change the input", () => {
    const r = rng(3);
    const seed = latin1("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let changed = 0;
    for (let i = 0; i < 2000; i++) {
      const m = mutate(seed, r, { dict: [latin1("chunked")], binary: i % 2 === 0, maxLen: 64, other: () => seed });
      expect(m.length).toBeLessThanOrEqual(64);
      if (!same(m, seed)) changed++;
    }
    expect(changed).toBeGreaterThan(1800);
  });

  test("shrink keeps the failing core of an input", () => {
    const input = latin1("aaaaaaaaaaBUGbbbbbbbbbbbbbbbBUGcccccccc");
    expect(text(shrink(input, (b) => text(b).includes("BUG")))).toBe("BUG");
    expect(text(shrink(input, (b) => (text(b).match(/U/g) ?? []).length >= 2))).toBe("UU");
  });

  test("shrink cuts a huge run down to the length that still fails", () => {
    const input = latin1(`x${"a".repeat(100_000)}y`);
    const out = shrink(input, (b) => (text(b).match(/a/g) ?? []).length >= 777);
    expect(text(out)).toBe("a".repeat(777));
  });
});

describe("the references", () => {
  test("IP text: RFC 4291 in, RFC 5952 out", () => {
    expect(parse4("1.2.3.04")).toBeUndefined();
    expect(parse4("255.255.255.255")).toEqual([255, 255, 255, 255]);
    expect(parse6("1::2::3")).toBeUndefined();
    expect(parse6("1:2:3:4:5:6:7:8:9")).toBeUndefined();
    expect(format6(parse6("0:0:0:0:0:ffff:1.2.3.4") as number[], true)).toBe("::ffff:1.2.3.4");
    expect(format6(parse6("::FFFF:1.2.3.4") as number[], false)).toBe("::ffff:102:304");
    expect(format6(parse6("1:0:0:2:0:0:0:3") as number[], false)).toBe("1:0:0:2::3");
    expect(format6(parse6("1:0:2:3:4:5:6:7") as number[], false)).toBe("1:0:2:3:4:5:6:7");
  });

  test("response heads, SMTP replies, PROXY headers, DNS messages", () => {
    expect(referenceResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET")).toEqual({ kind: "done", status: 200, body: "length" });
    expect(referenceResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "GET")).toEqual({ kind: "error" });
    expect(referenceResponse("HTTP/1.1 204 OK\r\nContent-Length: 5\r\n\r\n", "GET")).toEqual({ kind: "done", status: 204, body: "none" });
    expect(referenceReply(latin1("250-a\r\n250 b\r\n"), 1000, 65536)).toEqual({ kind: "done", consumed: 14, code: 250, lines: ["a", "b"] });
    expect(referenceReply(latin1("250-a\r\n251 b\r\n"), 1000, 65536)).toEqual({ kind: "error" });
    expect(referenceReply(latin1("25"), 1000, 65536)).toEqual({ kind: "more" });
    expect(referenceProxy(latin1("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))).toMatchObject({ kind: "done", src: { address: "1.2.3.4", port: 1 } });
    expect(referenceProxy(latin1("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n"))).toEqual({ kind: "error" });
    const q = Uint8Array.from([0, 1, 0x81, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 9, 0, 4, 1, 2, 3, 4]);
    expect(referenceDecode(q)).toEqual({ id: 1, rcode: 0, truncated: false, question: { name: "a", type: 1 }, answers: [{ type: 1, ttl: 9, address: "1.2.3.4" }], srv: [], glue: [] });
    const forward = q.slice();
    forward[20] = 19; // the answer's owner points at itself
    expect(referenceDecode(forward)).toEqual({ error: true });
  });

  test("durations and addresses", () => {
    expect(referenceDuration(" 1.5 m ")).toBe(90_000);
    expect(referenceDuration("- .5s")).toBe("negative");
    expect(referenceDuration(".s")).toBe("format");
    expect(referenceDuration(Infinity)).toBe("finite");
    expect(referenceListen("*:80")).toEqual({ host: "::", port: 80 });
    expect(referenceListen("[0:0::1]:0")).toEqual({ host: "::1", port: 0 });
    expect(referenceServer("db.example:0")).toBe("error");
    expect(referenceServer("-db.example:1")).toBe("error");
    expect(referenceServer("1.2.3:1")).toBe("error");
  });

  test("a configuration written back as TOML loads to the same", () => {
    const c = parseConfig('workers = 2\n[[service]]\nname = "w"\nprotocol = "http"\nlisten = ["127.0.0.1:8080"]\nservers = ["a:1", { address = "[::1]:2", weight = 3 }]\nhealth_path = "/h"\n', "x.toml");
    expect(parseConfig(toToml(c), "x.toml")).toEqual(c);
  });

  test("health written back as TOML loads to the same (http with health_path, tcp send/expect, smtp)", () => {
    const svc = (name: string, protocol: string, rest: string) => `[[service]]\nname = "${name}"\nprotocol = "${protocol}"\nlisten = ["127.0.0.1:${8000 + name.length}"]\nservers = ["a:1"]\n${rest}\n`;
    const text =
      svc("w", "http", 'health_path = "/h"\nhealth = { interval = 1.5, rise = 1, expect = { status = ["2xx", 404], body = "ok\\"" }, host = "api.example:8080" }') +
      svc("ww", "http", 'health = { path = "/p", expect = 204 }') +
      svc("www", "tcp", 'health = { send = "PING\\r\\n", expect = "+PONG", timeout = "300ms", fall = 5 }') +
      svc("wwww", "smtp", "health = {}");
    const c = parseConfig(text, "x.toml");
    expect(c.backends.map((s) => s.health !== undefined)).toEqual([true, true, true, true]);
    expect(parseConfig(toToml(c), "x.toml")).toEqual(c);
  });
});
