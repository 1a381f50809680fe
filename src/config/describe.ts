/** How a parsed TOML value is named in messages: `string "three"`, `integer 3`, `table`. */

/** The TOML type name of a parsed value. */
export function tomlType(v: unknown): string {
  if (typeof v === "string") return "string";
  if (typeof v === "boolean") return "boolean";
  if (typeof v === "bigint") return "integer";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "float";
  if (v instanceof Date) return "datetime";
  if (Array.isArray(v)) return "array";
  if (v !== null && typeof v === "object") return "table";
  return typeof v;
}

/** `string "three"`, `integer 3`, `float 2.5`, `array`, `table`; without the type when `withType` is false. */
export function describeValue(v: unknown, withType = true): string {
  const type = tomlType(v);
  let text: string;
  if (typeof v === "string") text = JSON.stringify(v);
  else if (typeof v === "number") text = Number.isNaN(v) ? "nan" : v === Infinity ? "inf" : v === -Infinity ? "-inf" : String(v);
  else if (typeof v === "bigint" || typeof v === "boolean") text = String(v);
  else if (v instanceof Date) text = Number.isNaN(v.getTime()) ? "invalid" : v.toISOString();
  else return type;
  return withType ? `${type} ${text}` : text;
}
