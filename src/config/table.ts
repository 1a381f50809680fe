/** What the table checkers share: a TOML table, and how problems are reported and located. */

export type Table = Record<string, unknown>;

export function isTable(v: unknown): v is Table {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

/** Report a problem at key path `path` (the message names it), on `line`. */
export type Report = (path: string, message: string, line: number | undefined) => void;
/** The line of a key of the table being checked (or of an element of its array), else of the table's header. */
export type At = (key?: string, element?: number) => number | undefined;
