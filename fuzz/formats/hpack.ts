/**
 * HPACK decoding (src/http/h2/hpack/) as a fuzz target.
 *
 * An input is one option octet, then field blocks, each preceded by its
 * length in two octets (the last one takes whatever is left). The option
 * octet picks the list size limit (low two bits: 200, 1000, 4096 or 1 MiB)
 * and our table size limit before the first block (next two bits: 4096
 * untouched, lowered to 256 or 0, raised to 8192). Generated inputs are
 * blocks plb's encoder made from random lists (peer table size changes
 * between them) with hand-made representations mixed in (size updates,
 * never-indexed literals, odd Huffman strings, large indexes).
 *
 * Oracles, besides "never throws":
 * - every error's offset lies inside its block, and an error ends the run
 *   (the decoder refuses the next block);
 * - `done` lists are within the limit, and `tooLarge` sizes over it;
 * - `referenceDecode`, a second decoder written plainly from RFC 7541 (bit
 *   by bit Huffman, no tables built), agrees on each block's kind, its list
 *   or size, and the dynamic table after it;
 * - the same from a view at an offset in a larger buffer;
 * - the decoded lists, encoded again by plb's encoder, decode back to the
 *   same lists.
 */
import { createDecoder, createEncoder } from "../../src/http/h2/hpack/index.ts";
import { CODES, LENGTHS } from "../../src/http/h2/hpack/huffman.ts";
import { STATIC_COUNT, STATIC_NAMES, STATIC_VALUES } from "../../src/http/h2/hpack/static-table.ts";
import type { DecodeResult } from "../../src/http/h2/types.ts";
import { type Behaviour, ensure, same, show, type Target, view } from "../driver.ts";
import { between, chance, concat, int, pick, type Rng } from "../rng.ts";

const LIST_LIMITS = [200, 1000, 4096, 1 << 20];
const TABLE_LIMITS = [-1, 256, 0, 8192];

/** The option octet and the blocks of an input. */
function split(input: Uint8Array): { listLimit: number; tableLimit: number; blocks: Uint8Array[] } {
  const opt = input.length > 0 ? input[0] : 0;
  const blocks: Uint8Array[] = [];
  let at = 1;
  while (at < input.length) {
    const n = at + 2 <= input.length ? (input[at] << 8) | input[at + 1] : 0;
    const start = Math.min(at + 2, input.length);
    const end = Math.min(start + n, input.length);
    blocks.push(input.subarray(start, at + 2 + n > input.length ? input.length : end));
    at = at + 2 + n > input.length ? input.length : end;
  }
  return { listLimit: LIST_LIMITS[opt & 3], tableLimit: TABLE_LIMITS[(opt >> 2) & 3], blocks };
}

const framed = (opt: number, blocks: Uint8Array[]): Uint8Array => concat(Uint8Array.of(opt), ...blocks.map((b) => concat(Uint8Array.of(b.length >> 8, b.length & 255), b)));

const NAMES = [":method", ":path", ":status", ":authority", "server", "content-type", "cookie", "authorization", "set-cookie", "x-a", "date", "accept-encoding", "Upper", ""];
const VALUES = ["GET", "/", "200", "404", "plb", "text/html", "a=b", "", "gzip, deflate", "x".repeat(300)];

function randomString(r: Rng): string {
  if (chance(r, 0.7)) return pick(r, VALUES);
  return String.fromCharCode(...Array.from({ length: int(r, 40) }, () => (chance(r, 0.8) ? between(r, 32, 126) : int(r, 256))));
}

/** Hand-made representations: size updates, literals of each kind, indexes near the tables' end, Huffman strings. */
function rawPiece(r: Rng): number[] {
  switch (int(r, 8)) {
    case 6:
      return [0x00, 0x81, 0x1f, 0x86, 0x18, 0xc6, 0x31, 0x8c, 0x63, 0xff]; // "aaaaaaaa" + exactly 8 bits of padding
    case 7:
      return [0x00, 0x81, 0x1f, 0x85, 0x18, 0xc6, 0x31, 0x8c, 0x63]; // "aaaaaaaa", no padding
    case 0:
      return [0x20 | int(r, 31)];
    case 1:
      return [0x3f, 0xe1, 0x1f]; // size update to 4096
    case 2:
      return [0x10, 1, 0x61, 1, 0x62]; // never indexed, literal name
    case 3:
      return [0x80 | between(r, 1, 70)];
    case 4:
      return [0x40, 0x81, 0x1f, 0x83, 0x1f, 0xff, 0xff]; // Huffman name "a", value with long padding
    default:
      return [0x0f, between(r, 0, 20), 2, 0x68, 0x69];
  }
}

function generate(r: Rng): Uint8Array {
  const opt = int(r, 16);
  const limit = TABLE_LIMITS[(opt >> 2) & 3] < 0 ? 4096 : TABLE_LIMITS[(opt >> 2) & 3];
  const e = createEncoder();
  e.setPeerMaxTableSize(limit);
  const blocks: Uint8Array[] = [];
  for (let k = between(r, 1, 4); k > 0; k--) {
    if (chance(r, 0.2)) e.setPeerMaxTableSize(Math.min(limit, pick(r, [0, 64, 256, 4096])));
    const fields: string[] = [];
    for (let n = int(r, 12); n > 0; n--) fields.push(chance(r, 0.8) ? pick(r, NAMES) : randomString(r), randomString(r));
    let b = e.encode(fields);
    if (chance(r, 0.15)) b = concat(Uint8Array.from(rawPiece(r)), b);
    if (chance(r, 0.15)) b = concat(b, Uint8Array.from(rawPiece(r)));
    blocks.push(b);
  }
  return framed(opt, blocks);
}

/** Structure-aware mutations: change the option octet, drop or duplicate a block, corrupt a block's length. */
function mutateInput(input: Uint8Array, r: Rng): Uint8Array {
  const { blocks } = split(input);
  const opt = input.length > 0 ? input[0] : 0;
  switch (int(r, 4)) {
    case 0:
      return framed(int(r, 16), blocks);
    case 1:
      return framed(opt, blocks.filter((_, i) => i !== int(r, blocks.length)));
    case 2:
      return blocks.length > 0 ? framed(opt, [...blocks, blocks[int(r, blocks.length)]]) : input;
    default: {
      const out = input.slice();
      if (out.length > 2) out[1 + int(r, 2)] ^= 1 << int(r, 8);
      return out;
    }
  }
}

type RefResult = { kind: "done"; fields: string[] } | { kind: "tooLarge"; size: number } | { kind: "error" };

/** A plain HPACK decoder from RFC 7541, with plb's documented limits (integers up to 2^31 - 1 in at most 5 continuation octets, at most two size updates, all at the start). */
export class ReferenceDecoder {
  table: [string, string][] = [];
  maxSize = 4096;
  limit = 4096;
  mustUpdate = false;

  setLimit(n: number): void {
    this.limit = n;
    if (n < this.maxSize) this.mustUpdate = true;
  }

  private size(): number {
    return this.table.reduce((s, [n, v]) => s + n.length + v.length + 32, 0);
  }

  private evict(): void {
    while (this.table.length > 0 && this.size() > this.maxSize) this.table.pop();
  }

  decode(b: Uint8Array, maxList: number): RefResult {
    let p = 0;
    const int = (prefix: number): number => {
      const max = 2 ** prefix - 1;
      let v = b[p++] & max;
      if (v < max) return v;
      for (let k = 0; k < 5; k++) {
        if (p >= b.length) throw new Error("truncated");
        const c = b[p++];
        v += (c & 127) * 2 ** (7 * k);
        if (v > 2 ** 31 - 1) throw new Error("overflow");
        if (c < 128) return v;
      }
      throw new Error("too long");
    };
    const str = (): string => {
      if (p >= b.length) throw new Error("no string");
      const h = b[p] >= 128;
      const n = int(7);
      if (p + n > b.length) throw new Error("past the end");
      const raw = b.subarray(p, p + n);
      p += n;
      if (!h) return String.fromCharCode(...raw);
      let out = "";
      let code = 0, len = 0;
      for (let i = 0; i < raw.length * 8; i++) {
        code = code * 2 + ((raw[i >> 3] >> (7 - (i & 7))) & 1);
        len++;
        for (let s = 0; s < 257; s++)
          if (LENGTHS[s] === len && CODES[s] === code) {
            if (s === 256) throw new Error("EOS");
            out += String.fromCharCode(s);
            code = 0;
            len = 0;
            break;
          }
      }
      if (len > 7 || code !== 2 ** len - 1) throw new Error("padding");
      return out;
    };
    const entry = (i: number): [string, string] => {
      if (i === 0) throw new Error("index 0");
      if (i <= STATIC_COUNT) return [STATIC_NAMES[i], STATIC_VALUES[i]];
      const e = this.table[i - STATIC_COUNT - 1];
      if (e === undefined) throw new Error("past the tables");
      return e;
    };
    const fields: string[] = [];
    let size = 0;
    let updates = 0, seen = false;
    try {
      while (p < b.length) {
        const c = b[p];
        if ((c & 0xe0) === 0x20) {
          if (seen || ++updates > 2) throw new Error("update");
          const n = int(5);
          if (n > this.limit) throw new Error("update over the limit");
          this.maxSize = n;
          this.mustUpdate = false;
          this.evict();
          continue;
        }
        if (this.mustUpdate) throw new Error("missing update");
        seen = true;
        let name: string, value: string;
        if (c & 0x80) [name, value] = entry(int(7));
        else {
          const idx = int(c & 0x40 ? 6 : 4);
          name = idx === 0 ? str() : entry(idx)[0];
          value = str();
          if (c & 0x40) {
            this.table.unshift([name, value]);
            if (name.length + value.length + 32 > this.maxSize) this.table = [];
            else this.evict();
          }
        }
        size += name.length + value.length + 32;
        if (size <= maxList) fields.push(name, value);
      }
    } catch {
      return { kind: "error" };
    }
    return size <= maxList ? { kind: "done", fields } : { kind: "tooLarge", size };
  }
}

function decodeAll(input: Uint8Array): { results: DecodeResult[]; tables: [string, string][][] } {
  const { listLimit, tableLimit, blocks } = split(input);
  const d = createDecoder();
  if (tableLimit >= 0) d.setMaxTableSize(tableLimit);
  const results: DecodeResult[] = [];
  const tables: [string, string][][] = [];
  for (const b of blocks) {
    const r = d.decode(b, listLimit);
    results.push(r);
    tables.push(d.tableState().entries);
    if (r.kind === "error") {
      const again = d.decode(b, listLimit);
      ensure(again.kind === "error", "the decoder accepts a block after an error");
      break;
    }
  }
  return { results, tables };
}

function check(input: Uint8Array): Behaviour {
  const { listLimit, tableLimit, blocks } = split(input);
  const { results, tables } = decodeAll(input);
  const ref = new ReferenceDecoder();
  if (tableLimit >= 0) ref.setLimit(tableLimit);
  const lists: string[][] = [];
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    const want = ref.decode(blocks[i], listLimit);
    if (r.kind === "error") {
      ensure(r.pos >= 0 && r.pos < blocks[i].length && Number.isInteger(r.pos), () => `error offset ${r.pos} outside a block of ${blocks[i].length}`);
      ensure(typeof r.reason === "string" && r.reason !== "", "empty reason");
      ensure(want.kind === "error", () => `plb: ${r.reason} at ${r.pos}; the reference: ${show(want)}`);
      return { kind: "error", reason: r.reason };
    }
    ensure(want.kind !== "error", () => `plb ${show(r)}; the reference calls block ${i} malformed`);
    ensure(same(r, want), () => `block ${i}: plb ${show(r)}, the reference ${show(want)}`);
    ensure(same(tables[i], ref.table), () => `table after block ${i}: plb ${show(tables[i])}, the reference ${show(ref.table)}`);
    if (r.kind === "done") {
      let size = 0;
      for (let k = 0; k < r.fields.length; k++) size += r.fields[k].length + (k % 2 === 0 ? 32 : 0);
      ensure(size <= listLimit, () => `a done list of ${size} over the limit ${listLimit}`);
      lists.push(r.fields);
    } else ensure(r.size > listLimit, () => `tooLarge with size ${r.size} within ${listLimit}`);
  }
  const v = view(input).view;
  ensure(same(decodeAll(v).results, results), "a view at an offset decodes differently");
  // Encoded again by plb, decoded again: the same lists.
  const e = createEncoder(), d = createDecoder();
  for (const l of lists) {
    const back = d.decode(e.encode(l), 1 << 30);
    ensure(back.kind === "done" && same(back.fields, l), () => `re-encoded ${show(l)} decodes to ${show(back)}`);
  }
  const kinds = new Set(results.map((r) => r.kind));
  return { kind: kinds.has("tooLarge") ? "tooLarge" : "done" };
}

export const hpackDecode: Target = {
  name: "h2-hpack",
  generate,
  mutate: mutateInput,
  dict: ["\x20", "\x3f\xe1\x1f", "\x80", "\xbe", "\xff\xff\xff\xff\x0f", "\x1f\xff", "\x40", "\x10", "\x00", "\x7f"],
  binary: true,
  maxLen: 20_000,
  check,
  // What a connection keeps: its decoder (the table) and the last list; empty blocks cost 2 input octets here, 9 on the wire.
  run: (input) => {
    const { listLimit, tableLimit, blocks } = split(input);
    const d = createDecoder();
    if (tableLimit >= 0) d.setMaxTableSize(tableLimit);
    let last: DecodeResult | undefined;
    for (const b of blocks) if ((last = d.decode(b, listLimit)).kind === "error") break;
    return [d, last];
  },
};

// Build the Huffman decoder's table (256 KiB, made by the first decode) before any allocation check sees it.
createDecoder().decode(Uint8Array.of(0x00, 0x81, 0x1f, 0x80), 100);
