/**
 * src/config/route.ts through parseConfig: what [[service.route]] tables
 * and inline routes become, and every mistake reported with its line and,
 * where it helps, a suggestion.
 */
import { describe, expect, test } from "bun:test";
import { configWarnings, parseConfig } from "../src/config/load.ts";
import { checkRouteBackends, checkRoutes } from "../src/config/route.ts";
import { PlbError } from "../src/errors.ts";
import { HTTP_SERVICE, routesOf, withBackends } from "./support/routes.ts";

/** The problem lines for a service whose routes are `routes`. */
function problems(routes: string, service = HTTP_SERVICE): string[] {
  try {
    parseConfig(withBackends(`${service}${routes}`), "plb.toml");
  } catch (err) {
    expect(err).toBeInstanceOf(PlbError);
    expect((err as PlbError).code).toBe("CONFIG_INVALID");
    return (err as Error).message.split("\n");
  }
  throw new Error("expected the configuration to be rejected");
}

describe("what a route becomes", () => {
  test("the issue's example", () => {
    const routes = routesOf(`
[[service.route]]
host = ["api.example.com"]
path = "/v1/"
backend = "api"
strip_prefix = "/v1"
request_headers = { remove = ["X-Internal"], set = { "X-Env" = "prod" } }

[[service.route]]
host = ["example.com", "*.example.com"]
path = "/robots.txt"
respond = { status = 200, body = "User-agent: *\\nDisallow:\\n", content_type = "text/plain" }

[[service.route]]
host = ["example.com", "*.example.com"]
backend = "web"
response_headers = { set = { "Strict-Transport-Security" = "max-age=63072000" }, remove = ["Server"] }

[[service.route]]
redirect = { scheme = "https", status = 301 }
`);
    expect(routes.map((r) => [r.index, r.line])).toEqual([[0, 7], [1, 14], [2, 19], [3, 24]]);
    expect(routes[0]).toMatchObject({
      hosts: ["api.example.com"], path: { kind: "prefix", value: "/v1/" }, methods: undefined, headers: [], action: { kind: "backend", name: "api", line: 10 },
      strip_prefix: "/v1", add_prefix: undefined, request_headers: { remove: ["x-internal"], set: [["X-Env", { text: "prod", parts: ["prod"] }]], add: [] },
    });
    expect(routes[1].action).toEqual({ kind: "respond", status: 200, body: "User-agent: *\nDisallow:\n", content_type: "text/plain" });
    expect(routes[2].response_headers?.remove).toEqual(["server"]);
    expect(routes[3].action).toEqual({ kind: "redirect", scheme: "https", host: undefined, port: undefined, path: undefined, status: 301 });
  });
  test("defaults: a route without backend, redirect or respond uses the service's servers; header \"*\" is presence", () => {
    const [r] = routesOf(`[[service.route]]\nmethod = ["GET", "HEAD"]\nheader = { "X-Debug" = "*", "X-Tenant" = " blue " }\n`);
    expect(r.action).toEqual({ kind: "backend", name: undefined });
    expect(r.methods).toEqual(["GET", "HEAD"]);
    expect(r.headers).toEqual([{ name: "x-debug", value: undefined }, { name: "x-tenant", value: "blue" }]);
  });
  test("the routes of a second service, and its keys, are located in it", () => {
    const text = `${HTTP_SERVICE}[[service.route]]\npath = "/a"\n\n${HTTP_SERVICE.replace('"edge"', '"two"').replace("8080", "8081")}[[service.route]]\npath = "/b"\n[[service.route]]\nhost = "x"\nmethod = "get"\n`;
    try {
      parseConfig(withBackends(text), "plb.toml");
      throw new Error("accepted");
    } catch (err) {
      expect((err as Error).message).toBe('plb.toml:18: service "two": route[1].method: methods are case-sensitive: "get" matches no client\'s request (did you mean "GET"?)');
    }
    const ok = parseConfig(withBackends(text.replace('"get"', '"GET"')), "plb.toml");
    expect(ok.services.map((s) => s.routes.map((r) => r.line))).toEqual([[6], [14, 16]]);
  });
  test("inline routes, located by element", () => {
    const c = parseConfig(withBackends(`${HTTP_SERVICE}route = [\n  { path = "/a", backend = "a" },\n  { path_exact = "/b", respond = { status = 404 } },\n]\n`), "plb.toml");
    expect(c.services[0].routes.map((r) => [r.line, r.path?.kind])).toEqual([[7, "prefix"], [8, "exact"]]);
  });
  test("request_id is an http setting, false by default; services without routes have []", () => {
    const c = parseConfig(`${HTTP_SERVICE}request_id = true\n`, "plb.toml");
    expect(c.services[0].http.request_id).toBe(true);
    expect(c.services[0].routes).toEqual([]);
    expect(Object.isFrozen(c.services[0].routes)).toBe(true);
  });
});

describe("mistakes, with their lines", () => {
  test("unknown keys get suggestions; an empty route; two terminal actions; two path keys", () => {
    expect(problems(`[[service.route]]\nhosts = ["a"]\npaths = "/"\n[[service.route]]\n[[service.route]]\nbackend = "a"\nredirect = { path = "/" }\npath = "/"\npath_exact = "/"\n`)).toEqual([
      'plb.toml:7: service "edge": route[0].hosts: unknown key "hosts" (did you mean "host"?) (route keys: host, path, path_exact, path_regex, method, header, client_cert, backend, redirect, respond, strip_prefix, add_prefix, request_headers, response_headers)',
      'plb.toml:8: service "edge": route[0].paths: unknown key "paths" (did you mean "path"?) (route keys: host, path, path_exact, path_regex, method, header, client_cert, backend, redirect, respond, strip_prefix, add_prefix, request_headers, response_headers)',
      'plb.toml:9: service "edge": route[1]: an empty route: give it conditions (host, path, path_exact, path_regex, method, header) and an action (backend, redirect, respond, …)',
      'plb.toml:12: service "edge": route[2].redirect: a route has one of backend, redirect and respond (this one has backend and redirect)',
      'plb.toml:14: service "edge": route[2].path_exact: give one of path, path_exact and path_regex (this route has path and path_exact)',
    ]);
  });
  test("hosts, paths, regexes, methods", () => {
    expect(problems(`[[service.route]]\nhost = ["a.example:8080"]\n[[service.route]]\nhost = "api.*.com"\n[[service.route]]\nhost = []\n[[service.route]]\npath = "v1"\n[[service.route]]\npath = "/a b"\n[[service.route]]\npath_exact = "/a?b"\n[[service.route]]\npath_regex = "(["\n[[service.route]]\nmethod = "get"\n[[service.route]]\nhost = "*"\n`)).toEqual([
      'plb.toml:7: service "edge": route[0].host: "a.example:8080": hosts are matched without the port (write "a.example")',
      'plb.toml:9: service "edge": route[1].host: "api.*.com": a wildcard is "*." in front of a domain, as in "*.example.com"',
      'plb.toml:11: service "edge": route[2].host: must not be empty (leave host out to match any host)',
      'plb.toml:13: service "edge": route[3].path: must start with "/", got "v1"',
      'plb.toml:15: service "edge": route[4].path: character " " cannot be in a path (write it percent-encoded, as clients send it)',
      'plb.toml:17: service "edge": route[5].path_exact: "?" cannot be in path_exact (paths are matched without the query)',
      expect.stringMatching(/^plb\.toml:19: service "edge": route\[6\]\.path_regex: invalid regular expression: /),
      'plb.toml:21: service "edge": route[7].method: methods are case-sensitive: "get" matches no client\'s request (did you mean "GET"?)',
      'plb.toml:23: service "edge": route[8].host: host "*" matches every host: leave host out instead',
    ]);
  });
  test("header values and names that could split a message; fields a route may not touch; unknown variables", () => {
    expect(problems(`[[service.route]]\nrequest_headers = { set = { "X-A" = "1\\r\\nX-Evil: 2" } }\n[[service.route]]\nresponse_headers = { add = { "X:A" = "1" } }\n[[service.route]]\nrequest_headers = { set = { "Content-Length" = "0" }, remove = ["Connection", "X-Forwarded-For"] }\n[[service.route]]\nrequest_headers = { set = { "X-Ip" = "{remote_ip}" }, sett = {} }\n[[service.route]]\nheader = { "X-A" = "a\\u0000" }\n[[service.route]]\nrequest_headers = { remove = "X-A" }\n`)).toEqual([
      'plb.toml:7: service "edge": route[0].request_headers.set: X-A: CR at offset 1 could split the message (a header value is visible characters, spaces and tabs)',
      'plb.toml:9: service "edge": route[1].response_headers.add: "X:A" is not a header field name (letters, digits and !#$%&\'*+-.^_`|~; no colon, space, CR or LF)',
      'plb.toml:11: service "edge": route[2].request_headers.set: Content-Length cannot be changed by a route: it frames the body',
      'plb.toml:11: service "edge": route[2].request_headers.remove: Connection cannot be changed by a route: plb manages connections',
      'plb.toml:11: service "edge": route[2].request_headers.remove: X-Forwarded-For cannot be changed by a route: plb writes it (see forwarded_for)',
      'plb.toml:13: service "edge": route[3].request_headers.sett: unknown key "sett" (did you mean "set"?) (set, add, remove)',
      'plb.toml:13: service "edge": route[3].request_headers.set: X-Ip: unknown variable {remote_ip} (variables: {client_ip}, {scheme}, {host}, {request_id}; "{{" for a literal brace)',
      'plb.toml:15: service "edge": route[4].header: X-A: NUL can never be in a header value',
      'plb.toml:17: service "edge": route[5].request_headers.remove: must be an array of header names, got string "X-A" (write remove = ["X-A"])',
    ]);
  });
  test("Host: a request's can only be set, to host[:port] or {host}; a response has none", () => {
    expect(routesOf(`[[service.route]]\nrequest_headers = { set = { "Host" = "backend.internal:8080" } }\n`)[0].request_headers?.set[0][0]).toBe("Host");
    expect(problems(`[[service.route]]\nrequest_headers = { set = { "Host" = "" }, add = { "host" = "{host}" }, remove = ["HOST"] }\n[[service.route]]\nresponse_headers = { set = { "Host" = "a" } }\n`)).toEqual([
      'plb.toml:7: service "edge": route[0].request_headers.set: Host must be set to a host[:port] (or "{host}"), got ""',
      'plb.toml:7: service "edge": route[0].request_headers.add: Host cannot be added (a request has one Host): use set',
      'plb.toml:7: service "edge": route[0].request_headers.remove: Host cannot be removed (an HTTP/1.1 request must have one): use set to change it',
      'plb.toml:9: service "edge": route[1].response_headers.set: Host is a request field: it has no place in a response',
    ]);
  });
  test("redirect and respond", () => {
    expect(problems(`[[service.route]]\nredirect = { status = 308 }\n[[service.route]]\nredirect = { scheme = "ftp", port = 0, host = "*.a", status = 305, path = "x", to = "/" }\n[[service.route]]\nrespond = { status = 101 }\n[[service.route]]\nrespond = { status = 304, body = "x", type = "a" }\n[[service.route]]\nrespond = { status = 200 }\nstrip_prefix = "/a"\n`)).toEqual([
      'plb.toml:7: service "edge": route[0].redirect: redirects to itself: give at least one of scheme, host, port and path',
      'plb.toml:9: service "edge": route[1].redirect.to: unknown key "to" (redirect keys: scheme, host, port, path, status)',
      'plb.toml:9: service "edge": route[1].redirect.scheme: must be "http" or "https", got string "ftp"',
      'plb.toml:9: service "edge": route[1].redirect.host: a redirect goes to one host, not a wildcard',
      'plb.toml:9: service "edge": route[1].redirect.port: must be an integer from 1 to 65535, got integer 0',
      'plb.toml:9: service "edge": route[1].redirect.path: must start with "/", got "x"',
      'plb.toml:9: service "edge": route[1].redirect.status: must be one of 301, 302, 303, 307, 308 (308 and 307 keep the method and body, 301 and 302 may turn a POST into a GET, 303 always does), got integer 305',
      'plb.toml:11: service "edge": route[2].respond.status: must be an integer from 200 to 599, got integer 101',
      'plb.toml:13: service "edge": route[3].respond.type: unknown key "type" (respond keys: status, body, content_type)',
      'plb.toml:13: service "edge": route[3].respond.body: a 304 answer has no body',
      'plb.toml:16: service "edge": route[4].strip_prefix: applies to requests forwarded to a backend (this route answers with respond)',
    ]);
  });
  test("strip_prefix and add_prefix work on whole segments", () => {
    expect(problems(`[[service.route]]\nstrip_prefix = "/v1/"\nadd_prefix = "/"\n`)).toEqual([
      'plb.toml:7: service "edge": route[0].strip_prefix: must not end with "/" (write "/v1": strip_prefix works on whole path segments)',
      'plb.toml:8: service "edge": route[0].add_prefix: must not end with "/" (write "/v1": add_prefix works on whole path segments)',
    ]);
  });
  test("route applies to http and tcp only; route must be an array of tables", () => {
    expect(problems(`[[service.route]]\npath = "/"\n`, HTTP_SERVICE.replace('"http"', '"smtp"'))).toEqual([
      'plb.toml:6: service "edge": "route" applies to protocol "http" or "tcp" only (this service is "smtp")',
    ]);
    expect(problems(`route = "x"\n`)).toEqual(['plb.toml:6: service "edge": route must be an array of tables ([[service.route]] or route = [{ … }]), got string "x"']);
    expect(problems(`[service.route]\npath = "/"\n`)).toEqual(['plb.toml:6: service "edge": route must be an array of tables ([[service.route]] or route = [{ … }]), got a single table (write [[service.route]], not [service.route])']);
  });
});

test("a route without an action needs a default backend", () => {
  const reported: string[] = [];
  const routes = checkRoutes([{ path: "/a" }, { path: "/b", backend: "b" }], { at: () => 3, report: (_p, m, line) => reported.push(`${line}: ${m}`), hasDefault: false });
  expect(routes.map((r) => r.index)).toEqual([1]);
  expect(reported).toEqual(['3: route[0]: this route has no backend, redirect or respond, and the service has no default backend to send it to: add backend = "…" to the route (or to the service)']);
});

test("checkRouteBackends: unknown backend names, with a suggestion", () => {
  const routes = routesOf(`[[service.route]]\npath = "/a"\nbackend = "apii"\n[[service.route]]\npath = "/b"\nbackend = "web"\n[[service.route]]\npath = "/c"\nbackend = "zzz"\n[[service.route]]\npath = "/d"\n`);
  const reported: string[] = [];
  checkRouteBackends(routes, new Set(["api", "web"]), (path, m, line) => reported.push(`${line}: ${path}: ${m}`));
  expect(reported).toEqual([
    '8: route[0].backend: route[0].backend: unknown backend "apii" (did you mean "api"?)',
    '14: route[2].backend: route[2].backend: unknown backend "zzz" (backends: api, web)',
  ]);
});

test("unreachable routes are warnings with both lines (the configuration still loads)", () => {
  const c = parseConfig(withBackends(`${HTTP_SERVICE}[[service.route]]\nhost = "*.example.com"\nbackend = "a"\n[[service.route]]\nhost = "www.example.com"\npath = "/x"\nbackend = "b"\n`), "plb.toml");
  expect(configWarnings(c)).toEqual([
    'plb.toml:9: service "edge": route at line 9 can never match: the route at line 6 matches every request it would (the first matching route wins)',
  ]);
  expect(configWarnings(parseConfig(HTTP_SERVICE, "plb.toml"))).toEqual([]);
});

test("client_cert: \"verified\", subject or san; needs the service's tls.client_ca; X-Client-Cert-* cannot be set by a route", () => {
  const tls = `tls = { cert = "c.pem", key = "k.pem", client_ca = "ca.pem", client_verify = "optional" }\n`;
  const routes = parseConfig(`${HTTP_SERVICE}${tls}[[service.route]]\npath = "/admin/"\nclient_cert = "verified"\n[[service.route]]\npath = "/ops/"\nclient_cert = { san = "ops.example", subject = "CN=ops" }\n[[service.route]]\npath = "/"\n`, "plb.toml").services[0].routes;
  expect(routes.map((r) => r.client_cert)).toEqual([{ subject: undefined, san: undefined }, { subject: "CN=ops", san: ["ops.example"] }, undefined]);
  expect(problems(`[[service.route]]\npath = "/admin/"\nclient_cert = "verified"\n`)).toEqual([
    'plb.toml:6: service "edge": route[0].client_cert: the service asks for no client certificate: set tls.client_ca (and client_verify = "optional" for routes that do without one)',
  ]);
  expect(problems(`${tls}[[service.route]]\npath = "/a/"\nclient_cert = "yes"\n[[service.route]]\npath = "/b/"\nclient_cert = { cn = "x" }\n[[service.route]]\npath = "/c/"\nclient_cert = { san = [] }\n`)).toEqual([
    'plb.toml:9: service "edge": route[0].client_cert: must be "verified" or a table { subject = "CN=…", san = ["…"] }, got string "yes"',
    'plb.toml:12: service "edge": route[1].client_cert: unknown key "cn" (expected subject and san)',
    'plb.toml:15: service "edge": route[2].client_cert: san must be a name or an array of names (DNS names, e-mail addresses, URIs), got array',
  ]);
  expect(problems(`${tls}[[service.route]]\npath = "/"\nrequest_headers = { set = { "X-Client-Cert-Verified" = "SUCCESS" } }\n`)[0]).toContain("X-Client-Cert-Verified");
});
