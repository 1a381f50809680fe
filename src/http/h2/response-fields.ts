/**
 * A server's HTTP/1.x response head → the HTTP/2 response header list
 * (RFC 9113 §8.3.2): `:status` first, then the fields in order with their
 * names lowercased and values as parsed (head.ts trimmed them and let no
 * control through), without the connection-specific ones (§8.2.2:
 * Connection and the fields it names, Keep-Alive, Proxy-Connection, TE,
 * Upgrade: serialize.ts hopByHop) nor Transfer-Encoding (HTTP/2 frames the
 * body itself). A route's `response_headers` edit applies as on the HTTP/1
 * path (routes/rewrite.ts withEdit: its drop set, then its lines after the
 * kept fields). Pure.
 */
import { type HeadEdit, NO_EDIT, withEdit } from "../../routes/rewrite.ts";
import { type FieldLines, hopByHop } from "../serialize.ts";
import { decode, type ResponseHead } from "../types.ts";
import type { HeaderList } from "./types.ts";

const dropBase = (hop: ReadonlySet<string>) => (lower: string) => lower === "transfer-encoding" || hop.has(lower);

/** Append the name/value pairs of checked field lines ("Name: value\r\n"…, as serialize.ts fieldLines writes them) to `out`, names lowercased. */
export function pushFieldLines(out: HeaderList, lines: FieldLines, drop?: (lower: string) => boolean): void {
  let i = 0;
  while (i < lines.length) {
    const colon = lines.indexOf(0x3a, i);
    const eol = lines.indexOf(0x0d, colon);
    const name = decode(lines, i, colon).toLowerCase();
    if (drop === undefined || !drop(name)) out.push(name, decode(lines, colon + 2, eol));
    i = eol + 2;
  }
}

/** The HTTP/2 header list for a parsed response head; `buf` holds the head's bytes (its field offsets point into it). */
export function h2ResponseFields(head: ResponseHead, buf: Uint8Array, edit: HeadEdit = NO_EDIT): HeaderList {
  void buf; // names and values are already strings of the head (head.ts decodes it once); kept for the contract and future zero-copy use
  const base = dropBase(hopByHop(head));
  const opts = withEdit({ drop: base }, edit);
  const drop = opts.drop!;
  const out: HeaderList = [":status", String(head.status)];
  for (const f of head.fields) if (!drop(f.lower)) out.push(f.lower, f.value);
  // A route's lines may not bring connection-specific fields into HTTP/2 either.
  if (opts.lines !== undefined) for (const l of opts.lines) pushFieldLines(out, l, base);
  return out;
}
