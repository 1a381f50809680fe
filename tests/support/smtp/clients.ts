/**
 * Real SMTP clients for plb's tests: Python's smtplib (client.py beside this
 * file), swaks, and a raw line client for what no client library sends (a
 * PROXY header written by hand, BDAT, pipelined bursts, half-finished
 * sessions).
 */
import { writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { HERE, PYTHON, removeDir, run, tempDir, type RunResult } from "./proc.ts";

export interface SmtplibOptions {
  port: number;
  host?: string;
  /** Local address to connect from, e.g. "127.0.0.2" (any 127/8 works on loopback). */
  source?: string;
  ehlo?: string;
  starttls?: boolean;
  /** Implicit TLS from the first byte (smtplib.SMTP_SSL; the chain is checked against cafile, not the name). */
  ssl?: boolean;
  /** CA file to trust for STARTTLS or ssl (the server's caFile). */
  cafile?: string;
  mailFrom?: string;
  rcptTos?: string[];
  /** The message; smtplib dot-stuffs it and turns bare CR or LF into CRLF. */
  data?: string | Uint8Array;
  /** Messages sent in the one session (default 1). */
  count?: number;
  /** End with QUIT (default true) or just close. */
  quit?: boolean;
  /** Seconds (default 10). */
  timeout?: number;
}

export interface SmtplibResult {
  ok: boolean;
  greeting: [number, string] | null;
  ehlo: [number, string] | null;
  /** With starttls: the EHLO reply before STARTTLS (`ehlo` is the one after). */
  ehloPlain?: [number, string];
  starttls?: [number, string];
  cipher?: string;
  /** One DATA reply per message sent. */
  replies: [number, string][];
  quit: [number, string] | null;
  error: string | null;
  /** Milliseconds from the connect to the greeting, measured inside Python (the interpreter's start not counted); absent when none came. */
  greetingMs?: number;
}

/** Send with Python's smtplib (/usr/bin/python3 client.py). Never throws for SMTP errors: see `ok`/`error`. */
export async function sendWithSmtplib(o: SmtplibOptions): Promise<SmtplibResult> {
  const dir = tempDir("plb-smtplib-");
  try {
    const dataFile = join(dir, "message");
    await writeFile(dataFile, o.data ?? "Subject: test\r\n\r\nhello\r\n");
    const { data: _, ...rest } = o;
    const r = await run([PYTHON, join(HERE, "client.py"), JSON.stringify({ ...rest, dataFile })], {
      timeoutMs: ((o.timeout ?? 10) + 20) * 1000,
    });
    const line = r.stdout.trim().split("\n").pop() ?? "";
    if (r.code !== 0 || !line.startsWith("{")) throw new Error(`client.py failed (${r.code}): ${r.stderr || r.stdout}`);
    return JSON.parse(line) as SmtplibResult;
  } finally {
    await removeDir(dir);
  }
}

/** Run swaks (Debian's) with these arguments; e.g. ["--server", `127.0.0.1:${port}`, "--to", "a@b.test"]. */
export async function swaks(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return run(["swaks", "--hide-informational", ...args], { timeoutMs });
}

export interface SmtpReply {
  code: number;
  /** Text of each line, without "250-" / "250 " and CRLF. */
  lines: string[];
  /** The reply's raw bytes as text (latin1). */
  raw: string;
}

/**
 * A raw SMTP client over one TCP connection. Bytes are read into a buffer;
 * reply() takes the next complete reply from it.
 */
export class RawSmtp {
  private buf = Buffer.alloc(0);
  private all: Buffer[] = [];
  private waiters: (() => void)[] = [];
  private ended = false;
  readonly closed: Promise<void>;
  error: Error | undefined;

  private constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.all.push(d);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on("close", () => {
        this.ended = true;
        this.wake();
        resolve();
      });
    });
    socket.on("error", (e) => {
      this.error = e;
    });
  }

  /** Connect (from `source` if given) and write `prefix` (e.g. a PROXY header) before anything else. */
  static async connect(port: number, o: { host?: string; source?: string; prefix?: string | Uint8Array; timeoutMs?: number } = {}): Promise<RawSmtp> {
    const socket = connect({ host: o.host ?? "127.0.0.1", port, localAddress: o.source });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`connect to ${port} timed out`)), o.timeoutMs ?? 5000);
      socket.once("connect", () => {
        clearTimeout(t);
        resolve();
      });
      socket.once("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    const c = new RawSmtp(socket);
    if (o.prefix !== undefined) c.write(o.prefix);
    return c;
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async more(deadline: number, what: string): Promise<void> {
    if (this.ended) throw new Error(`connection closed while waiting for ${what} (have ${JSON.stringify(this.buf.toString("latin1"))})`);
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what} (have ${JSON.stringify(this.buf.toString("latin1"))})`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** The next complete reply (multi-line aware). */
  async reply(timeoutMs = 5000): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let pos = 0;
      const lines: string[] = [];
      for (;;) {
        const nl = this.buf.indexOf("\n", pos);
        if (nl < 0) break;
        const line = this.buf.subarray(pos, nl).toString("latin1").replace(/\r$/, "");
        pos = nl + 1;
        lines.push(line);
        if (line.length < 4 || line[3] !== "-") {
          const raw = this.buf.subarray(0, pos).toString("latin1");
          this.buf = this.buf.subarray(pos);
          return { code: Number.parseInt(line.slice(0, 3), 10), lines: lines.map((l) => l.slice(4)), raw };
        }
      }
      await this.more(deadline, "a reply");
    }
  }

  write(data: string | Uint8Array): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Send `line` + CRLF and read the reply. */
  async command(line: string, timeoutMs = 5000): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.reply(timeoutMs);
  }

  /** Everything received so far. */
  received(): Buffer {
    return Buffer.concat(this.all);
  }

  /** Wait until the server closes; returns everything received. */
  async untilClosed(timeoutMs = 5000): Promise<Buffer> {
    let t: Timer | undefined;
    await Promise.race([
      this.closed,
      new Promise((_, reject) => {
        t = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    clearTimeout(t);
    return this.received();
  }

  /** True when the connection is closed by now. */
  get isClosed(): boolean {
    return this.ended;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A PROXY protocol v1 header: "PROXY TCP4 src dst sport dport\r\n". */
export function proxyV1(src: string, srcPort: number, dst: string, dstPort: number): string {
  const fam = src.includes(":") ? "TCP6" : "TCP4";
  return `PROXY ${fam} ${src} ${dst} ${srcPort} ${dstPort}\r\n`;
}

/** The 16 bytes of an IPv6 address ("::" and embedded IPv4 allowed). */
function ipv6Bytes(a: string): number[] {
  let s = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4[1].split(".").map(Number);
    s = `${s.slice(0, -v4[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  if (groups.length !== 8) throw new Error(`bad IPv6 address ${a}`);
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** A PROXY protocol v2 header (PROXY command, TCP over IPv4 or IPv6), written by hand. */
export function proxyV2(src: string, srcPort: number, dst: string, dstPort: number): Uint8Array {
  const sig = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
  const six = src.includes(":");
  const addr = (a: string) => (six ? ipv6Bytes(a) : a.split(".").map(Number));
  const len = six ? 36 : 12;
  const b = new Uint8Array(16 + len);
  b.set(sig, 0);
  b[12] = 0x21; // version 2, PROXY
  b[13] = six ? 0x21 : 0x11; // AF_INET6 / AF_INET, STREAM
  b[14] = 0;
  b[15] = len;
  const alen = six ? 16 : 4;
  b.set(addr(src), 16);
  b.set(addr(dst), 16 + alen);
  const p = 16 + 2 * alen;
  b[p] = srcPort >> 8;
  b[p + 1] = srcPort & 0xff;
  b[p + 2] = dstPort >> 8;
  b[p + 3] = dstPort & 0xff;
  return b;
}

export type ScriptStep = ["send", string] | ["reply"] | ["tls"] | ["closed"] | ["sleep", number] | ["touch", string] | ["wait_file", string];
export type ScriptResult = ["reply", number, string[]] | ["tls", string] | ["closed", number] | ["eof", string] | ["error", string];

/**
 * A raw client that follows `steps` (script_client.py beside this file):
 * what no client library sends, such as "STARTTLS\r\nRSET\r\n" in one write,
 * with a real TLS handshake on the same connection afterwards.
 */
export async function scriptedSession(o: { port: number; source?: string; cafile?: string; timeout?: number; steps: ScriptStep[] }): Promise<ScriptResult[]> {
  const r = await run([PYTHON, join(HERE, "script_client.py"), JSON.stringify(o)], { timeoutMs: ((o.timeout ?? 10) * o.steps.length + 20) * 1000 });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  if (r.code !== 0 || !line.startsWith("[")) throw new Error(`script_client.py failed (${r.code}): ${r.stderr || r.stdout}`);
  return JSON.parse(line) as ScriptResult[];
}
