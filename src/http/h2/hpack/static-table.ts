/**
 * The HPACK static table (RFC 7541 Appendix A), indexes 1..61, and the
 * encoder's lookups into it.
 */

// prettier-ignore
const ENTRIES: readonly (readonly [string, string])[] = [
  [":authority", ""], // 1
  [":method", "GET"], // 2
  [":method", "POST"], // 3
  [":path", "/"], // 4
  [":path", "/index.html"], // 5
  [":scheme", "http"], // 6
  [":scheme", "https"], // 7
  [":status", "200"], // 8
  [":status", "204"], // 9
  [":status", "206"], // 10
  [":status", "304"], // 11
  [":status", "400"], // 12
  [":status", "404"], // 13
  [":status", "500"], // 14
  ["accept-charset", ""], // 15
  ["accept-encoding", "gzip, deflate"], // 16
  ["accept-language", ""], // 17
  ["accept-ranges", ""], // 18
  ["accept", ""], // 19
  ["access-control-allow-origin", ""], // 20
  ["age", ""], // 21
  ["allow", ""], // 22
  ["authorization", ""], // 23
  ["cache-control", ""], // 24
  ["content-disposition", ""], // 25
  ["content-encoding", ""], // 26
  ["content-language", ""], // 27
  ["content-length", ""], // 28
  ["content-location", ""], // 29
  ["content-range", ""], // 30
  ["content-type", ""], // 31
  ["cookie", ""], // 32
  ["date", ""], // 33
  ["etag", ""], // 34
  ["expect", ""], // 35
  ["expires", ""], // 36
  ["from", ""], // 37
  ["host", ""], // 38
  ["if-match", ""], // 39
  ["if-modified-since", ""], // 40
  ["if-none-match", ""], // 41
  ["if-range", ""], // 42
  ["if-unmodified-since", ""], // 43
  ["last-modified", ""], // 44
  ["link", ""], // 45
  ["location", ""], // 46
  ["max-forwards", ""], // 47
  ["proxy-authenticate", ""], // 48
  ["proxy-authorization", ""], // 49
  ["range", ""], // 50
  ["referer", ""], // 51
  ["refresh", ""], // 52
  ["retry-after", ""], // 53
  ["server", ""], // 54
  ["set-cookie", ""], // 55
  ["strict-transport-security", ""], // 56
  ["transfer-encoding", ""], // 57
  ["user-agent", ""], // 58
  ["vary", ""], // 59
  ["via", ""], // 60
  ["www-authenticate", ""], // 61
];

export const STATIC_COUNT = ENTRIES.length;
/** Name and value of static index i (1-based) at STATIC_NAMES[i], STATIC_VALUES[i]. */
export const STATIC_NAMES: readonly string[] = ["", ...ENTRIES.map((e) => e[0])];
export const STATIC_VALUES: readonly string[] = ["", ...ENTRIES.map((e) => e[1])];

/** Per name: its first static index, and the index of each value it has there. */
export interface StaticName {
  readonly index: number;
  readonly values: ReadonlyMap<string, number>;
}

export const STATIC_BY_NAME: ReadonlyMap<string, StaticName> = (() => {
  const m = new Map<string, { index: number; values: Map<string, number> }>();
  ENTRIES.forEach(([name, value], i) => {
    let e = m.get(name);
    if (e === undefined) m.set(name, (e = { index: i + 1, values: new Map() }));
    if (!e.values.has(value)) e.values.set(value, i + 1);
  });
  return m;
})();
