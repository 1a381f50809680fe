/** src/routes/template.ts: header values with {variables}. */
import { expect, test } from "bun:test";
import { parseTemplate, renderTemplate } from "../src/routes/template.ts";
import type { Template, TemplateValues } from "../src/routes/types.ts";

const VALUES: TemplateValues = { client_ip: "192.0.2.7", scheme: "https", host: "api.example.com", request_id: "r-1" };
const render = (text: string) => renderTemplate(parseTemplate(text) as Template, VALUES);

test("variables are replaced, literal text kept, doubled braces are one brace", () => {
  expect(render("prod")).toBe("prod");
  expect(render("")).toBe("");
  expect(render("{client_ip}")).toBe("192.0.2.7");
  expect(render("{scheme}://{host}/ id={request_id}")).toBe("https://api.example.com/ id=r-1");
  expect(render("{{client_ip}} {{{client_ip}}}")).toBe("{client_ip} {192.0.2.7}");
  expect(render("a}}b")).toBe("a}b");
});

test("a value without variables is one literal part", () => {
  expect(parseTemplate("max-age=63072000")).toEqual({ text: "max-age=63072000", parts: ["max-age=63072000"] });
  expect(parseTemplate("x{host}")).toEqual({ text: "x{host}", parts: ["x", { variable: "host" }] });
});

test("errors: unknown variables (with a suggestion), lone braces, characters that could split a message", () => {
  expect(parseTemplate("{clientip}")).toStartWith('unknown variable {clientip} (did you mean "client_ip"?)');
  expect(parseTemplate("{Host}")).toStartWith('unknown variable {Host} (did you mean "host"?)');
  expect(parseTemplate("{nope}")).toStartWith("unknown variable {nope} (variables: {client_ip}, {scheme}, {host}, {request_id}");
  expect(parseTemplate("a{host")).toBe('unclosed "{" at offset 1 (write "{{" for a literal brace)');
  expect(parseTemplate("a}b")).toBe('lone "}" at offset 1 (write "}}" for a literal brace)');
  expect(parseTemplate("a\r\nX-Evil: 1")).toStartWith("CR at offset 1 could split the message");
  expect(parseTemplate("a\nb")).toStartWith("LF at offset 1");
  expect(parseTemplate("a\0b")).toStartWith("NUL at offset 1");
  expect(parseTemplate("a\x7fb")).toStartWith("control character U+007F at offset 1");
  expect(parseTemplate("snow \u2603")).toStartWith('character "\u2603" at offset 5');
  expect(typeof parseTemplate("tab\tand latin1 \u00e9")).toBe("object");
});
