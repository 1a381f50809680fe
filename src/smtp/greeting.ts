/**
 * The smtp handshake: a client only ever meets a server that greeted
 * properly. After the connect (and the PROXY header, if the service sends
 * one) the server has `timeout_smtp_greeting` to send a 220 greeting; with
 * `client_address = "xclient"` plb then says EHLO, checks that XCLIENT is
 * offered, sends the client's address and takes the server's new 220 as the
 * greeting. Anything else — 4xx/5xx, silence, garbage, a close — fails this
 * server (a polite QUIT where the connection is still open) and the session
 * tries the next one.
 */
import { clientIp, clientPort } from "../net/client-address.ts";
import { DISCARD, handOver } from "../net/handlers.ts";
import type { Sock, SocketEvents } from "../net/types.ts";
import type { Handshake, HandshakeContext, HandshakeResult } from "../relay/handshake.ts";
import { ReplyReader } from "./reply.ts";

const encoder = new TextEncoder();
const QUIT = encoder.encode("QUIT\r\n");

export interface GreetingOptions {
  readonly timeoutMs: number;
  /** Bytes to send first (a PROXY header). */
  readonly preamble?: (ctx: HandshakeContext) => Uint8Array | undefined;
  /** Announce the client's address with XCLIENT. */
  readonly xclient: boolean;
  /** Name plb gives in its EHLO. */
  readonly helo: string;
}

const enum Step {
  Greeting,
  Ehlo,
  Xclient,
}

class GreetingCheck implements SocketEvents {
  private readonly replies = new ReplyReader();
  private step = Step.Greeting;
  private finished = false;
  private readonly timer: ReturnType<typeof setTimeout>;

  constructor(
    private readonly sock: Sock,
    private readonly ctx: HandshakeContext,
    private readonly opts: GreetingOptions,
    private readonly done: (r: HandshakeResult) => void,
  ) {
    handOver(sock, this);
    this.timer = setTimeout(() => this.fail("timeout", `no greeting within ${opts.timeoutMs} ms`, true), opts.timeoutMs);
    const pre = opts.preamble?.(ctx);
    if (pre && sock.write(pre) !== pre.length) this.fail("reset", "could not send the PROXY header", false);
  }

  onData(data: Uint8Array): void {
    if (this.finished) return;
    this.replies.push(data);
    for (let r = this.replies.next(); r.kind !== "more" && !this.finished; r = this.replies.next()) {
      if (r.kind === "error") return this.fail("bad-greeting", `${this.what()}: not an SMTP reply (${r.reason})`, true);
      this.onReply(r.code, r.lines, r.raw);
    }
  }

  private what(): string {
    return this.step === Step.Greeting ? "greeting" : this.step === Step.Ehlo ? "EHLO" : "XCLIENT";
  }

  private onReply(code: number, lines: readonly string[], raw: Uint8Array): void {
    const text = `${code} ${lines[0] ?? ""}`.trim();
    switch (this.step) {
      case Step.Greeting:
        if (code !== 220) return this.fail("bad-greeting", `greeting ${text}`, code !== 421);
        if (!this.opts.xclient) return this.succeed(raw);
        this.step = Step.Ehlo;
        this.sock.write(`EHLO ${this.opts.helo}\r\n`);
        return;
      case Step.Ehlo: {
        if (code !== 250) return this.fail("bad-greeting", `EHLO answered ${text}`, true);
        if (!lines.some((l) => /^XCLIENT\b/i.test(l))) return this.fail("bad-greeting", "server does not offer XCLIENT (client_address = \"xclient\")", true);
        this.step = Step.Xclient;
        this.sock.write(`XCLIENT ${xclientAttributes(this.ctx.client)}\r\n`);
        return;
      }
      case Step.Xclient:
        if (code !== 220) return this.fail("bad-greeting", `XCLIENT refused: ${text}`, true);
        return this.succeed(raw);
    }
  }

  private succeed(greeting: Uint8Array): void {
    this.finish();
    this.done({ ok: true, toClient: greeting });
  }

  private fail(outcome: "bad-greeting" | "timeout" | "reset", detail: string, quit: boolean): void {
    if (this.finished) return;
    this.finish();
    handOver(this.sock, DISCARD);
    if (quit) this.sock.write(QUIT);
    this.sock.end();
    this.done({ ok: false, outcome, detail });
  }

  private finish(): void {
    this.finished = true;
    clearTimeout(this.timer);
  }

  onDrain(): void {}
  onEnd(): void {
    this.fail("bad-greeting", `connection closed during the ${this.what()}`, false);
  }
  onClose(): void {
    this.onEnd();
  }
}


/** Postfix's XCLIENT attributes for the client (IPv6 as "IPV6:…"). */
export function xclientAttributes(client: Sock): string {
  let addr = clientIp(client);
  if (addr.includes(":")) addr = `IPV6:${addr}`;
  return `ADDR=${addr} PORT=${clientPort(client)} PROTO=ESMTP`;
}

export function greetingHandshake(opts: GreetingOptions): Handshake {
  return {
    run(sock, ctx, done) {
      new GreetingCheck(sock, ctx, opts, done);
    },
  };
}
