/**
 * HTTP-01 (RFC 8555 §8.3) in every plain http service: `GET
 * /.well-known/acme-challenge/TOKEN` for a token the ACME manager has
 * pending is answered by plb with its key authorization, before any route,
 * so no backend sees it. Any other request, an unknown token included, goes
 * on to the routes as usual (a backend may answer challenges of its own,
 * say a certbot behind plb). Costs one size check per request while no
 * token is pending.
 */
import { http01Token } from "../acme/challenges.ts";
import { http01Tokens } from "../acme/publish.ts";
import { renderRespond } from "../routes/answer.ts";
import { NO_EDIT } from "../routes/rewrite.ts";
import type { RequestHead } from "./types.ts";

export interface ChallengeAnswer {
  readonly bytes: Uint8Array;
  readonly status: number;
  readonly close: boolean;
}

/** The path of an origin-form or absolute-form target, without its query. */
function pathOf(target: string): string {
  let start = 0;
  if (target.charCodeAt(0) !== 47 /* / */) {
    const scheme = target.indexOf("://");
    if (scheme < 0) return "";
    start = target.indexOf("/", scheme + 3);
    if (start < 0) return "";
  }
  const q = target.indexOf("?", start);
  return target.slice(start, q < 0 ? undefined : q);
}

/** plb's answer to `head` when it is an HTTP-01 validation request for a pending token, else undefined. */
export function acmeChallengeAnswer(head: RequestHead): ChallengeAnswer | undefined {
  if (http01Tokens.size === 0 || (head.method !== "GET" && head.method !== "HEAD")) return undefined;
  const token = http01Token(pathOf(head.target));
  const keyAuthorization = token === undefined ? undefined : http01Tokens.get(token);
  if (keyAuthorization === undefined) return undefined;
  // A request body plb will not read ends the connection, as does a client that asked to close.
  const close = !head.keepAlive || head.body.kind !== "none";
  const action = { kind: "respond", status: 200, body: keyAuthorization, content_type: "application/octet-stream" } as const;
  return { bytes: renderRespond(action, { head: head.method === "HEAD", close, edit: NO_EDIT }), status: 200, close };
}
