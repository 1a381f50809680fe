/**
 * The HPACK encoder (RFC 7541 §6), one per connection: a header list in
 * (latin1 strings, lowercase names), one field block out.
 *
 * - A field the static table holds whole (":status 200", ":method GET",
 *   "accept-encoding gzip, deflate") is one indexed octet; one the dynamic
 *   table holds is indexed too.
 * - Others are literals with a name index when a table has the name, and
 *   are added to the dynamic table ("server", "content-type", "vary", …
 *   repeated across responses) unless their entry would take more than a
 *   quarter of the table or the value changes per message (NO_INDEX:
 *   ":path", "content-length", "etag", "set-cookie", …).
 * - Sensitive fields ("authorization", "proxy-authorization", a "cookie"
 *   under 20 octets, as nghttp2 decides) are never indexed (§7.1.3), so an
 *   intermediary re-encodes them as literals too.
 * - Strings use the Huffman code when it is shorter.
 * - After the peer's SETTINGS_HEADER_TABLE_SIZE changes our table size
 *   (we use at most 4096 octets), the next block starts with the size
 *   updates (§4.2: the smallest size reached, then the final one).
 *
 * Nothing is allocated per field but the output block (and the dynamic
 * table's bookkeeping when an entry is added). A char above 0xff in a name
 * or value is a caller's bug: a RangeError.
 */
import type { HeaderEncoder, HeaderList } from "../types.ts";
import { DynamicTable, entrySize } from "./dynamic-table.ts";
import { huffmanEncode, huffmanLength } from "./huffman.ts";
import { writeInt } from "./integer.ts";
import { STATIC_BY_NAME, STATIC_COUNT } from "./static-table.ts";

/** The most dynamic table we keep, whatever the peer allows. */
export const ENCODER_TABLE_SIZE = 4096;

/** Fields whose values change from message to message: indexing them would only churn the table. */
const NO_INDEX = new Set([":path", "content-length", "content-range", "location", "set-cookie", "etag", "last-modified", "if-modified-since", "if-none-match", "if-range", "age", "expires"]);
const SENSITIVE = new Set(["authorization", "proxy-authorization"]);

/** The output of the block being encoded, shared by every encoder (encoding is synchronous; each block is a copy). */
let OUT = new Uint8Array(4096);

export class Encoder implements HeaderEncoder {
  private readonly table = new DynamicTable(ENCODER_TABLE_SIZE, (abs, name, value) => this.forget(abs, name, value));
  /**
   * Newest entry of the dynamic table per name, and per name and value
   * (absolute numbers): a name with one value in the table maps to its
   * entry's number, one with several to a map by value.
   */
  private readonly byName = new Map<string, number>();
  private readonly byField = new Map<string, number | Map<string, number>>();
  /** Pending size updates: the smallest size since the last block (-1: none), and the final one. */
  private updateMin = -1;
  private updateTo = ENCODER_TABLE_SIZE;

  /** Entries and size of the dynamic table, newest first (for tests and the fuzzer). */
  tableState(): { maxSize: number; size: number; entries: [string, string][] } {
    return { maxSize: this.table.maxSize, size: this.table.size, entries: this.table.entries() };
  }

  setPeerMaxTableSize(n: number): void {
    const size = Math.min(n, ENCODER_TABLE_SIZE);
    if (this.updateMin < 0 && size === this.table.maxSize) return;
    this.updateMin = this.updateMin < 0 ? size : Math.min(this.updateMin, size);
    this.updateTo = size;
  }

  encode(fields: HeaderList): Uint8Array {
    let o = 0;
    if (this.updateMin >= 0) {
      o = writeInt(OUT, o, this.updateMin, 5, 0x20);
      this.table.setMaxSize(this.updateMin);
      if (this.updateTo !== this.updateMin) {
        o = writeInt(OUT, o, this.updateTo, 5, 0x20);
        this.table.setMaxSize(this.updateTo);
      }
      this.updateMin = -1;
    }
    const table = this.table;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i], value = fields[i + 1];
      const out = room(o, 20 + name.length + value.length);
      const st = STATIC_BY_NAME.get(name);
      const sensitive = SENSITIVE.has(name) || (name === "cookie" && value.length < 20);
      if (!sensitive) {
        const si = st?.values.get(value);
        if (si !== undefined) {
          o = writeInt(out, o, si, 7, 0x80);
          continue;
        }
        const abs = this.find(name, value);
        if (abs >= 0) {
          o = writeInt(out, o, table.inserted - abs + STATIC_COUNT, 7, 0x80);
          continue;
        }
      }
      let nameIndex = 0;
      if (st !== undefined) nameIndex = st.index;
      else {
        const abs = this.byName.get(name);
        if (abs !== undefined) nameIndex = table.inserted - abs + STATIC_COUNT;
      }
      const index = !sensitive && !NO_INDEX.has(name) && entrySize(name, value) * 4 <= table.maxSize;
      o = index ? writeInt(out, o, nameIndex, 6, 0x40) : writeInt(out, o, nameIndex, 4, sensitive ? 0x10 : 0);
      if (nameIndex === 0) o = writeString(out, o, name);
      o = writeString(out, o, value);
      if (index) {
        table.add(name, value);
        this.remember(name, value, table.inserted - 1);
      }
    }
    const block = OUT.slice(0, o);
    if (OUT.length > 65536) OUT = new Uint8Array(4096); // one huge block does not keep a huge buffer
    return block;
  }

  /** The absolute number of the entry holding name and value, or -1. */
  private find(name: string, value: string): number {
    const f = this.byField.get(name);
    if (f === undefined) return -1;
    if (typeof f === "number") return this.table.value(this.table.inserted - 1 - f) === value ? f : -1;
    return f.get(value) ?? -1;
  }

  private remember(name: string, value: string, abs: number): void {
    this.byName.set(name, abs);
    const f = this.byField.get(name);
    if (f === undefined) this.byField.set(name, abs);
    else if (typeof f === "number") this.byField.set(name, new Map([[this.table.value(this.table.inserted - 1 - f), f], [value, abs]]));
    else f.set(value, abs);
  }

  private forget(abs: number, name: string, value: string): void {
    if (this.byName.get(name) === abs) this.byName.delete(name);
    const f = this.byField.get(name);
    if (f === abs) this.byField.delete(name);
    else if (typeof f === "object" && f.get(value) === abs) {
      f.delete(value);
      if (f.size === 0) this.byField.delete(name);
    }
  }
}

/** The shared output buffer with room for `n` octets from `o` (what is written so far kept). */
function room(o: number, n: number): Uint8Array {
  if (o + n > OUT.length) {
    const bigger = new Uint8Array(Math.max(2 * OUT.length, o + n));
    bigger.set(OUT.subarray(0, o));
    OUT = bigger;
  }
  return OUT;
}

/** A string literal (§5.2): Huffman when shorter than the raw octets. */
function writeString(out: Uint8Array, o: number, s: string): number {
  const h = huffmanLength(s);
  if (h < 0) throw new RangeError(`HPACK: ${JSON.stringify(s.slice(0, 40))} is not latin1`);
  if (h < s.length) return huffmanEncode(s, out, writeInt(out, o, h, 7, 0x80));
  o = writeInt(out, o, s.length, 7, 0);
  for (let i = 0; i < s.length; i++) out[o++] = s.charCodeAt(i);
  return o;
}

export function createEncoder(): Encoder {
  return new Encoder();
}
