/**
 * How long a server keeps an idle connection open, when it says so with
 * `Keep-Alive: timeout=N` (Apache and Node.js send it; RFC 2068 §19.7.1).
 * plb stops reusing the connection at three quarters of that time: the
 * server's clock starts when it sent the response, plb's a little later.
 */
import type { ResponseHead } from "./types.ts";

const TIMEOUT = /(?:^|[,;\s])timeout\s*=\s*"?(\d{1,9})/i;

/** The reuse limit in ms from the response's Keep-Alive field; undefined when none is given. */
export function announcedIdleMs(head: ResponseHead): number | undefined {
  for (const f of head.fields) {
    if (f.lower !== "keep-alive") continue;
    const m = TIMEOUT.exec(f.value);
    if (m) return Number(m[1]) * 750;
  }
  return undefined;
}
