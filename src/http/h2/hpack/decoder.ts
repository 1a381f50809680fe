/**
 * The HPACK decoder (RFC 7541 §6), one per connection: a field block in,
 * the header list out, the dynamic table carried from block to block.
 *
 * Strict: index 0 or past the tables, a dynamic table size update over our
 * limit, after a field, or more than two of them, a missing update after we
 * lowered our limit (an empty block leaves it due for the next), an integer
 * or string running past the block, an integer over 2^31 - 1 or with more
 * than 5 continuation octets, and every
 * Huffman error (EOS, padding over 7 bits or not all ones) are
 * COMPRESSION_ERRORs with the offset where the faulty element starts (for
 * Huffman errors, the octet where it shows).
 *
 * Bounded: each field's size (RFC 9113 §6.5.2: name + value + 32) is added
 * before its strings are made; once the list is over `maxListSize` the
 * block is still decoded (the table must stay in sync) but no more strings
 * are made for the list, so a block referencing one large entry thousands
 * of times costs a counter, not memory. Huffman strings decode into one
 * scratch buffer shared by every decoder (decoding is synchronous).
 *
 * Strings are latin1 (one char per octet, exact): the decoder does not
 * judge case, CR, LF or NUL; the session and translate.ts do.
 */
import { decode as latin1 } from "../../types.ts";
import type { DecodeResult, HeaderDecoder, HeaderList } from "../types.ts";
import { DynamicTable, ENTRY_OVERHEAD } from "./dynamic-table.ts";
import { huffmanDecode, huffmanError } from "./huffman.ts";
import { INT_TRUNCATED, intEnd, readInt } from "./integer.ts";
import { STATIC_COUNT, STATIC_NAMES, STATIC_VALUES } from "./static-table.ts";

let scratch = new Uint8Array(4096);

/** Where `readString` left its octets: [a, b) of `buf` (the block or the scratch buffer). */
interface Str {
  buf: Uint8Array;
  a: number;
  b: number;
}
/** The literal being read (shared like `scratch`: no decoder keeps a block alive after its call). */
const NAME: Str = { buf: scratch, a: 0, b: 0 };
const VALUE: Str = { buf: scratch, a: 0, b: 0 };

type Failure = { kind: "error"; pos: number; reason: string };

export class Decoder implements HeaderDecoder {
  private readonly table: DynamicTable;
  /** The most a size update may ask for (our acknowledged SETTINGS_HEADER_TABLE_SIZE). */
  private limit: number;
  /** We lowered our limit below the table's size: the next block must start with an update. */
  private mustUpdate = false;
  private failed = false;
  private error: Failure | undefined;

  /** `maxTableSize`: the limit in force at the start (4096 until our SETTINGS are acknowledged, RFC 9113 §6.5.2). */
  constructor(maxTableSize = 4096) {
    this.limit = maxTableSize;
    this.table = new DynamicTable(maxTableSize);
  }

  /** Entries and size of the dynamic table, newest first (for tests and the fuzzer). */
  tableState(): { maxSize: number; size: number; entries: [string, string][] } {
    return { maxSize: this.table.maxSize, size: this.table.size, entries: this.table.entries() };
  }

  setMaxTableSize(n: number): void {
    this.limit = n;
    if (n < this.table.maxSize) this.mustUpdate = true;
  }

  decode(block: Uint8Array, maxListSize: number): DecodeResult {
    if (this.failed) return { kind: "error", pos: 0, reason: "the decoder failed on an earlier block" };
    const end = block.length;
    // A Huffman string decodes to at most 8/5 of its octets. (Integer arithmetic only:
    // a fractional division here made JSC leave its optimized code on every call.)
    const need = 2 * end + 8;
    if (scratch.length < need) scratch = new Uint8Array(need);
    const table = this.table;
    const fields: HeaderList = [];
    let size = 0;
    let p = 0;
    let updates = 0;
    let fieldSeen = false;
    while (p < end) {
      const b = block[p];
      if (b >= 0x20 && b < 0x40) {
        // Dynamic table size update (§6.3).
        if (fieldSeen) return this.fail(p, "dynamic table size update after a field (RFC 7541 §4.2)");
        if (++updates > 2) return this.fail(p, "more than two dynamic table size updates");
        const n = readInt(block, p, end, 5);
        if (n < 0) return this.intFail(p, n, "dynamic table size");
        if (n > this.limit) return this.fail(p, `dynamic table size update to ${n}, over our limit ${this.limit}`);
        table.setMaxSize(n);
        this.mustUpdate = false;
        p = intEnd.pos;
        continue;
      }
      if (!fieldSeen) {
        if (this.mustUpdate) return this.fail(p, "no dynamic table size update after our SETTINGS_HEADER_TABLE_SIZE was lowered");
        fieldSeen = true;
      }
      if (b >= 0x80) {
        // Indexed field (§6.1).
        const idx = readInt(block, p, end, 7);
        if (idx < 0) return this.intFail(p, idx, "index");
        if (idx === 0) return this.fail(p, "index 0");
        let name: string, value: string;
        if (idx <= STATIC_COUNT) (name = STATIC_NAMES[idx]), (value = STATIC_VALUES[idx]);
        else if (idx - STATIC_COUNT <= table.length) (name = table.name(idx - STATIC_COUNT - 1)), (value = table.value(idx - STATIC_COUNT - 1));
        else return this.pastTables(p, idx);
        size += name.length + value.length + ENTRY_OVERHEAD;
        if (size <= maxListSize) fields.push(name, value);
        p = intEnd.pos;
        continue;
      }
      // Literal with incremental indexing (§6.2.1), without indexing (§6.2.2) or never indexed (§6.2.3).
      const indexing = b >= 0x40;
      const idx = readInt(block, p, end, indexing ? 6 : 4);
      if (idx < 0) return this.intFail(p, idx, "name index");
      let name: string | undefined;
      let vp = intEnd.pos;
      let at = 0;
      if (idx === 0) {
        vp = this.readString(block, vp, end, NAME, 0);
        if (vp < 0) return this.error as Failure;
        if (NAME.buf === scratch) at = NAME.b;
      } else if (idx <= STATIC_COUNT) name = STATIC_NAMES[idx];
      else if (idx - STATIC_COUNT <= table.length) name = table.name(idx - STATIC_COUNT - 1);
      else return this.pastTables(p, idx);
      const next = this.readString(block, vp, end, VALUE, at);
      if (next < 0) return this.error as Failure;
      p = next;
      const nameLen = name === undefined ? NAME.b - NAME.a : name.length;
      size += nameLen + VALUE.b - VALUE.a + ENTRY_OVERHEAD;
      const keep = size <= maxListSize;
      if (!keep && !indexing) continue;
      if (name === undefined) name = NAME.a === NAME.b ? "" : latin1(NAME.buf, NAME.a, NAME.b);
      const value = VALUE.a === VALUE.b ? "" : latin1(VALUE.buf, VALUE.a, VALUE.b);
      if (indexing) table.add(name, value);
      if (keep) fields.push(name, value);
    }
    NAME.buf = VALUE.buf = scratch;
    return size <= maxListSize ? { kind: "done", fields } : { kind: "tooLarge", size };
  }

  /**
   * Read the string at block[p] into `out` (Huffman strings decoded into the
   * scratch buffer from `at`); returns the offset after it, or -1 with
   * `this.error` set.
   */
  private readString(block: Uint8Array, p: number, end: number, out: Str, at: number): number {
    if (p >= end) return this.failNum(p - 1, "truncated field: no string where one is due");
    const huffman = block[p] >= 0x80;
    const len = readInt(block, p, end, 7);
    if (len < 0) return (this.intFail(p, len, "string length"), -1);
    const a = intEnd.pos;
    if (len > end - a) return this.failNum(p, `string length ${len} past the end of the block (${end - a} octets left)`);
    if (!huffman) {
      out.buf = block;
      out.a = a;
      out.b = a + len;
      return a + len;
    }
    const e = huffmanDecode(block, a, a + len, scratch, at);
    if (e < 0) return this.failNum(huffmanError.pos, huffmanError.reason);
    out.buf = scratch;
    out.a = at;
    out.b = e;
    return a + len;
  }

  private pastTables(p: number, idx: number): Failure {
    return this.fail(p, `index ${idx} past the tables (${STATIC_COUNT} static + ${this.table.length} dynamic entries)`);
  }

  private intFail(p: number, code: number, what: string): Failure {
    return this.fail(p, code === INT_TRUNCATED ? `truncated ${what} (integer runs past the block)` : `${what} over 2^31-1 or with more than 5 continuation octets`);
  }

  private failNum(pos: number, reason: string): number {
    this.fail(pos, reason);
    return -1;
  }

  private fail(pos: number, reason: string): Failure {
    NAME.buf = VALUE.buf = scratch;
    this.failed = true;
    this.error = { kind: "error", pos, reason };
    return this.error;
  }
}

export function createDecoder(maxTableSize = 4096): Decoder {
  return new Decoder(maxTableSize);
}
