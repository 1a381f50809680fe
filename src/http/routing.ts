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
import { certSatisfies, type ClientCertificate } from "../tls/client-cert.ts";

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

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The answer to a request whose route requires a client certificate the connection lacks. */
const FORBIDDEN = { kind: "respond", status: 403, body: "403 Forbidden: this path needs a valid client certificate.\n", content_type: "text/plain; charset=utf-8" } as const;

/**
 * Routes the requests of one client connection. Its facts, template values
 * and answer objects are reused from request to request (read them before
 * the next `route`): routing allocates nothing for a route without
 * variables.
 */
export class RequestRouter {
  private readonly facts = new HeadFacts();
  private readonly values: Mutable<TemplateValues>;
  private readonly out: Mutable<Routed> = { backend: undefined, request: NO_EDIT, response: NO_EDIT, answer: undefined, requestId: "" };

  /** `clientCert`: the connection's client certificate (undefined: none shown, or the service asks for none). */
  constructor(
    clientIp: string,
    private readonly scheme: "http" | "https",
    private readonly clientCert?: ClientCertificate,
  ) {
    this.values = { client_ip: clientIp, scheme, host: "", request_id: "" };
  }

  /** Where `head` goes, or undefined when the service neither routes nor adds a request id (its own backend, unchanged). */
  route(service: ServiceHandle, head: RequestHead, requestIdOn: boolean): Routed | undefined {
    const routed = service.cfg.routes.length > 0;
    if (!routed && !requestIdOn) return undefined;
    const out = this.out;
    const own = requestIdOn ? requestIdOf(head) : undefined;
    const requestId = !requestIdOn ? "" : (own ?? newRequestId());
    const added = requestIdOn && own === undefined ? requestIdLine(requestId) : undefined;
    out.requestId = requestId;
    out.answer = undefined;
    out.response = NO_EDIT;
    const choice = routed ? service.route(this.facts.reset(head)) : undefined;
    if (choice === undefined) {
      out.backend = service.backend;
      out.request = withLines(NO_EDIT, added);
      return out;
    }
    const route = choice.route;
    if (route.client_cert !== undefined && !certSatisfies(route.client_cert, this.clientCert)) {
      // A requirement, not a selector: a wider route further down must not serve it.
      out.backend = undefined;
      out.request = NO_EDIT;
      const close = !head.keepAlive || head.body.kind !== "none";
      out.answer = { bytes: renderRespond(FORBIDDEN, { head: head.method === "HEAD", close, edit: NO_EDIT }), status: 403, close };
      return out;
    }
    const values = this.values;
    values.host = this.facts.host;
    values.request_id = requestId;
    const action = route.action;
    if (action.kind === "backend") {
      out.backend = choice.backend ?? service.backend;
      out.request = withLines(requestEdit(route, head, values), added);
      out.response = responseEdit(route, values);
      return out;
    }
    out.backend = undefined;
    out.request = NO_EDIT;
    // plb answers: a request body it will not read ends the connection, as does a client that asked to close.
    const close = !head.keepAlive || head.body.kind !== "none";
    const opts = { head: head.method === "HEAD", close, edit: headerEdit(route.response_headers, values) };
    if (action.kind === "respond") {
      out.answer = { bytes: renderRespond(action, opts), status: action.status, close };
      return out;
    }
    const req = { scheme: this.scheme, host: head.host, target: head.target, targetForm: head.targetForm };
    // Without a host to redirect to (HTTP/1.0 without Host), the answer is a 400, and the connection closes.
    const status = redirectLocation(action, req) === undefined ? 400 : action.status;
    out.answer = { bytes: renderRedirect(action, req, opts), status, close: close || status === 400 };
    return out;
  }
}

/** `edit` with `lines` added after its own (undefined: unchanged). */
function withLines(edit: HeadEdit, lines: FieldLines | undefined): HeadEdit {
  if (lines === undefined) return edit;
  return { line: edit.line, drop: edit.drop, lines: edit.lines === undefined ? lines : (concatBytes([edit.lines, lines]) as FieldLines) };
}
