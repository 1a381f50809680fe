/**
 * Does an http check's answer pass? Pure functions over the status and
 * the body bytes read so far (health.expect: status classes, codes, a body
 * substring). No I/O: tested on their own (tests/http-expect.test.ts).
 */
import type { HttpExpect } from "../config/health.ts";
import { indexOfBytes } from "../net/bytes.ts";

/** The status is one `expect` allows (a class it names, or one of its codes). */
export function statusPasses(expect: HttpExpect, status: number): boolean {
  return expect.codes.includes(status) || expect.classes.includes(Math.floor(status / 100));
}

/** "2xx or 3xx", "200 or 204", "2xx, 301 or 302": what `expect` allows, for messages. */
export function describeStatuses(expect: HttpExpect): string {
  const all = [...expect.classes.map((c) => `${c}xx`), ...expect.codes.map(String)];
  return all.length <= 1 ? (all[0] ?? "") : `${all.slice(0, -1).join(", ")} or ${all[all.length - 1]}`;
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly reason: "status" | "body"; readonly why: string };

/**
 * The verdict on a status (and, when `expect.body` is set, the body bytes
 * read so far, `complete` when no more will come). `undefined`: the body
 * has not shown the substring yet and more may come.
 */
export function judge(expect: HttpExpect, status: number, body: Uint8Array | undefined, complete: boolean, needle?: Uint8Array): Verdict | undefined {
  if (!statusPasses(expect, status)) return { ok: false, reason: "status", why: `expected ${describeStatuses(expect)}` };
  if (expect.body === undefined) return { ok: true };
  const want = needle ?? new TextEncoder().encode(expect.body);
  if (body !== undefined && indexOfBytes(body, want) >= 0) return { ok: true };
  return complete ? { ok: false, reason: "body", why: `no ${JSON.stringify(expect.body)} in the body` } : undefined;
}
