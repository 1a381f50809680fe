/** Helpers for tests that spawn plb helper processes. */
import { readFileSync, readdirSync } from "node:fs";

export const BUN = process.execPath;

/** Reads a child's stdout as JSON lines, one at a time. */
export class JsonLines {
  private readonly read: () => Promise<{ value?: Uint8Array; done: boolean }>;
  private readonly decoder = new TextDecoder();
  private text = "";

  constructor(stdout: ReadableStream<Uint8Array>) {
    const reader = stdout.getReader();
    this.read = () => reader.read();
  }

  /** The next line, parsed (rejects on timeout or end of output). */
  async next<T = Record<string, unknown>>(timeoutMs = 10_000): Promise<T> {
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no line within ${timeoutMs} ms (got ${JSON.stringify(this.text)})`)), timeoutMs);
    });
    try {
      while (!this.text.includes("\n")) {
        const { value, done } = await Promise.race([this.read(), timeout]);
        if (done) throw new Error(`output ended before a line (got ${JSON.stringify(this.text)})`);
        this.text += this.decoder.decode(value, { stream: true });
      }
    } finally {
      clearTimeout(timer);
    }
    const end = this.text.indexOf("\n");
    const line = this.text.slice(0, end);
    this.text = this.text.slice(end + 1);
    return JSON.parse(line) as T;
  }
}

/** `Name:\tvalue` fields of /proc/<pid>/status for every thread of `pid`. */
export function threadStatus(pid: number): Record<string, string>[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const fields: Record<string, string> = {};
    for (const line of readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8").split("\n")) {
      const at = line.indexOf(":");
      if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1).trim();
    }
    return fields;
  });
}

/** Sends `text` over TCP and resolves with what comes back first. */
export async function echoOnce(hostname: string, port: number, text: string): Promise<string> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  const timer = setTimeout(() => reject(new Error("echo timeout")), 5000);
  await Bun.connect({
    hostname,
    port,
    socket: {
      open(socket) {
        socket.write(text);
      },
      data(socket, data) {
        clearTimeout(timer);
        resolve(data.toString());
        socket.end();
      },
      connectError(_socket, err) {
        clearTimeout(timer);
        reject(err);
      },
    },
  }).catch(reject);
  return promise;
}

/** Whether something accepts TCP connections on hostname:port. */
export async function accepts(hostname: string, port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname, port, socket: { data() {}, connectError() {} } });
    socket.end();
    return true;
  } catch {
    return false;
  }
}
