/**
 * The DNS transport: one nameserver asked for one name, over UDP from a
 * fresh socket (fresh random port and ids), then over TCP (RFC 7766) when a
 * reply is truncated. Replies are accepted only from the server asked, with
 * the id and question sent. The resolver (resolve.ts) decides whom to ask
 * and caches; this module only exchanges messages.
 */
import { isIP } from "node:net";
import { PlbError } from "../errors.ts";
import { concatBytes } from "./bytes.ts";
import { decodeResponse, encodeQuery, RCODE_NAMES } from "./dns-message.ts";
import type { DnsResponse, QueryType } from "./dns-message.ts";
import { canonicalIPv6 } from "./ipv6.ts";

/** A nameserver: canonical address, port, and how messages name it. */
export interface Nameserver {
  host: string;
  port: number;
  label: string;
}

/** A reply, or why none came. */
type Reply = DnsResponse | { failed: string };

/** What one name got from DNS; `fail` means "ask elsewhere", the others are answers. */
export type Outcome =
  | { kind: "ok"; replies: DnsResponse[] }
  | { kind: "nxdomain" }
  | { kind: "nodata" }
  | { kind: "fail"; reason: string };

/**
 * Ask one nameserver for every type of `name` in parallel (A and AAAA, or
 * SRV), over UDP, then TCP for a truncated reply; combine the replies.
 * `partial`: keep a truncated reply's records when TCP gives none.
 */
export async function queryServer(server: Nameserver, name: string, types: QueryType[], partial: boolean, timeoutMs: number): Promise<Outcome> {
  let replies: Reply[];
  try {
    replies = await udpExchange(server, name, types, timeoutMs);
    replies = await Promise.all(
      replies.map(async (r, i) => {
        if (!("truncated" in r) || !r.truncated) return r;
        const full = await tcpExchange(server, name, types[i]!, timeoutMs);
        // No TCP answer: the records that fit in the truncated reply are still good (for one address).
        return "failed" in full && partial && r.answers.length > 0 ? r : full;
      }),
    );
  } catch (err) {
    return { kind: "fail", reason: `${server.label}: ${message(err)}` };
  }
  const good = replies.filter((r): r is DnsResponse => "rcode" in r);
  if (good.some((r) => r.rcode === 3)) return { kind: "nxdomain" };
  const answered = good.filter((r) => r.rcode === 0);
  if (answered.some((r) => r.answers.length + r.srv.length > 0)) return { kind: "ok", replies: answered };
  if (good.length === replies.length && good.every((r) => r.rcode === 0)) return { kind: "nodata" };
  const bad = replies.find((r) => !("rcode" in r) || r.rcode !== 0)!;
  const why = "failed" in bad ? bad.failed : (RCODE_NAMES[bad.rcode] ?? `rcode ${bad.rcode}`);
  return { kind: "fail", reason: `${server.label}: ${why}` };
}

/** Send one query per type from a fresh socket (fresh random port); close it when done. */
async function udpExchange(server: Nameserver, name: string, types: QueryType[], timeoutMs: number): Promise<Reply[]> {
  const queries = types.map((type) => ({ type, id: randomId(), reply: undefined as Reply | undefined }));
  let done = (): void => {};
  const finished = new Promise<void>((res) => (done = res));
  let failure: string | undefined;
  const v6 = isIP(server.host) === 6;
  const sock = await Bun.udpSocket({
    hostname: v6 ? "::" : "0.0.0.0",
    binaryType: "uint8array",
    socket: {
      data(_s, buf, port, address) {
        if (port !== server.port || !sameAddress(address, server.host)) return;
        const msg = decodeResponse(buf);
        if ("error" in msg) return;
        const q = queries.find((x) => x.id === msg.id && x.reply === undefined);
        if (q === undefined || !answersQuestion(msg, name, q.type)) return;
        q.reply = msg;
        if (queries.every((x) => x.reply !== undefined)) done();
      },
      // ICMP errors (port unreachable…) land here; unhandled, Bun throws them uncaught.
      // Bun 1.4.5 passes only the error, not (socket, error) as its types say: accept both.
      error(a: unknown, b?: unknown) {
        failure ??= message(b instanceof Error ? b : a);
        done();
      },
    },
  });
  const timer = setTimeout(done, timeoutMs);
  try {
    for (const q of queries) sock.send(encodeQuery(q.id, name, q.type), server.port, server.host);
    await finished;
  } finally {
    clearTimeout(timer);
    sock.close();
  }
  return queries.map((q) => q.reply ?? { failed: failure ?? `timed out after ${timeoutMs} ms` });
}

/** RFC 1035 §4.2.2 / RFC 7766: the same query over TCP with a 2-byte length prefix. */
function tcpExchange(server: Nameserver, name: string, type: QueryType, timeoutMs: number): Promise<Reply> {
  const id = randomId();
  const query = encodeQuery(id, name, type);
  const framed = new Uint8Array([query.length >>> 8, query.length & 0xff, ...query]);
  return new Promise<Reply>((resolve) => {
    let buf: Uint8Array = new Uint8Array(0);
    let socket: { end(): void } | undefined;
    let settled = false;
    const finish = (r: Reply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ failed: `TCP timed out after ${timeoutMs} ms` }), timeoutMs);
    Bun.connect({
      hostname: server.host,
      port: server.port,
      socket: {
        open(s) {
          socket = s;
          s.write(framed);
        },
        data(_s, chunk) {
          buf = concatBytes([buf, chunk]); // a copy (at most 2 + 65,535 bytes in all)
          if (buf.length < 2) return;
          const len = (buf[0]! << 8) | buf[1]!;
          if (buf.length < 2 + len) return;
          const msg = decodeResponse(buf.subarray(2, 2 + len));
          if ("error" in msg) finish({ failed: `bad TCP reply: ${msg.error}` });
          else if (msg.id !== id || !answersQuestion(msg, name, type)) finish({ failed: "mismatched TCP reply" });
          else finish(msg);
        },
        close() {
          finish({ failed: "TCP connection closed before a reply" });
        },
        error(a: unknown, b?: unknown) {
          finish({ failed: `TCP: ${message(b instanceof Error ? b : a)}` });
        },
      },
    }).catch((err: unknown) => finish({ failed: `TCP: ${message(err)}` }));
  });
}

function answersQuestion(msg: DnsResponse, name: string, type: QueryType): boolean {
  return msg.question !== undefined && msg.question.name === name && msg.question.type === type;
}

/** "1.2.3.4", "1.2.3.4:5353", "::1", "[::1]:5353" (zone ids kept): throws PlbError CONFIG_INVALID otherwise. */
export function parseNameserverSpec(spec: string): Nameserver {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  const withPort = /^([^:]+):(\d+)$/.exec(spec);
  const [raw, port] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : withPort && isIP(withPort[1]!) === 4
      ? [withPort[1]!, withPort[2]]
      : [spec, undefined];
  const p = port === undefined ? 53 : Number(port);
  const host = isIP(raw) === 6 ? canonicalIPv6(raw) : raw;
  if (isIP(raw) === 0 || !(p > 0 && p < 65536)) {
    throw new PlbError("CONFIG_INVALID", `invalid nameserver "${spec}": expected an IP address with an optional port`);
  }
  return { host, port: p, label: isIP(host) === 6 ? `[${host}]:${p}` : `${host}:${p}` };
}

/** Source address check; `server` is canonical (see parseNameserverSpec), as are the addresses Bun reports. */
function sameAddress(from: string, server: string): boolean {
  return from.replace(/^::ffff:(?=\d+\.)/i, "").replace(/%.*$/, "") === server.replace(/%.*$/, "");
}

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0]!;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
