/**
 * Address ranges for src/net/cidr.ts (proxy_from): "range address" as
 * text. parseCidr against `referenceCidr` (written from cidr.ts's doc
 * comment with fuzz/formats/ip.ts: no leading zeros, a prefix 0-32 / 0-128,
 * no host bits, ::ffff:0:0/96 and longer turned into IPv4), its canonical
 * text parsing back to the same range, and AddressSet.has against a
 * bit-by-bit membership test.
 */
import { AddressSet, parseCidr } from "../../src/net/cidr.ts";
import { type Behaviour, ensure, same, show, type Target } from "../driver.ts";
import { between, chance, int, latin1, pick, type Rng, text } from "../rng.ts";
import { format6, isMapped, parse4, parse6, random4, random6, spell6 } from "./ip.ts";

type Range = { bytes: number[]; bits: number; text: string };

const bitOf = (b: readonly number[], i: number) => (b[i >> 3] >> (7 - (i & 7))) & 1;
const bytesOf = (a: string) => parse4(a) ?? (a.includes(":") ? parse6(a) : undefined);

export function referenceCidr(t: string): Range | "error" {
  const slash = t.indexOf("/");
  const b = bytesOf(slash < 0 ? t : t.slice(0, slash));
  if (b === undefined) return "error";
  const max = b.length * 8;
  const p = slash < 0 ? String(max) : t.slice(slash + 1);
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) return "error";
  let bits = Number(p);
  for (let i = bits; i < max; i++) if (bitOf(b, i) === 1) return "error";
  let bytes = b;
  if (b.length === 16 && bits >= 96 && isMapped(b)) [bytes, bits] = [b.slice(12), bits - 96];
  return { bytes, bits, text: `${bytes.length === 4 ? bytes.join(".") : format6(bytes, false)}/${bits}` };
}

function inside(address: string, r: Range): boolean {
  let b = bytesOf(address);
  if (b === undefined) return false;
  if (isMapped(b)) b = b.slice(12);
  if (b.length !== r.bytes.length) return false;
  for (let i = 0; i < r.bits; i++) if (bitOf(b, i) !== bitOf(r.bytes, i)) return false;
  return true;
}

function check(input: Uint8Array): Behaviour {
  const [range = "", address = ""] = text(input).split(" ");
  const got = parseCidr(range);
  const ref = referenceCidr(range);
  if (typeof got === "string") {
    ensure(ref === "error", () => `parseCidr(${show(range)}) = ${show(got)}, the reference ${show(ref)}`);
    return { kind: "error", reason: /is not an IP/.test(got) ? "not an IP address or range" : /prefix length/.test(got) ? "prefix length" : /bits set/.test(got) ? "host bits set" : got };
  }
  const mine = { bytes: Array.from(got.bytes), bits: got.bits, text: got.text };
  ensure(same(mine, ref), () => `parseCidr(${show(range)}) = ${show(mine)}, the reference ${show(ref)}`);
  const again = parseCidr(got.text);
  ensure(typeof again !== "string" && same(again, got), () => `the canonical ${got.text} parses to ${show(again)}`);
  const has = new AddressSet([got]).has(address);
  ensure(has === inside(address, mine), () => `${address} in ${got.text}: ${has}`);
  return { kind: has ? "inside" : "outside" };
}

function generate(r: Rng): Uint8Array {
  const v4 = chance(r, 0.5);
  const b = v4 ? random4(r) : random6(r);
  const max = b.length * 8;
  const bits = chance(r, 0.2) ? pick(r, [0, max, max - 1, 96, 104, 8]) % (max + 1) : int(r, max + 1);
  const net = chance(r, 0.8) ? b.map((x, i) => x & (bits - 8 * i >= 8 ? 0xff : bits - 8 * i <= 0 ? 0 : (0xff << (8 - (bits - 8 * i))) & 0xff)) : b;
  const addrText = (x: number[]) => (x.length === 4 ? x.join(".") : spell6(r, x));
  const range = `${addrText(net)}${chance(r, 0.9) ? `/${bits}` : ""}`;
  const near = net.map((x, i) => (i === net.length - 1 - int(r, 2) ? (x + between(r, 0, 3)) & 0xff : x));
  const address = chance(r, 0.7) ? addrText(near) : chance(r, 0.5) ? addrText(v4 ? random6(r) : random4(r)) : `::ffff:${random4(r).join(".")}`;
  return latin1(`${range} ${address}`);
}

export const cidrRanges: Target = {
  name: "config-cidr",
  generate,
  dict: ["/", "/0", "/32", "/128", "::", "::ffff:", ".", "0", "00", " "],
  binary: false,
  maxLen: 256,
  check,
  run: (input) => parseCidr(text(input)),
};
