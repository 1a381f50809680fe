/**
 * Header values with variables, Caddy-style: `{client_ip}`, `{scheme}`,
 * `{host}`, `{request_id}`; `{{` and `}}` are a literal brace (as in
 * Python's format strings), a lone `}` is an error. Parsed once at load
 * (`parseTemplate`), rendered per request (`renderTemplate`).
 *
 * What a rendered value can contain is known at load: literal text must be
 * field content (visible ASCII, SP, HTAB, latin1 obs-text: no CR, LF or NUL),
 * and every variable's value is too (an IP address, "http"/"https", a Host
 * that head.ts accepted, a request id plb made or a field value head.ts
 * accepted). The serializer checks again (src/http/serialize.ts fieldLines).
 */
import { suggestion } from "../config/diagnostics.ts";
import { FVAL } from "../http/types.ts";
import { type Template, type TemplateValues, type Variable, VARIABLES } from "./types.ts";

/** The first character of `s` that is not field content, or -1. */
export function badFieldChar(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FVAL[c] === 0) return i;
  }
  return -1;
}

/** How a character that may not be in a field is named in messages. */
export function describeChar(ch: string): string {
  const c = ch.charCodeAt(0);
  return c === 13 ? "CR" : c === 10 ? "LF" : c === 0 ? "NUL" : c < 0x20 || c === 0x7f ? `control character U+${c.toString(16).padStart(4, "0").toUpperCase()}` : `character ${JSON.stringify(ch)}`;
}

/** `text` as a template, or an error message (which names the problem, with a suggestion for a misspelt variable). */
export function parseTemplate(text: string): Template | string {
  const bad = badFieldChar(text);
  if (bad >= 0) return `${describeChar(text[bad])} at offset ${bad} could split the message (a header value is visible characters, spaces and tabs)`;
  const parts: (string | { variable: Variable })[] = [];
  let lit = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "}") {
      if (text[i + 1] !== "}") return `lone "}" at offset ${i} (write "}}" for a literal brace)`;
      lit += "}";
      i++;
    } else if (c === "{") {
      if (text[i + 1] === "{") {
        lit += "{";
        i++;
        continue;
      }
      const close = text.indexOf("}", i);
      if (close < 0) return `unclosed "{" at offset ${i} (write "{{" for a literal brace)`;
      const name = text.slice(i + 1, close);
      if (!(VARIABLES as readonly string[]).includes(name)) {
        return `unknown variable {${name}}${suggestion(name, VARIABLES)} (variables: ${VARIABLES.map((v) => `{${v}}`).join(", ")}; "{{" for a literal brace)`;
      }
      if (lit !== "") parts.push(lit);
      lit = "";
      parts.push({ variable: name as Variable });
      i = close;
    } else lit += c;
  }
  if (lit !== "") parts.push(lit);
  return Object.freeze({ text, parts: Object.freeze(parts) });
}

/** Does the template use variables (else it renders the same every time)? */
export function isConstant(t: Template): boolean {
  return t.parts.every((p) => typeof p === "string");
}

export function renderTemplate(t: Template, values: TemplateValues): string {
  const parts = t.parts;
  if (parts.length === 1 && typeof parts[0] === "string") return parts[0];
  let out = "";
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    out += typeof p === "string" ? p : values[p.variable];
  }
  return out;
}
