/**
 * What plb reads of an SMTP client and rewrites of a server while it speaks
 * for an smtp service with starttls (src/smtp/commands.ts): client command
 * streams (pipelined lines, bare LF, long lines, STARTTLS with and without
 * parameters) and server EHLO replies (STARTTLS lines anywhere, 8-bit text).
 * Each input is read as commands (takeLine, then decide in every state,
 * against a reference written apart) and, when it starts with a reply, the
 * reply is rewritten and checked: a well-formed single 250 reply, the first
 * line kept, the server's STARTTLS lines gone, plb's last when offered.
 */
import { decide, MAX_COMMAND_LINE, MUST_STARTTLS, rewriteEhlo, STARTTLS_SYNTAX, takeLine, TLS_ALREADY } from "../../src/smtp/commands.ts";
import { parseReply } from "../../src/smtp/reply.ts";
import { type Behaviour, ensure, same, show, type Target, view } from "../driver.ts";
import { between, chance, concat, latin1, pick, type Rng, text } from "../rng.ts";

const COMMANDS = ["EHLO client.test", "ehlo x", "HELO a", "STARTTLS", "starttls", "STARTTLS now", "STARTTLS \t", "MAIL FROM:<a@b.test>", "RCPT TO:<c@d.test>", "DATA", "NOOP", "RSET",
  "QUIT", "AUTH PLAIN AGEAYg==", "VRFY postmaster", "HELP", "XYZZY", "", " STARTTLS", "BDAT 5 LAST", "caf\xe9 \xff", "STARTTLS\rRSET", "STARTTLS\xa0", "EHLO\u0000x"];
const KEYWORDS = ["PIPELINING", "SIZE 10240000", "STARTTLS", "starttls", "STARTTLS ", "STARTTLSX", "8BITMIME", "AUTH PLAIN LOGIN", "CHUNKING", "XCLIENT NAME ADDR", "caf\xe9", ""];

function commands(r: Rng): Uint8Array {
  const parts: string[] = [];
  const n = between(r, 1, 6);
  for (let k = 0; k < n; k++) {
    const line = chance(r, 0.03) ? "x".repeat(between(r, MAX_COMMAND_LINE - 4, MAX_COMMAND_LINE + 4)) : pick(r, COMMANDS);
    parts.push(line + (chance(r, 0.85) ? "\r\n" : chance(r, 0.5) ? "\n" : ""));
  }
  return latin1(parts.join(""));
}

function ehloReply(r: Rng): Uint8Array {
  const code = chance(r, 0.85) ? "250" : pick(r, ["550", "421", "502"]);
  const lines = [pick(r, ["mx.test greets client.test", "mx.test", "STARTTLS", ""])];
  const n = between(r, 0, 7);
  for (let k = 0; k < n; k++) lines.push(pick(r, KEYWORDS));
  const body = lines.map((l, i) => `${code}${i === lines.length - 1 ? " " : "-"}${l}\r\n`).join("");
  return concat(latin1(body), chance(r, 0.2) ? commands(r) : new Uint8Array(0));
}

/** RFC 3207 and plb's choices, written as a table rather than as the code is. */
function referenceDecide(line: string, tls: boolean, requireTls: boolean): unknown {
  let from = 0;
  while (line[from] === " " || line[from] === "\t") from++;
  let to = from;
  while (to < line.length && line[to] !== " " && line[to] !== "\t") to++;
  const verb = line.slice(from, to).toUpperCase();
  const hasArgs = [...line.slice(to)].some((c) => c !== " " && c !== "\t");
  if (verb === "STARTTLS") return tls ? { kind: "reply", reply: TLS_ALREADY } : hasArgs ? { kind: "reply", reply: STARTTLS_SYNTAX } : { kind: "starttls" };
  if (requireTls && !tls && !["EHLO", "HELO", "NOOP", "RSET", "QUIT"].includes(verb)) return { kind: "reply", reply: MUST_STARTTLS };
  if (["EHLO", "HELO", "NOOP", "RSET", "HELP", "VRFY", "EXPN"].includes(verb)) return { kind: "forward", ehlo: verb === "EHLO" };
  return { kind: "relay" };
}

function checkCommands(input: Uint8Array): number {
  let lines = 0;
  for (let at = 0; at < input.length; ) {
    const rest = input.subarray(at);
    const t = takeLine(rest);
    ensure(same(takeLine(view(rest).view), t), "a view at an offset reads differently");
    const lf = rest.indexOf(10);
    if (t.kind === "more") {
      ensure(lf < 0 && rest.length < MAX_COMMAND_LINE, () => `more with LF at ${lf} / ${rest.length} bytes`);
      break;
    }
    if (t.kind === "too-long") {
      ensure(lf < 0 ? rest.length >= MAX_COMMAND_LINE : lf + 1 > MAX_COMMAND_LINE, "too-long for a line that fits");
      break;
    }
    ensure(t.end === lf + 1, () => `end ${t.end}, LF at ${lf}`);
    const want = text(rest.subarray(0, lf)).replace(/\r$/, "");
    ensure(t.line === want, () => `line ${show(t.line)}, bytes ${show(want)}`);
    for (const tls of [false, true]) {
      for (const requireTls of [false, true]) {
        const got = decide(t.line, { tls, requireTls });
        const ref = referenceDecide(t.line, tls, requireTls);
        ensure(same(got, ref), () => `decide(${show(t.line)}, tls ${tls}, require ${requireTls}) = ${show(got)}, the reference ${show(ref)}`);
      }
    }
    lines++;
    at += t.end;
  }
  return lines;
}

const STARTTLS_LINE = /^STARTTLS[ \t]*$/i;

function checkRewrite(input: Uint8Array): "ehlo" | "reply" | undefined {
  const r = parseReply(input);
  if (r.kind !== "done") return undefined;
  const raw = input.subarray(0, r.consumed);
  for (const offer of [false, true]) {
    const out = rewriteEhlo(raw, offer);
    if (r.code !== 250) {
      ensure(same(out, raw), "a non-250 reply was changed");
      continue;
    }
    const o = parseReply(out);
    ensure(o.kind === "done" && o.consumed === out.length && o.code === 250, () => `the rewritten reply is not one 250 reply: ${show(text(out))}`);
    const want = [r.lines[0], ...r.lines.slice(1).filter((l) => !STARTTLS_LINE.test(l)), ...(offer ? ["STARTTLS"] : [])];
    ensure(same(o.lines, want), () => `lines ${show(o.lines)}, want ${show(want)}`);
  }
  return r.code === 250 ? "ehlo" : "reply";
}

function check(input: Uint8Array): Behaviour {
  const lines = checkCommands(input);
  const reply = checkRewrite(input);
  return { kind: reply ?? (lines > 0 ? "lines" : "nothing") };
}

export const smtpCommands: Target = {
  name: "smtp-commands",
  generate: (r) => (chance(r, 0.5) ? ehloReply(r) : commands(r)),
  dict: ["\r\n", "\n", "STARTTLS", "250-", "250 ", "EHLO ", " ", "\t", "\xff", "\0"],
  binary: false,
  maxLen: 1 << 14,
  check,
  run: (input) => [takeLine(input), parseReply(input).kind === "done" ? rewriteEhlo(input, true) : undefined],
};
