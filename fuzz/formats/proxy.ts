/**
 * PROXY protocol v1 and v2 (HAProxy's proxy-protocol.txt) for
 * src/net/proxy-protocol.ts. Two targets:
 * - proxy-parse: generated v1 lines and v2 blocks (every command, family,
 *   TLVs, lengths, what follows), checked against `referenceProxy` (the
 *   spec's layout, addresses through fuzz/formats/ip.ts) and prefix by
 *   prefix (every shorter prefix is "more" until the whole result);
 * - proxy-write: "src sport dst dport" as text, given to proxyV1 and
 *   proxyV2: a RangeError exactly when the reference calls an endpoint
 *   invalid, else the header parses back to the same endpoints.
 */
import { type Endpoint, parseProxyHeader, type ProxyResult, proxyV1, proxyV2 } from "../../src/net/proxy-protocol.ts";
import { type Behaviour, ensure, same, show, type Target, view } from "../driver.ts";
import { between, chance, concat, int, latin1, pick, type Rng, text } from "../rng.ts";
import { cutsFor } from "./http.ts";
import { format6, isMapped, parse4, parse6, random4, random6, spell6 } from "./ip.ts";

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const FAMILIES: Record<number, [string, number]> = { 0x00: ["UNKNOWN", 0], 0x11: ["TCP4", 12], 0x12: ["UDP4", 12], 0x21: ["TCP6", 36], 0x22: ["UDP6", 36], 0x31: ["UNIX", 216], 0x32: ["UNIX", 216] };
const PORT = /^(?:0|[1-9][0-9]{0,4})$/;

function v1(r: Rng): string {
  const port = () => String(chance(r, 0.1) ? pick(r, [0, 65535, 1]) : int(r, 65536));
  if (chance(r, 0.1)) return `PROXY UNKNOWN${chance(r, 0.5) ? ` ${"x".repeat(int(r, 90))}` : ""}\r\n`;
  if (chance(r, 0.5)) return `PROXY TCP4 ${random4(r).join(".")} ${random4(r).join(".")} ${port()} ${port()}\r\n`;
  return `PROXY TCP6 ${spell6(r, random6(r))} ${spell6(r, random6(r))} ${port()} ${port()}\r\n`;
}

function v2(r: Rng): Uint8Array {
  const local = chance(r, 0.15);
  const fam = pick(r, [0x11, 0x11, 0x21, 0x21, 0x12, 0x22, 0x31, 0x32, 0x00]);
  const need = FAMILIES[fam][1];
  const block = Array.from({ length: need }, () => int(r, 256));
  if (need === 36 && chance(r, 0.3)) block.splice(0, 16, ...random6(r));
  const tlvs: number[] = [];
  for (let k = chance(r, 0.6) ? 0 : between(r, 1, 3); k > 0; k--) {
    const n = chance(r, 0.1) ? between(r, 200, 2000) : int(r, 20);
    tlvs.push(pick(r, [0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xe0, 0xee]), n >> 8, n & 0xff, ...Array.from({ length: n }, () => int(r, 256)));
  }
  const body = [...block, ...tlvs];
  return Uint8Array.from([...SIG, local ? 0x20 : 0x21, fam, body.length >> 8, body.length & 0xff, ...body]);
}

function generate(r: Rng): Uint8Array {
  const head = chance(r, 0.5) ? latin1(v1(r)) : v2(r);
  return chance(r, 0.3) ? concat(head, latin1(pick(r, ["GET / HTTP/1.1\r\n", "\r\n", "EHLO x\r\n", "\0"]))) : head;
}

type Ref = { kind: "more" } | { kind: "error" } | { kind: "done"; consumed: number; version: 1 | 2; command: string; family: string; src?: Endpoint; dst?: Endpoint; tlvs: { type: number; value: Uint8Array }[] };

function refV1(b: Uint8Array): Ref {
  const s = text(b.subarray(0, 107));
  if (!"PROXY ".startsWith(s.slice(0, 6))) return { kind: "error" };
  const lf = s.indexOf("\n");
  if (lf < 0) return b.length >= 107 ? { kind: "error" } : { kind: "more" };
  if (lf < 6 || s[lf - 1] !== "\r") return { kind: "error" };
  const line = s.slice(0, lf - 1);
  if (/[^\x20-\x7e]/.test(line)) return { kind: "error" };
  const p = line.split(" ");
  const base = { kind: "done" as const, consumed: lf + 1, version: 1 as const, command: "PROXY", tlvs: [] as { type: number; value: Uint8Array }[] };
  if (p[1] === "UNKNOWN") return { ...base, family: "UNKNOWN" };
  if ((p[1] !== "TCP4" && p[1] !== "TCP6") || p.length !== 6) return { kind: "error" };
  const ends: Endpoint[] = [];
  for (const [a, port] of [[p[2], p[4]], [p[3], p[5]]]) {
    const bytes = p[1] === "TCP4" ? parse4(a) : parse6(a);
    if (bytes === undefined || !PORT.test(port) || Number(port) > 65535) return { kind: "error" };
    ends.push({ address: p[1] === "TCP4" ? bytes.join(".") : format6(bytes, true), port: Number(port) });
  }
  return { ...base, family: p[1], src: ends[0], dst: ends[1] };
}

function refV2(b: Uint8Array): Ref {
  for (let i = 0; i < 12 && i < b.length; i++) if (b[i] !== SIG[i]) return { kind: "error" };
  if (b.length < 13) return { kind: "more" };
  const cmd = b[12] & 15;
  if (b[12] >> 4 !== 2 || cmd > 1) return { kind: "error" };
  if (b.length < 14) return { kind: "more" };
  const fam = cmd === 0 ? FAMILIES[0] : FAMILIES[b[13]];
  if (fam === undefined) return { kind: "error" };
  if (b.length < 16) return { kind: "more" };
  const total = 16 + ((b[14] << 8) | b[15]);
  if (total - 16 < fam[1]) return { kind: "error" };
  if (b.length < total) return { kind: "more" };
  const out: Ref = { kind: "done", consumed: total, version: 2, command: cmd === 0 ? "LOCAL" : "PROXY", family: fam[0], tlvs: [] };
  if (fam[0] === "UNKNOWN") return out;
  if (fam[1] !== 216) {
    const a = fam[1] === 12 ? 4 : 16, p = 16 + 2 * a;
    const addr = (o: number) => (a === 4 ? Array.from(b.subarray(o, o + 4)).join(".") : format6(Array.from(b.subarray(o, o + 16)), true));
    out.src = { address: addr(16), port: (b[p] << 8) | b[p + 1] };
    out.dst = { address: addr(16 + a), port: (b[p + 2] << 8) | b[p + 3] };
  }
  for (let p = 16 + fam[1]; p < total; ) {
    if (total - p < 3) return { kind: "error" };
    const end = p + 3 + ((b[p + 1] << 8) | b[p + 2]);
    if (end > total) return { kind: "error" };
    out.tlvs.push({ type: b[p], value: b.slice(p + 3, end) });
    p = end;
  }
  return out;
}

/** The spec's layout, independently of the parser. */
export function referenceProxy(b: Uint8Array): Ref {
  if (b.length === 0) return { kind: "more" };
  return b[0] === 0x0d ? refV2(b) : b[0] === 0x50 ? refV1(b) : { kind: "error" };
}

function checkParse(input: Uint8Array): Behaviour {
  const whole = parseProxyHeader(input);
  ensure(same(parseProxyHeader(view(input).view), whole), "a view at an offset parses differently");
  if (whole.kind === "error") ensure(whole.pos >= 0 && whole.pos < input.length && whole.reason !== "", () => `error offset ${whole.pos} of ${input.length}`);
  if (whole.kind === "done") ensure(whole.consumed > 0 && whole.consumed <= input.length, "consumed");
  // Prefix by prefix: "more" until the first result, which is the whole input's.
  let first: ProxyResult = { kind: "more" };
  for (const cut of cutsFor(input)) {
    first = parseProxyHeader(input.subarray(0, cut));
    if (first.kind !== "more") break;
  }
  ensure(same(first, whole), () => `prefixes give ${show(first)}, whole ${show(whole)}`);
  const ref = referenceProxy(input);
  if (ref.kind !== "done" || whole.kind !== "done") ensure(ref.kind === whole.kind, () => `plb says ${whole.kind}${whole.kind === "error" ? ` (${whole.reason})` : ""}, the reference ${ref.kind}`);
  else ensure(same({ ...whole }, ref), () => `plb ${show(whole)}, the reference ${show(ref)}`);
  return whole.kind === "error" ? { kind: "error", reason: whole.reason } : { kind: whole.kind };
}

/** The 4 or 16 bytes of an endpoint's address as the writers' decisions read it, or undefined. */
function refAddress(a: string): number[] | undefined {
  const t = a.startsWith("[") && a.endsWith("]") ? a.slice(1, -1) : a;
  const v4 = parse4(t);
  if (v4 !== undefined) return v4;
  if (!t.includes(":")) return undefined;
  const v6 = parse6(t.replace(/%[^%]+$/, ""));
  return v6 !== undefined && isMapped(v6) ? v6.slice(12) : v6;
}

function writeLine(r: Rng): string {
  const addr = () => {
    const k = int(r, 8);
    if (k < 3) return random4(r).join(".");
    if (k < 6) return spell6(r, random6(r));
    if (k === 6) return `[${spell6(r, random6(r))}]`;
    return `${spell6(r, random6(r))}%${pick(r, ["eth0", "1", "lo"])}`;
  };
  const port = () => String(chance(r, 0.05) ? pick(r, [-1, 65536, 1.5, 0, 65535]) : int(r, 65536));
  return `${addr()} ${port()} ${addr()} ${port()}`;
}

function checkWrite(input: Uint8Array): Behaviour {
  const f = text(input).split(" ");
  const src: Endpoint = { address: f[0] ?? "", port: Number(f[1]) };
  const dst: Endpoint = { address: f[2] ?? "", port: Number(f[3]) };
  const okPort = (p: number) => Number.isInteger(p) && p >= 0 && p <= 65535;
  const sb = refAddress(src.address), db = refAddress(dst.address);
  const valid = sb !== undefined && db !== undefined && okPort(src.port) && okPort(dst.port);
  let kind = "written";
  for (const [name, write] of [["v1", proxyV1], ["v2", proxyV2]] as const) {
    let out: Uint8Array;
    try {
      out = write(src, dst);
    } catch (e) {
      ensure(e instanceof RangeError, () => `${name} threw ${String(e)}`);
      ensure(!valid, () => `${name} rejects valid endpoints ${show([src, dst])}: ${String(e)}`);
      kind = "RangeError";
      continue;
    }
    ensure(valid, () => `${name} accepts invalid endpoints ${show([src, dst])}`);
    const back = parseProxyHeader(out);
    if (back.kind !== "done") throw new Error(`${name} header does not parse: ${show(back)}`);
    const four = sb.length === 4 && db.length === 4;
    const text6 = (b: number[]) => format6(b.length === 4 ? [...Array<number>(10).fill(0), 0xff, 0xff, ...b] : b, true);
    const want = {
      family: four ? "TCP4" : "TCP6",
      // -0 is a valid port number, written as 0
      src: { address: four ? sb.join(".") : text6(sb), port: src.port + 0 },
      dst: { address: four ? db.join(".") : text6(db), port: dst.port + 0 },
    };
    ensure(back.consumed === out.length && same({ family: back.family, src: back.src, dst: back.dst }, want), () => `${name} round trip: ${show(back)}, want ${show(want)}`);
    const line = text(out).split(" ");
    if (name === "v1" && line[1] === "TCP6") ensure(/^[0-9a-f:]+$/.test(line[2]) && /^[0-9a-f:]+$/.test(line[3]), () => `v1 IPv6 not in lowercase hex groups: ${text(out)}`);
  }
  return { kind };
}

export const proxyParse: Target = {
  name: "proxy-parse",
  generate,
  dict: ["PROXY ", "TCP4 ", "TCP6 ", "UNKNOWN", "\r\n", " ", "::", "::ffff:", "255.255.255.255", "65535", "\r\n\r\n\0\r\nQUIT\n", "\x21\x11", "\x20\x00", "\x21\x31"],
  binary: true,
  maxLen: 1 << 17,
  check: checkParse,
  run: (input) => parseProxyHeader(input),
};

export const proxyWrite: Target = {
  name: "proxy-write",
  generate: (r) => latin1(writeLine(r)),
  dict: [" ", ":", "::", ".", "[", "]", "%", "ffff:", "0", "65536", "-1", "1.2.3.04", "::ffff:1.2.3.4"],
  binary: false,
  maxLen: 256,
  check: checkWrite,
  run: (input) => {
    try {
      return proxyV2({ address: text(input), port: 1 }, { address: "::1", port: 2 });
    } catch {
      return undefined;
    }
  },
};
