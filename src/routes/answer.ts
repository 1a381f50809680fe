/**
 * The answers a route gives itself, as HTTP/1.1 bytes: `respond` (status,
 * body, content type) and `redirect` (Location built from the request).
 * Both have a Content-Length (a HEAD answer has the same fields and no
 * body); `Connection: close` when the caller will close the connection
 * (a request body plb did not read, the client asked to close).
 */
import { CONNECTION_CLOSE, fieldLines } from "../http/serialize.ts";
import { errorReply, reasonPhrase } from "../http/replies.ts";
import type { TargetForm } from "../http/types.ts";
import { targetPath } from "./facts.ts";
import type { HeadEdit } from "./rewrite.ts";
import type { RedirectAction, RespondAction } from "./types.ts";

export interface AnswerOptions {
  /** The request was HEAD: fields without the body. */
  readonly head: boolean;
  /** Add `Connection: close`. */
  readonly close: boolean;
  /** The route's response_headers (`headerEdit`): a field it sets or removes replaces plb's own (Content-Type, Location); its lines come before Connection. */
  readonly edit?: HeadEdit;
}

const encoder = new TextEncoder();

function render(status: number, fields: [string, string][], body: Uint8Array, opts: AnswerOptions): Uint8Array {
  const start = encoder.encode(`HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`);
  const drop = opts.edit?.drop;
  const own = fieldLines(drop === undefined ? fields : fields.filter(([n]) => !drop.has(n.toLowerCase())));
  const extra = opts.edit?.lines;
  const conn = opts.close ? CONNECTION_CLOSE : undefined;
  const size = start.length + own.length + (extra?.length ?? 0) + (conn?.length ?? 0) + 2 + (opts.head ? 0 : body.length);
  const out = new Uint8Array(size);
  let o = 0;
  for (const part of [start, own, extra, conn]) {
    if (part === undefined) continue;
    out.set(part, o);
    o += part.length;
  }
  out[o++] = 13;
  out[o++] = 10;
  if (!opts.head) out.set(body, o);
  return out;
}

const bodies = new WeakMap<RespondAction, Uint8Array>();

/** The answer of a `respond` route. */
export function renderRespond(a: RespondAction, opts: AnswerOptions): Uint8Array {
  let body = bodies.get(a);
  if (body === undefined) bodies.set(a, (body = encoder.encode(a.body)));
  const fields: [string, string][] = [];
  // 204 and 304 have neither body nor Content-Length (RFC 9110 §8.6); the configuration gives them no body.
  if (a.status !== 204 && a.status !== 304) fields.push(["Content-Type", a.content_type], ["Content-Length", String(body.length)]);
  return render(a.status, fields, body, opts);
}

/** What a redirect reads of the request. */
export interface RedirectRequest {
  readonly scheme: "http" | "https";
  /** The Host as received (with its port), or undefined. */
  readonly host: string | undefined;
  readonly target: string;
  readonly targetForm: TargetForm;
}

const DEFAULT_PORT = { http: 80, https: 443 } as const;

/** Split "host[:port]" / "[v6][:port]". */
function splitHost(h: string): { name: string; port: number | undefined } {
  const close = h.startsWith("[") ? h.indexOf("]") : -1;
  const colon = h.indexOf(":", close < 0 ? 0 : close);
  if (colon < 0) return { name: h, port: undefined };
  return { name: h.slice(0, colon), port: Number(h.slice(colon + 1)) };
}

/**
 * The Location of a redirect: the route's scheme, host, port and path where
 * given, the request's otherwise, and the request's query. When the route
 * changes the scheme or the host, the request's port is not carried over
 * (the new one is the route's `port`, or the scheme's default); a default
 * port is never written. Undefined when neither the route nor the request
 * names a host (HTTP/1.0 without Host).
 */
export function redirectLocation(a: RedirectAction, req: RedirectRequest): string | undefined {
  const given = req.host === undefined ? undefined : splitHost(req.host);
  const name = a.host ?? given?.name;
  if (name === undefined || name === "") return undefined;
  const scheme = a.scheme ?? req.scheme;
  const port = a.port ?? (a.scheme !== undefined || a.host !== undefined ? undefined : given?.port);
  const t = req.target;
  const q = req.targetForm === "origin" || req.targetForm === "absolute" ? t.indexOf("?") : -1;
  const own = targetPath(t, req.targetForm);
  const path = a.path ?? (own.startsWith("/") ? own : "/");
  const query = q < 0 ? "" : t.slice(q);
  const p = port === undefined || port === DEFAULT_PORT[scheme] ? "" : `:${port}`;
  return `${scheme}://${name}${p}${path}${query}`;
}

/** The answer of a `redirect` route (400, closing, without a host to redirect to). */
export function renderRedirect(a: RedirectAction, req: RedirectRequest, opts: AnswerOptions): Uint8Array {
  const location = redirectLocation(a, req);
  if (location === undefined) {
    // A HEAD gets the head alone (errorReply always carries its body).
    const e = errorReply(400);
    if (!opts.head) return e;
    let end = 0;
    while (!(e[end] === 13 && e[end + 1] === 10 && e[end + 2] === 13 && e[end + 3] === 10)) end++;
    return e.subarray(0, end + 4);
  }
  return render(a.status, [["Location", location], ["Content-Length", "0"]], new Uint8Array(0), opts);
}
