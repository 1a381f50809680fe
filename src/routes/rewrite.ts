/**
 * What a route changes in the messages it forwards, as edits the head
 * serializer applies (src/http/serialize.ts): a replacement request line
 * (strip_prefix / add_prefix), field names to drop, field lines to add
 * (request_headers / response_headers). Pure functions; the field lines of
 * a rule set without variables are made once per set and reused.
 *
 * Order: remove, then set (every field of the name dropped, one line
 * added), then add (a line added, fields of the name kept). The route's
 * lines come before the ones plb adds itself (X-Forwarded-*, Connection).
 */
import { fieldLines, type FieldLines, type SerializeOptions } from "../http/serialize.ts";
import type { RequestHead, TargetForm } from "../http/types.ts";
import { prefixMatches } from "./table.ts";
import { isConstant, renderTemplate } from "./template.ts";
import type { HeaderRules, RouteConfig, TemplateValues } from "./types.ts";

/** Changes to one head. */
export interface HeadEdit {
  /** Replacement start line (without CRLF), or undefined to keep it. */
  readonly line: string | undefined;
  /** Lowercased names of fields to leave out, or undefined. */
  readonly drop: ReadonlySet<string> | undefined;
  /** Field lines to add, or undefined. */
  readonly lines: FieldLines | undefined;
}

export const NO_EDIT: HeadEdit = Object.freeze({ line: undefined, drop: undefined, lines: undefined });

interface Compiled {
  readonly drop: ReadonlySet<string> | undefined;
  /** The lines when no value uses a variable. */
  readonly fixed: FieldLines | undefined;
  /** The whole edit when no value uses a variable (made once: nothing allocated per message). */
  readonly constant: HeadEdit | undefined;
}

const compiled = new WeakMap<HeaderRules, Compiled>();

function compile(rules: HeaderRules): Compiled {
  let c = compiled.get(rules);
  if (c === undefined) {
    const names = [...rules.remove, ...rules.set.map(([n]) => n.toLowerCase())];
    const constant = [...rules.set, ...rules.add].every(([, t]) => isConstant(t));
    const empty = rules.set.length + rules.add.length === 0;
    const drop = names.length > 0 ? new Set(names) : undefined;
    const fixed = constant && !empty ? fieldLines([...rules.set, ...rules.add].map(([n, t]) => [n, t.parts.join("")])) : undefined;
    c = { drop, fixed, constant: constant ? Object.freeze({ line: undefined, drop, lines: fixed }) : undefined };
    compiled.set(rules, c);
  }
  return c;
}

/** The field lines `rules` add for a request with these values (undefined when it adds none). */
function linesFor(rules: HeaderRules, c: Compiled, values: TemplateValues): FieldLines | undefined {
  if (c.fixed !== undefined || rules.set.length + rules.add.length === 0) return c.fixed;
  const fields: [string, string][] = [];
  for (const [n, t] of rules.set) fields.push([n, renderTemplate(t, values)]);
  for (const [n, t] of rules.add) fields.push([n, renderTemplate(t, values)]);
  return fieldLines(fields);
}

/** What `rules` change in a head (request or response). */
export function headerEdit(rules: HeaderRules | undefined, values: TemplateValues): HeadEdit {
  if (rules === undefined) return NO_EDIT;
  const c = compile(rules);
  return c.constant ?? { line: undefined, drop: c.drop, lines: linesFor(rules, c, values) };
}

/**
 * The path after strip_prefix then add_prefix (query and everything else
 * kept), or undefined when unchanged. strip_prefix "/v1" takes "/v1/x" to
 * "/x" and "/v1" to "/"; a path it does not start (on a segment boundary)
 * is left alone. add_prefix "/api" takes "/x" to "/api/x" and "/" to "/api/".
 */
export function rewritePath(path: string, strip: string | undefined, add: string | undefined): string | undefined {
  let p = path;
  if (strip !== undefined && prefixMatches(strip, p)) p = p.length === strip.length ? "/" : p.slice(strip.length);
  if (add !== undefined && p.startsWith("/")) p = add + p;
  return p === path ? undefined : p;
}

/** A request target with its path rewritten (origin- and absolute-form; the others have no path to change). */
export function rewriteTarget(target: string, form: TargetForm, strip: string | undefined, add: string | undefined): string | undefined {
  if (form !== "origin" && form !== "absolute") return undefined;
  let start = 0;
  if (form === "absolute") {
    const slash = target.indexOf("/", target.indexOf("//") + 2);
    const q = target.indexOf("?");
    // "http://h" and "http://h?q": the path is "/" (RFC 9112 §3.2.2), written before the query.
    if (slash < 0 || (q >= 0 && q < slash)) {
      const end = q < 0 ? target.length : q;
      const p = rewritePath("/", strip, add);
      return p === undefined ? undefined : target.slice(0, end) + p + target.slice(end);
    }
    start = slash;
  }
  const q = target.indexOf("?", start);
  const end = q < 0 ? target.length : q;
  const p = rewritePath(target.slice(start, end), strip, add);
  return p === undefined ? undefined : target.slice(0, start) + p + target.slice(end);
}

/** The origin form of an absolute-form target ("http://h/p?q" → "/p?q", "http://h?q" → "/?q"). */
export function originForm(target: string): string {
  const slash = target.indexOf("/", target.indexOf("//") + 2);
  const q = target.indexOf("?");
  if (slash < 0 || (q >= 0 && q < slash)) return q < 0 ? "/" : `/${target.slice(q)}`;
  return target.slice(slash);
}

/**
 * What `route` changes in the request it forwards. A route that sets Host
 * sends an absolute-form target in origin form (it would no longer name
 * the Host sent with it, which a strict server refuses).
 */
export function requestEdit(route: RouteConfig, head: RequestHead, values: TemplateValues): HeadEdit {
  const hdr = headerEdit(route.request_headers, values);
  const newHost = head.targetForm === "absolute" && hdr.drop?.has("host") === true;
  if (route.strip_prefix === undefined && route.add_prefix === undefined && !newHost) return hdr;
  const base = newHost ? originForm(head.target) : head.target;
  const form = newHost ? "origin" : head.targetForm;
  const target = rewriteTarget(base, form, route.strip_prefix, route.add_prefix) ?? (newHost ? base : undefined);
  if (target === undefined) return hdr;
  return { line: `${head.method} ${target} HTTP/1.${head.versionMinor}`, drop: hdr.drop, lines: hdr.lines };
}

/** What `route` changes in the response it relays. */
export function responseEdit(route: RouteConfig, values: TemplateValues): HeadEdit {
  return headerEdit(route.response_headers, values);
}

/**
 * Serializer options with `edit` applied: its drop set joins `opts.drop`,
 * its lines come first, its start line (if any) is `startLine`.
 */
export function withEdit(opts: SerializeOptions, edit: HeadEdit): SerializeOptions & { requestLine?: string } {
  if (edit === NO_EDIT || (edit.drop === undefined && edit.lines === undefined && edit.line === undefined)) return opts;
  const base = opts.drop;
  const extra = edit.drop;
  const drop = extra === undefined ? base : base === undefined ? (l: string) => extra.has(l) : (l: string) => extra.has(l) || base(l);
  const lines = edit.lines === undefined ? opts.lines : [edit.lines, ...(opts.lines ?? [])];
  return { ...opts, drop, lines, ...(edit.line !== undefined ? { requestLine: edit.line } : {}) };
}
