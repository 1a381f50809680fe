/**
 * The HPACK dynamic table (RFC 7541 §2.3.2, §4): a ring buffer of entries,
 * newest first, each costing its name and value octets plus 32; adding
 * evicts the oldest entries until the new one fits, an entry larger than the
 * whole table empties it (§4.4), and a smaller maximum evicts at once (§4.3).
 * Names and values are latin1 strings, so a string's length is its octets.
 */

export const ENTRY_OVERHEAD = 32;

/** Size of an entry (RFC 7541 §4.1), also a field's share of a header list size (RFC 9113 §6.5.2). */
export const entrySize = (name: string, value: string): number => name.length + value.length + ENTRY_OVERHEAD;

export class DynamicTable {
  // 4 slots to start (a power of two, doubled when full): a connection's tables often hold a few entries.
  private names: string[] = new Array(4);
  private values: string[] = new Array(4);
  /** Slot of the next insertion; entries sit before it, newest first. */
  private head = 0;
  private count = 0;
  /** Sum of the entries' sizes. */
  size = 0;
  /** Entries ever inserted: the next one's absolute number (the oldest present is `inserted - length`). */
  inserted = 0;

  /** `evicted` hears of each entry leaving the table, by absolute number (the encoder's lookups). */
  constructor(
    public maxSize: number,
    private readonly evicted?: (abs: number, name: string, value: string) => void,
  ) {}

  get length(): number {
    return this.count;
  }

  private slot(i: number): number {
    return (this.head - 1 - i) & (this.names.length - 1);
  }

  /** Name of entry i (0: the newest); i < length. */
  name(i: number): string {
    return this.names[this.slot(i)];
  }

  value(i: number): string {
    return this.values[this.slot(i)];
  }

  /** [name, value] of every entry, newest first (for tests and the fuzzer). */
  entries(): [string, string][] {
    return Array.from({ length: this.count }, (_, i): [string, string] => [this.name(i), this.value(i)]);
  }

  add(name: string, value: string): void {
    const size = entrySize(name, value);
    if (size > this.maxSize) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxSize - size);
    if (this.count === this.names.length) this.grow();
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & (this.names.length - 1);
    this.count++;
    this.size += size;
    this.inserted++;
  }

  setMaxSize(n: number): void {
    this.maxSize = n;
    this.evictTo(n);
  }

  /** Evict the oldest entries until the size is at most `limit`. */
  private evictTo(limit: number): void {
    const mask = this.names.length - 1;
    while (this.size > limit) {
      const s = (this.head - this.count) & mask;
      const name = this.names[s], value = this.values[s];
      this.size -= entrySize(name, value);
      this.evicted?.(this.inserted - this.count, name, value);
      this.names[s] = this.values[s] = "";
      this.count--;
    }
  }

  private grow(): void {
    const n = this.names.length;
    const names: string[] = new Array(2 * n), values: string[] = new Array(2 * n);
    for (let i = 0; i < this.count; i++) {
      const s = (this.head - this.count + i) & (n - 1);
      names[i] = this.names[s];
      values[i] = this.values[s];
    }
    this.names = names;
    this.values = values;
    this.head = this.count;
  }
}
