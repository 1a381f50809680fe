/**
 * Where one request goes, decided when its head is complete: the service's
 * routes (first match in file order, src/routes/), then its own backend.
 * The outcome says which backend takes the request and what changes on
 * the way (the route's request and response header rules, strip_prefix /
 * add_prefix, X-Request-Id), or the whole answer when the route answers
 * itself (respond, redirect). A service with neither routes nor
 * request_id costs one check: `route` returns undefined and the request
 * goes to the service's backend unchanged.
 */
import { concatBytes } from "../net/bytes.ts";
import type { BackendHandle, ServiceHandle } from "../protocol.ts";
import { redirectLocation, renderRedirect, renderRespond } from "../routes/answer.ts";
import { HeadFacts } from "../routes/facts.ts";
import { type HeadEdit, headerEdit, NO_EDIT, requestEdit, responseEdit } from "../routes/rewrite.ts";
import type { TemplateValues } from "../routes/types.ts";
import { newRequestId, requestIdLine, requestIdOf } from "./request-id.ts";
import type { FieldLines } from "./serialize.ts";
import type { RequestHead } from "./types.ts";

/** What a route decided for one request. */
export interface Routed {
  /** The backend that takes it; undefined: plb answers (`answer`), or nothing takes it (404). */
  readonly backend: BackendHandle | undefined;
  /** Changes to the request head sent to the server. */
  readonly request: HeadEdit;
  /** Changes to the response head relayed to the client. */
  readonly response: HeadEdit;
  /** The answer plb gives itself (respond, redirect), with its status; `close`: the connection ends after it. */
  readonly answer: { readonly bytes: Uint8Array; readonly status: number; readonly close: boolean } | undefined;
  /** The request's X-Request-Id (its own, or the one plb made), with request_id = true; "" otherwise. */
  readonly requestId: string;
}

/** Routes the requests of one client connection (its facts object is reused from request to request). */
export class RequestRouter {
  private readonly facts = new HeadFacts();

  constructor(
    private readonly clientIp: string,
    private readonly scheme: "http" | "https",
  ) {}

  /** Where `head` goes, or undefined when the service neither routes nor adds a request id (its own backend, unchanged). */
  route(service: ServiceHandle, head: RequestHead, requestIdOn: boolean): Routed | undefined {
    const routed = service.cfg.routes.length > 0;
    if (!routed && !requestIdOn) return undefined;
    const own = requestIdOn ? requestIdOf(head) : undefined;
    const requestId = !requestIdOn ? "" : (own ?? newRequestId());
    const added = requestIdOn && own === undefined ? requestIdLine(requestId) : undefined;
    const choice = routed ? service.route(this.facts.reset(head)) : undefined;
    if (choice === undefined) {
      return { backend: service.backend, request: withLines(NO_EDIT, added), response: NO_EDIT, answer: undefined, requestId };
    }
    const route = choice.route;
    const values: TemplateValues = { client_ip: this.clientIp, scheme: this.scheme, host: routed ? this.facts.host : "", request_id: requestId };
    const action = route.action;
    if (action.kind === "backend") {
      return { backend: choice.backend ?? service.backend, request: withLines(requestEdit(route, head, values), added), response: responseEdit(route, values), answer: undefined, requestId };
    }
    // plb answers: a request body it will not read ends the connection, as does a client that asked to close.
    const close = !head.keepAlive || head.body.kind !== "none";
    const opts = { head: head.method === "HEAD", close, edit: headerEdit(route.response_headers, values) };
    if (action.kind === "respond") return { backend: undefined, request: NO_EDIT, response: NO_EDIT, answer: { bytes: renderRespond(action, opts), status: action.status, close }, requestId };
    const req = { scheme: this.scheme, host: head.host, target: head.target, targetForm: head.targetForm };
    // Without a host to redirect to (HTTP/1.0 without Host), the answer is a 400, and the connection closes.
    const status = redirectLocation(action, req) === undefined ? 400 : action.status;
    return { backend: undefined, request: NO_EDIT, response: NO_EDIT, answer: { bytes: renderRedirect(action, req, opts), status, close: close || status === 400 }, requestId };
  }
}

/** `edit` with `lines` added after its own (undefined: unchanged). */
function withLines(edit: HeadEdit, lines: FieldLines | undefined): HeadEdit {
  if (lines === undefined) return edit;
  return { line: edit.line, drop: edit.drop, lines: edit.lines === undefined ? lines : (concatBytes([edit.lines, lines]) as FieldLines) };
}
