/**
 * The answers plb gives itself: a status line, a short plain-text body and
 * correct framing, always closing the connection. Rendered once per status.
 */
const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  410: "Gone",
  418: "I'm a teapot",
  429: "Too Many Requests",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  400: "Bad Request",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

const BODIES: Record<number, string> = {
  404: "No route matches this request.",
  400: "The request could not be understood.",
  408: "The request was not received in time.",
  413: "The request body is too large.",
  414: "The request target is too long.",
  431: "The request header fields are too large.",
  501: "The request uses a transfer coding this server does not implement.",
  502: "The server sent an invalid response.",
  503: "No server is available to handle this request.",
  504: "The server did not answer in time.",
  505: "This HTTP version is not supported.",
};

const cache = new Map<number, Uint8Array>();
const encoder = new TextEncoder();

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Error";
}

function render(status: number, body: Uint8Array, type: string): Uint8Array {
  const head = encoder.encode(
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n`,
  );
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** A complete `Connection: close` response for `status` with plb's own short text. */
export function errorReply(status: number): Uint8Array {
  let r = cache.get(status);
  if (r === undefined) {
    r = render(status, encoder.encode(`${status} ${reasonPhrase(status)}: ${BODIES[status] ?? "Error."}\n`), "text/plain; charset=utf-8");
    cache.set(status, r);
  }
  return r;
}

/** The same answer with an operator's page (error_pages) as body. */
export function customReply(status: number, page: Uint8Array): Uint8Array {
  return render(status, page, "text/html; charset=utf-8");
}
