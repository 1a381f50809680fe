/**
 * A REAL aiosmtpd server (Debian's python3-aiosmtpd, run by /usr/bin/python3)
 * for plb's SMTP tests: server.py beside this file, one process per server.
 *
 *   const srv = await startSmtpServer({ name: "a", proxyProtocol: true });
 *   ... send mail to 127.0.0.1:srv.port (through plb) ...
 *   const [m] = await srv.waitForMessages(1);
 *   expect(m.clientAddress).toBe("127.0.0.2");
 *   await srv.stop();
 *
 * Every accepted message and every session is recorded by the server before
 * it answers the client (a message is in messages() as soon as its sender got
 * "250"); a session's end is recorded when the server sees the connection
 * close, so wait for it with waitForSessions().
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { firstJsonLine, HERE, pollFor, PYTHON, removeDir, tempDir } from "./proc.ts";
import { testCert } from "./tls.ts";

export type Greeting =
  /** normal: "220 NAME ESMTP aiosmtpd" */
  | "220"
  /** "421 4.3.2 busy", then the server closes */
  | "421"
  /** accepts, reads and never writes (until the client closes) */
  | "silent"
  /** writes "HTTP/1.1 400 Bad Request\r\n\r\n", then closes */
  | "garbage"
  /** accepts and closes at once without a byte */
  | "close";

export interface SmtpServerOptions {
  /** In the 220 greeting, the EHLO/HELO 250 replies and "250 2.0.0 Ok: queued as NAME-N". Default "aiosmtpd". */
  name?: string;
  /** Listen on this port of 127.0.0.1 (default: a free one, chosen by the server itself). */
  port?: number;
  /** Listen on this address (default 127.0.0.1). */
  host?: string;
  greeting?: Greeting;
  /** Expect a PROXY v1 or v2 header first (aiosmtpd's proxy_protocol_timeout). A connection without a valid one is closed. */
  proxyProtocol?: boolean;
  /** Seconds to wait for the PROXY header (default 5). */
  proxyTimeout?: number;
  /** Advertise XCLIENT in EHLO and accept `XCLIENT ADDR=… PORT=… PROTO=…` (reply: a new 220 greeting). */
  xclient?: boolean;
  /** Advertise CHUNKING and accept BDAT (aiosmtpd itself has no BDAT). */
  chunking?: boolean;
  /** Offer STARTTLS with the test certificate (testCert()). */
  starttls?: boolean;
  /** With starttls: refuse other commands before STARTTLS (530). */
  requireTls?: boolean;
  /** Idle timeout of a session in seconds (aiosmtpd's `timeout`, default 300). */
  timeout?: number;
  /** Largest message accepted (default 64 MiB). */
  dataSizeLimit?: number;
}

export interface Endpoint {
  host: string;
  port: number;
}

export interface ProxyInfo {
  version: number | null;
  command: string | null;
  family: string | null;
  protocol: string | null;
  srcAddr: string | null;
  srcPort: number | null;
  dstAddr: string | null;
  dstPort: number | null;
  valid: boolean;
  error: string | null;
}

export interface SmtpMessage {
  /** 1, 2, … in the order the server accepted them. */
  id: number;
  /** The SmtpSession.id it came in. */
  session: number;
  via: "DATA" | "BDAT";
  mailFrom: string;
  mailOptions: string[];
  rcptTos: string[];
  rcptOptions: string[];
  heloName: string | null;
  /** The TCP peer (plb, when the message came through plb). */
  peer: Endpoint;
  proxy: ProxyInfo | null;
  xclient: Record<string, string> | null;
  /** The client as the server sees it: XCLIENT ADDR, else PROXY source, else the TCP peer ("IPV6:" prefix removed). */
  clientAddress: string;
  clientPort: number | null;
  tls: boolean;
  /** The message as aiosmtpd delivers it: dot-stuffing undone, CRLFs as received. */
  data: Uint8Array;
  /** The exact bytes received after "354" through the final ".\r\n" (DATA), or the BDAT chunks back to back. */
  raw: Uint8Array;
}

export interface SmtpSession {
  id: number;
  greeting: Greeting;
  peer: Endpoint;
  proxy: ProxyInfo | null;
  xclient: Record<string, string> | null;
  clientAddress: string;
  clientPort: number | null;
  /** Still connected (no close seen yet). */
  open: boolean;
  /** The client sent QUIT (and got 221). */
  quit: boolean;
  /** "quit" | "client" (closed without QUIT) | "server" (421/garbage/close greeting) | "timeout"; null while open. */
  closedBy: "quit" | "client" | "server" | "timeout" | null;
  /** Command verbs in order (EHLO, XCLIENT, MAIL, RCPT, DATA, BDAT, RSET, NOOP, STARTTLS, QUIT, HELO). */
  commands: string[];
  messages: number;
  tls: boolean;
  /** Epoch ms. */
  openedAt: number;
  closedAt: number | null;
}

export interface SmtpServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** Where the events and message files are (removed by stop()). */
  readonly dir: string;
  /** The CA file a STARTTLS client should trust (starttls only). */
  readonly caFile: string | undefined;
  messages(): Promise<SmtpMessage[]>;
  sessions(): Promise<SmtpSession[]>;
  /** Resolves once at least `n` messages are stored. */
  waitForMessages(n: number, timeoutMs?: number): Promise<SmtpMessage[]>;
  /** Resolves once `pred` holds for the sessions (a number n: n sessions closed). */
  waitForSessions(pred: number | ((s: SmtpSession[]) => boolean), timeoutMs?: number): Promise<SmtpSession[]>;
  /** Abrupt death (default SIGKILL); messages()/sessions() keep working until stop(). */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Kill the server (if alive) and remove its files; messages()/sessions() then answer what was stored. */
  stop(): Promise<void>;
  readonly exited: Promise<number>;
  /** The server's stderr so far (tracebacks, if any). */
  stderr(): string;
}

const SERVER_PY = join(HERE, "server.py");

interface RawEvent {
  event: "open" | "close" | "message" | "xclient";
  session: number;
  t: number;
  [k: string]: unknown;
}

export async function startSmtpServer(opts: SmtpServerOptions = {}): Promise<SmtpServer> {
  const name = opts.name ?? "aiosmtpd";
  const host = opts.host ?? "127.0.0.1";
  const greeting = opts.greeting ?? "220";
  const dir = tempDir(`plb-aiosmtpd-${name.replace(/[^\w.-]/g, "_")}-`);
  const args = [PYTHON, SERVER_PY, "--dir", dir, "--name", name, "--host", host, "--port", String(opts.port ?? 0), "--greeting", greeting];
  if (opts.proxyProtocol) args.push("--proxy", "--proxy-timeout", String(opts.proxyTimeout ?? 5));
  if (opts.xclient) args.push("--xclient");
  if (opts.chunking) args.push("--chunking");
  let caFile: string | undefined;
  if (opts.starttls) {
    const c = await testCert();
    caFile = c.cert;
    args.push("--tls-cert", c.cert, "--tls-key", c.key);
    if (opts.requireTls) args.push("--require-tls");
  }
  if (opts.timeout !== undefined) args.push("--timeout", String(opts.timeout));
  if (opts.dataSizeLimit !== undefined) args.push("--data-size-limit", String(opts.dataSizeLimit));

  // stdin stays open: the server exits when it closes (this process died).
  const proc = Bun.spawn(args, { stdin: "pipe", stdout: "pipe", stderr: "pipe" }) as Subprocess<"pipe", "pipe", "pipe">;
  let ready: { port: number; pid: number };
  try {
    ready = await firstJsonLine<{ port: number; pid: number }>(proc);
  } catch (e) {
    proc.kill("SIGKILL");
    await removeDir(dir);
    throw new Error(`aiosmtpd ${name}: ${(e as Error).message}`);
  }
  // Keep draining stderr so a chatty server never blocks on a full pipe.
  let stderrText = "";
  (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) stderrText = (stderrText + dec.decode(chunk)).slice(-20_000);
  })().catch(() => {});

  const eventsFile = join(dir, "events.jsonl");
  let final: { messages: SmtpMessage[]; sessions: SmtpSession[] } | undefined;

  async function events(): Promise<RawEvent[]> {
    if (!existsSync(eventsFile)) return [];
    const text = await readFile(eventsFile, "utf8");
    const out: RawEvent[] = [];
    for (const line of text.split("\n")) {
      if (!line.endsWith("}")) continue; // a line being written
      try {
        out.push(JSON.parse(line));
      } catch {
        /* partial line */
      }
    }
    return out;
  }

  async function messages(): Promise<SmtpMessage[]> {
    if (final) return final.messages;
    const out: SmtpMessage[] = [];
    for (const e of await events()) {
      if (e.event !== "message") continue;
      const [data, raw] = await Promise.all([readFile(e.dataFile as string), readFile(e.rawFile as string)]);
      out.push({
        id: e.id as number,
        session: e.session,
        via: e.via as "DATA" | "BDAT",
        mailFrom: e.mailFrom as string,
        mailOptions: e.mailOptions as string[],
        rcptTos: e.rcptTos as string[],
        rcptOptions: e.rcptOptions as string[],
        heloName: e.heloName as string | null,
        peer: e.peer as Endpoint,
        proxy: e.proxy as ProxyInfo | null,
        xclient: e.xclient as Record<string, string> | null,
        clientAddress: e.clientAddress as string,
        clientPort: e.clientPort as number | null,
        tls: e.tls as boolean,
        data: new Uint8Array(data),
        raw: new Uint8Array(raw),
      });
    }
    return out;
  }

  async function sessions(): Promise<SmtpSession[]> {
    if (final) return final.sessions;
    const byId = new Map<number, SmtpSession>();
    for (const e of await events()) {
      if (e.event === "open") {
        byId.set(e.session, {
          id: e.session,
          greeting: e.greeting as Greeting,
          peer: e.peer as Endpoint,
          proxy: e.proxy as ProxyInfo | null,
          xclient: null,
          clientAddress: e.clientAddress as string,
          clientPort: e.clientPort as number | null,
          open: true,
          quit: false,
          closedBy: null,
          commands: [],
          messages: 0,
          tls: false,
          openedAt: e.t * 1000,
          closedAt: null,
        });
        continue;
      }
      const s = byId.get(e.session);
      if (!s) continue;
      if (e.event === "xclient") {
        s.xclient = { ...(s.xclient ?? {}), ...(e.attrs as Record<string, string>) };
        s.clientAddress = e.clientAddress as string;
        s.clientPort = e.clientPort as number | null;
      } else if (e.event === "message") {
        s.messages++;
        s.clientPort = e.clientPort as number | null;
      } else if (e.event === "close") {
        s.open = false;
        s.quit = e.quit as boolean;
        s.closedBy = e.closedBy as SmtpSession["closedBy"];
        s.commands = e.commands as string[];
        s.messages = e.messages as number;
        s.tls = e.tls as boolean;
        s.closedAt = e.t * 1000;
      }
    }
    return [...byId.values()].sort((a, b) => a.id - b.id);
  }

  // The server exits when its stdin closes: hold the pipe for the server's life.
  const stdinPipe = proc.stdin;
  let stopped = false;
  const server: SmtpServer = {
    name,
    host,
    port: ready.port,
    pid: ready.pid,
    dir,
    caFile,
    messages,
    sessions,
    exited: proc.exited,
    stderr: () => stderrText,
    async waitForMessages(n, timeoutMs = 10_000) {
      return pollFor(`${n} message(s) at aiosmtpd ${name}`, async () => {
        const m = await messages();
        return m.length >= n ? m : undefined;
      }, timeoutMs);
    },
    async waitForSessions(pred, timeoutMs = 10_000) {
      const test = typeof pred === "number" ? (s: SmtpSession[]) => s.filter((x) => !x.open).length >= pred : pred;
      return pollFor(`sessions at aiosmtpd ${name}`, async () => {
        const s = await sessions();
        return test(s) ? s : undefined;
      }, timeoutMs);
    },
    async kill(signal = "SIGKILL") {
      proc.kill(signal);
      await proc.exited;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      proc.kill("SIGKILL");
      await proc.exited;
      stdinPipe.end();
      const snapshot = { messages: await messages(), sessions: await sessions() };
      final = snapshot;
      await removeDir(dir);
    },
  };
  return server;
}
